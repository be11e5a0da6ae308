import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventStore, StreamConflictError } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';
import { Clock } from '../shared/clock';
import { metadataFor, type CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';
import { loadAggregate } from '../shared/decide-and-append';
import { ConflictError, NotFoundError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import { requestRunOfJob, scheduledTimeOf, type NewRunRequest } from './request-run.handler';
import { ControlRunCommand, RerunRunCommand, type RunControlAction } from './run.commands';
import { decideRun, evolveRun, initialRunState, type RunControlCommand } from './run.decider';
import { RUN_EVENT_TYPES, runStream, type RunRequested } from './run.events';
import { RunsReadModel } from './runs.read-model';

/** How often a control action is re-decided when the runner appended to the run at the same moment. */
const CONTROL_ATTEMPTS = 8;

/**
 * Records a control action on a run — cancel, pause, resume, re-time — with
 * its actor. It only records: the runner executing the run follows the log and
 * signals the processes. A run's stream is busy while it prints (the runner
 * appends output), so a lost race is simply decided again on the newer state.
 */
@CommandHandler(ControlRunCommand)
export class ControlRunHandler implements ICommandHandler<ControlRunCommand> {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly projections: ProjectionEngine,
  ) {}

  async execute({ runId, action, context }: ControlRunCommand): Promise<CommandOutcome> {
    const command = controlCommandFor(runId, action, context, this.clock.now());
    for (let attempt = 0; attempt < CONTROL_ATTEMPTS; attempt++) {
      const loaded = await loadAggregate(this.store, runStream(runId), { initial: initialRunState, evolve: evolveRun }, RUN_EVENT_TYPES);
      if (loaded.revision === null) throw new NotFoundError(`No run "${runId}" exists`);
      const events = decideRun(command, loaded.state);
      if (events.length === 0) return { id: runId, position: null };
      const metadata = metadataFor(context, this.clock.now());
      try {
        const result = await this.store.append(
          runStream(runId),
          events.map((event) => ({ id: this.ids.newEventId(), type: event.type, data: event.data, metadata })),
          loaded.revision,
        );
        await this.projections.waitFor(result.position);
        return { id: runId, position: result.position };
      } catch (error) {
        if (!(error instanceof StreamConflictError)) throw error;
      }
    }
    throw new ConflictError(`Run ${runId} kept changing while your ${action.type} was recorded: try again`);
  }
}

/** The decider command for an API action; a re-time reads `at`/`delaySeconds` like a new run does. */
export function controlCommandFor(runId: string, action: RunControlAction, context: CommandContext, now: Date): RunControlCommand {
  switch (action.type) {
    case 'cancel':
      return { type: 'CancelRun', runId, actor: context.actor };
    case 'pause':
      return { type: 'PauseRun', runId };
    case 'resume':
      return { type: 'ResumeRun', runId };
    case 'reschedule':
      return { type: 'RescheduleRun', runId, scheduledFor: scheduledTimeOf(action, now) };
  }
}

/**
 * What a re-run requests: exactly the inputs of the original (its snapshot and
 * the extras given with it), under the job's current name, starting now, on the
 * runners the job names now (`runsOn`: where it may go is not one of its inputs).
 */
export function rerunRequestOf(original: RunRequested['data'], currentJobName: string, currentRunsOn: string[]): NewRunRequest {
  return {
    jobId: original.jobId,
    jobName: currentJobName,
    snapshot: original.snapshot,
    extra: original.extra,
    scheduledFor: null,
    rerunOf: original.runId,
    trigger: null,
    runsOn: currentRunsOn,
  };
}

/** A re-run ("rebuild"): the original's `RunRequested` is read from the log itself, never from a read model. */
@CommandHandler(RerunRunCommand)
export class RerunRunHandler implements ICommandHandler<RerunRunCommand> {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly runs: RunsReadModel,
    private readonly projections: ProjectionEngine,
  ) {}

  async execute({ runId, context }: RerunRunCommand): Promise<CommandOutcome> {
    const [first] = await this.store.readStream(runStream(runId), { maxCount: 1 });
    if (!first || first.type !== 'RunRequested') throw new NotFoundError(`No run "${runId}" exists`);
    const original = first.data as RunRequested['data'];
    const deps = { store: this.store, clock: this.clock, ids: this.ids, runs: this.runs, projections: this.projections };
    // Admitted by the job like any request, so a job removed at the same moment never runs it.
    return requestRunOfJob(
      deps,
      original.jobId,
      async ({ state: job }) => {
        if (job.status !== 'active') {
          throw new ConflictError(`Job "${job.status === 'removed' ? job.name : original.jobName}" was removed: its runs cannot be re-run`);
        }
        return rerunRequestOf(original, job.name, job.runsOn);
      },
      context,
    );
  }
}
