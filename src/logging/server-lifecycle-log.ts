import { type BeforeApplicationShutdown, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { AppConfig } from '../config/app-config';
import { RunsReadModel } from '../runs/runs.read-model';
import { RootLogger } from './root-logger.provider';

/** The shutdown lines: when the server begins to stop (and with how many of its runs still going), and when it has. */
@Injectable()
export class ServerLifecycleLog implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly log: Logger;

  constructor(
    root: RootLogger,
    private readonly runs: RunsReadModel,
    private readonly config: AppConfig,
  ) {
    this.log = root.logger.child({ context: 'Server' });
  }

  beforeApplicationShutdown(signal?: string): void {
    const executing = this.runs.executingRuns(this.config.runnerId).length;
    this.log.info({ event: 'server stopping', signal: signal ?? null, runsExecuting: executing }, `Stopping${signal ? ` on ${signal}` : ''}; ${executing} run(s) of this server still going`);
  }

  onApplicationShutdown(signal?: string): void {
    this.log.info({ event: 'server stopped', signal: signal ?? null }, 'Stopped');
  }
}
