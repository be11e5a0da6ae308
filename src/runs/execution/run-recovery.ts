import { existsSync } from 'node:fs';
import { Injectable, Logger } from '@nestjs/common';
import { RunArtifacts } from '../../artifacts/run-artifacts';
import { AppConfig } from '../../config/app-config';
import { EventStore } from '../../event-store/event-store.port';
import { ProjectionEngine } from '../../projections/projection-engine';
import { Clock } from '../../shared/clock';
import { ConflictError } from '../../shared/domain-errors';
import { IdGenerator } from '../../shared/ids';
import { RunsReadModel, type RunRecord } from '../runs.read-model';
import { findProcessesByEnvironment, isSameProcessAlive, killProcessGroup, readProcessStat } from '../runner/process-group';
import { RUN_ID_VARIABLE } from '../runner/run-environment';
import { RunExecutor } from './run-executor';
import { RunWriter } from './run-writer';
import { endLost } from '../run.decider';
import { WorkdirRetention } from './workdir-retention';

/**
 * At start, before any new run starts: every run the log says this runner was
 * executing (claimed, running or paused) is one whose server died (it is not in
 * this process). Its processes, if any survived, are killed — found by the
 * recorded pid with its start time (a reused pid is left alone) and by the run
 * id in their environment; SIGKILL ends stopped processes too — and the run
 * ends as `lost`, saying why. Nothing stays "running" forever. Queued and
 * scheduled runs are untouched: they are in the log and simply run.
 */
@Injectable()
export class RunRecovery {
  private readonly logger = new Logger(RunRecovery.name);

  constructor(
    private readonly config: AppConfig,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly runs: RunsReadModel,
    private readonly executor: RunExecutor,
    private readonly projections: ProjectionEngine,
    private readonly workdirs: WorkdirRetention,
    private readonly artifacts: RunArtifacts,
  ) {}

  async recover(): Promise<number> {
    const orphans = this.runs.executingRuns(this.config.runnerId).filter((run) => !this.executor.isActive(run.id));
    for (const run of orphans) await this.markLost(run);
    if (orphans.length > 0) this.logger.warn(`${orphans.length} run(s) were cut short by the last stop of this server and are marked lost`);
    // The lost runs are finished in the read model now: their directories go with those a stop left behind (in the background).
    await this.workdirs.sweep();
    return orphans.length;
  }

  private async markLost(run: RunRecord): Promise<void> {
    const { killed, pidReused } = await this.killLeftovers(run);
    const context = { actor: 'system', source: 'system', correlationId: run.correlationId, causationId: run.requestEventId };
    // Its work directory survived the stop: what the run left there is kept, as after any end.
    const workdir = this.workdirs.pathOf(run);
    if (run.phase !== 'claimed' && existsSync(workdir)) await this.artifacts.keepFrom(run.id, workdir, run.snapshot.artifacts ?? [], context);
    // With where its output ends: the lost run's `RunFinished` counts the bytes stored before the stop.
    const writer = await RunWriter.load({ store: this.store, clock: this.clock, ids: this.ids }, run.id, context);
    if (writer === null) return;
    const loaded = { state: writer.current };
    const phase = loaded.state.phase;
    const reason =
      phase === 'claimed'
        ? `The server stopped while the run was starting${killed > 0 ? `; ${killed} leftover process(es) were killed` : ''}`
        : [
            `The server stopped while the run was ${phase === 'paused' ? 'paused' : loaded.state.cancelRequested ? 'being cancelled' : 'running'}`,
            killed > 0 ? `${killed} leftover process(es) were killed` : 'its process was gone',
            ...(pidReused ? [`pid ${run.pid} now belongs to another process, which was left alone`] : []),
          ].join('; ');
    try {
      const position = await writer.record(endLost(run.id, reason));
      if (position) await this.projections.waitFor(position);
    } catch (error) {
      // Finished meanwhile (another path recorded it): nothing is lost after all.
      if (!(error instanceof ConflictError)) throw error;
    }
  }

  /** Kills what is left of a run: its process group (if the pid is still that process) and anything carrying its run id. */
  private async killLeftovers(run: RunRecord): Promise<{ killed: number; pidReused: boolean }> {
    let killed = 0;
    let pidReused = false;
    if (run.pid !== null) {
      if (isSameProcessAlive(run.pid, run.processStartTicks)) {
        if (killProcessGroup(run.pid, 'SIGKILL')) killed++;
      } else {
        // Alive but started at another time: the pid was reused by an unrelated process.
        const stat = readProcessStat(run.pid);
        pidReused = stat !== null && stat.startTicks !== run.processStartTicks;
      }
    }
    for (const pid of await findProcessesByEnvironment(RUN_ID_VARIABLE, run.id)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // Already gone.
      }
    }
    return { killed, pidReused };
  }
}
