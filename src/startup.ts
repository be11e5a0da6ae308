import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KeyService } from './auth/key-service';
import { AppConfig } from './config/app-config';
import { writeRunnerId } from './config/runner-identity';
import { EventStore } from './event-store/event-store.port';
import { ProjectionEngine } from './projections/projection-engine';
import { RunRecovery } from './runs/execution/run-recovery';
import { RunnerLostWatch } from './runs/remote/runner-lost';
import { RunScheduler } from './runs/execution/run-scheduler';
import { RunnerPresence } from './runners/runner-presence';
import { OutputRetention } from './runs/retention/output-retention';
import { ScheduleTicker } from './schedules/schedule-ticker';

/**
 * Brings the server up in an order that matters: a newly generated runner id kept
 * in the data dir before anything can be claimed with it, read models caught up with
 * the whole log first, then the key, then recovery of runs cut short by the
 * last stop, and only then the scheduler starts new runs and recurring
 * schedules fire (one firing for whatever came due while the server was down), and
 * output retention sweeps.
 * A graceful stop of running runs happens before this class's shutdown (see
 * RunShutdown), so the log is still open to record how each ended.
 */
@Injectable()
export class Startup implements OnApplicationBootstrap, OnApplicationShutdown {
  /** How many runs recovery ended as `lost` at this start (for the start-up line). */
  lostAtStart = 0;
  /**
   * The server is stopping. A signal during the start does not wait for it (Nest's
   * application runs its shutdown hooks at once): the engine's close ends a build (its
   * file is derived, and the next start builds again), and the steps after it are not
   * taken on a log that is being closed.
   */
  stopping = false;

  constructor(
    private readonly projections: ProjectionEngine,
    private readonly keys: KeyService,
    private readonly recovery: RunRecovery,
    private readonly scheduler: RunScheduler,
    private readonly schedules: ScheduleTicker,
    private readonly store: EventStore,
    private readonly config: AppConfig,
    private readonly retention: OutputRetention,
    private readonly presence: RunnerPresence,
    private readonly lostWatch: RunnerLostWatch,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.runnerIdFile !== null) writeRunnerId(this.config.runnerIdFile, this.config.runnerId);
    await this.projections.start();
    if (this.stopping) return;
    await this.keys.start();
    // Stopped on an event a projection cannot apply: health and every read answer 503 with
    // why. Recovery, the scheduler and retention would act on a view that lacks that event.
    if (this.projections.stoppedBecause || this.stopping) return;
    this.lostAtStart = await this.recovery.recover();
    if (this.stopping) return;
    // After recovery: the local runner says it is online once its leftovers are settled.
    await this.presence.start();
    // Job servers' runs: their silence is judged on the caught-up view, after recovery settled this runner's own.
    this.lostWatch.start();
    this.scheduler.start();
    this.schedules.start();
    // After recovery: runs it ended as lost count for keepRuns too.
    this.retention.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.scheduler.stop();
    this.schedules.stop();
    this.retention.onApplicationShutdown();
    await this.retention.idle();
    // Runs ended (RunShutdown came first); the log is still open for the local runner's goodbye.
    await this.presence.stop();
    await this.projections.close();
    await this.store.close();
  }
}
