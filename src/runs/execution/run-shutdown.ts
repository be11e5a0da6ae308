import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { ServerLifecycleLog } from '../../logging/server-lifecycle-log';
import { LiveOutputHub } from '../../live/live-output.hub';
import { ScheduleTicker } from '../../schedules/schedule-ticker';
import { RunExecutor } from './run-executor';
import { RunScheduler } from './run-scheduler';

/** How long the viewers of runs ended by the stop may take to get their `end` event before every stream is closed, in ms. */
const VIEWERS_SETTLE_MS = 1_000;

/**
 * A graceful stop (SIGTERM, SIGINT, or closing the app): no new run starts and
 * no schedule fires; running runs get `ENDERCOMPUTE_SHUTDOWN_GRACE_SECONDS` to
 * finish, then are cancelled, and every end is recorded before the log is
 * closed; live viewers of those runs get the `end` event before their streams close
 * (others resume on the next server). Queued and scheduled runs stay in the log and
 * run after the next start.
 * It runs before the store closes, while the HTTP server still answers.
 */
@Injectable()
export class RunShutdown implements BeforeApplicationShutdown {
  private readonly logger = new Logger(RunShutdown.name);

  constructor(
    private readonly config: AppConfig,
    private readonly scheduler: RunScheduler,
    private readonly ticker: ScheduleTicker,
    private readonly executor: RunExecutor,
    private readonly lifecycle: ServerLifecycleLog,
    private readonly live: LiveOutputHub,
  ) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    // First, while the runs still go: the line counts them.
    this.lifecycle.stopping(signal);
    this.scheduler.stop();
    this.ticker.stop();
    // Those watching keep watching through the grace; nobody new starts to.
    this.live.beginStop();
    const running = this.executor.activeCount;
    if (running > 0) {
      this.logger.warn(
        `Stopping${signal ? ` on ${signal}` : ''}: ${running} run(s) get ${this.config.shutdownGraceSeconds} s to finish, then are cancelled`,
      );
      await this.executor.shutdown(this.config.shutdownGraceSeconds * 1000);
    }
    // The runs' ends are recorded: their viewers get them, then every stream ends so the HTTP server can close.
    await this.live.endViewers(VIEWERS_SETTLE_MS);
  }
}
