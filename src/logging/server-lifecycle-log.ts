import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { AppConfig } from '../config/app-config';
import { RunsReadModel } from '../runs/runs.read-model';
import { RootLogger } from './root-logger.provider';

/**
 * The shutdown lines: when the server begins to stop (and with how many of its runs
 * still going), and when it has. The first is written by `RunShutdown` before it stops
 * the runs: Nest calls the providers' `beforeApplicationShutdown` deepest first, so a
 * hook of this class's own would come after the runs' grace period, counting runs
 * already ended.
 */
@Injectable()
export class ServerLifecycleLog implements OnApplicationShutdown {
  private readonly log: Logger;

  constructor(
    root: RootLogger,
    private readonly runs: RunsReadModel,
    private readonly config: AppConfig,
  ) {
    this.log = root.logger.child({ context: 'Server' });
  }

  /** The server begins to stop (`signal`: what stopped it, if a signal did). */
  stopping(signal?: string): void {
    // Stopped during the start, before the read models were opened: nothing of this server runs yet.
    const executing = this.runs.isOpen ? this.runs.executingRuns(this.config.runnerId).length : 0;
    this.log.info({ event: 'server stopping', signal: signal ?? null, runsExecuting: executing }, `Stopping${signal ? ` on ${signal}` : ''}; ${executing} run(s) of this server still going`);
  }

  onApplicationShutdown(signal?: string): void {
    this.log.info({ event: 'server stopped', signal: signal ?? null }, 'Stopped');
  }
}
