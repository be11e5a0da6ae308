import { ConflictError, NotFoundError, ValidationError } from '../shared/domain-errors';
import { assertNever } from '../shared/exhaustive';
import { storedOutputLength, type EncodedOutput } from './output-encoding';
import { canTake } from '../runners/placement';
import type { FinishedStatus, OutputExpiryRule, RunEvent, RunRequested } from './run.events';

/**
 * The run aggregate as a pure decider. It keeps what decisions need (phase,
 * claim, output length, whether a cancel was asked for) and never the output
 * bytes themselves, so the runner can keep it in memory while it appends
 * output batch after batch.
 *
 * Control actions (cancel, pause, resume, re-time) are decided here and only
 * recorded; the runner executing the run follows the log and acts on them.
 */
export type RunPhase = 'absent' | 'waiting' | 'claimed' | 'running' | 'paused' | 'finished';

export interface RunState {
  phase: RunPhase;
  runId: string;
  jobName: string;
  number: number;
  scheduledFor: string | null;
  runner: string | null;
  /** True when a job server claimed it (see `RunClaimed.remote`); absent for the local runner's runs, and where a state is made from the read model, which does not keep it. */
  remote?: boolean;
  /** Labels a runner must all have to claim it (see `runners/placement.ts`); empty: any runner. */
  runsOn: readonly string[];
  outputBytes: number;
  /** Someone asked to cancel it while it was claimed, running or paused; the runner is stopping it. */
  cancelRequested: boolean;
  finishedStatus: FinishedStatus | null;
  /** Set once retention expired its output (which rule). */
  outputExpiredBy: OutputExpiryRule | null;
}

export const initialRunState: RunState = {
  phase: 'absent',
  runId: '',
  jobName: '',
  number: 0,
  scheduledFor: null,
  runner: null,
  runsOn: [],
  outputBytes: 0,
  cancelRequested: false,
  finishedStatus: null,
  outputExpiredBy: null,
};

/** The commands a person can give about an existing run (the API's control actions). */
export type RunControlCommand =
  | { type: 'CancelRun'; runId: string; /** Who cancels: named in the reason of a run cancelled before it started. */ actor: string }
  | { type: 'PauseRun'; runId: string }
  | { type: 'ResumeRun'; runId: string }
  | { type: 'RescheduleRun'; runId: string; scheduledFor: string | null };

export type RunCommand =
  | ({ type: 'RequestRun' } & RunRequested['data'])
  | {
      type: 'ClaimRun';
      runId: string;
      runner: string;
      /** The claiming runner's labels: it must have every label of the run's `runsOn`. */
      runnerLabels: readonly string[];
      workdir: string;
      now: string;
      /** A job server claims it (the runner protocol). */
      remote?: boolean;
    }
  | { type: 'StartRun'; runId: string; runner: string; pid: number; processStartTicks: string | null; workdir: string }
  | ({ type: 'AppendOutput'; runId: string; offset: number } & EncodedOutput)
  | RunControlCommand
  | { type: 'ExpireOutput'; runId: string; by: OutputExpiryRule }
  | {
      type: 'FinishRun';
      runId: string;
      status: FinishedStatus;
      exitCode: number | null;
      signal: string | null;
      droppedBytes: number;
      reason: string | null;
      /** Only a run claimed and not started yet may end so: one that started meanwhile is a conflict (a job server's goodbye). */
      unlessStarted?: boolean;
    };

/**
 * The command that ends a run `lost` for `reason`: no exit code, no signal, nothing dropped.
 * Recorded without the run's process (the lost rule, a revocation, recovery, a job server's
 * goodbye); `unlessStarted`: only while it waits for its runner to start it.
 */
export function endLost(runId: string, reason: string, options: { unlessStarted?: boolean } = {}): Extract<RunCommand, { type: 'FinishRun' }> {
  return { type: 'FinishRun', runId, status: 'lost', exitCode: null, signal: null, droppedBytes: 0, reason, ...(options.unlessStarted === true ? { unlessStarted: true } : {}) };
}

export function evolveRun(state: RunState, event: RunEvent): RunState {
  switch (event.type) {
    case 'RunRequested':
      return {
        ...initialRunState,
        phase: 'waiting',
        runId: event.data.runId,
        jobName: event.data.jobName,
        number: event.data.number,
        scheduledFor: event.data.scheduledFor,
        runsOn: event.data.runsOn ?? [],
      };
    case 'RunClaimed':
      return { ...state, phase: 'claimed', runner: event.data.runner, ...(event.data.remote === true ? { remote: true } : {}) };
    case 'RunStarted':
      return { ...state, phase: 'running' };
    case 'RunOutputAppended':
      return { ...state, outputBytes: event.data.offset + storedOutputLength(event.data) };
    case 'RunCancelRequested':
      // Cancelling continues a paused run's processes (SIGCONT after SIGTERM) so that they can end.
      return { ...state, cancelRequested: true, phase: state.phase === 'paused' ? 'running' : state.phase };
    case 'RunPaused':
      return state.phase === 'running' ? { ...state, phase: 'paused' } : state;
    case 'RunResumed':
      return state.phase === 'paused' ? { ...state, phase: 'running' } : state;
    case 'RunRescheduled':
      return { ...state, scheduledFor: event.data.scheduledFor };
    case 'RunFinished':
      return { ...state, phase: 'finished', finishedStatus: event.data.status, outputBytes: event.data.outputBytes };
    case 'RunOutputExpired':
      return { ...state, outputExpiredBy: event.data.by };
    default:
      return assertNever(event, 'run event');
  }
}

export function decideRun(command: RunCommand, state: RunState): RunEvent[] {
  switch (command.type) {
    case 'RequestRun': {
      if (state.phase !== 'absent') throw new ConflictError(`Run ${command.runId} already exists`);
      const { type: _type, ...data } = command;
      return [{ type: 'RunRequested', data }];
    }
    case 'ClaimRun': {
      requireExisting(state, command.runId);
      if (state.phase !== 'waiting') throw new ConflictError(`${label(state)} is ${describePhase(state)}: it cannot be started again`);
      if (state.scheduledFor !== null && state.scheduledFor > command.now) {
        throw new ConflictError(`${label(state)} is scheduled for ${state.scheduledFor}`);
      }
      if (!canTake(command.runnerLabels, state.runsOn)) {
        const has = command.runnerLabels.length > 0 ? `has ${command.runnerLabels.join(', ')}` : 'has no labels';
        throw new ConflictError(`${label(state)} runs on a runner with labels ${state.runsOn.join(', ')}: runner ${command.runner} ${has}`);
      }
      const data: Extract<RunEvent, { type: 'RunClaimed' }>['data'] = { runId: command.runId, runner: command.runner, workdir: command.workdir };
      if (command.remote === true) data.remote = true;
      return [{ type: 'RunClaimed', data }];
    }
    case 'StartRun': {
      requireExisting(state, command.runId);
      if (state.phase !== 'claimed' || state.runner !== command.runner) {
        throw new ConflictError(`${label(state)} was not claimed by runner ${command.runner}`);
      }
      const { type: _type, ...data } = command;
      return [{ type: 'RunStarted', data }];
    }
    case 'AppendOutput': {
      requireExisting(state, command.runId);
      // A paused run's last bytes (written before SIGSTOP) may still be on their way.
      if (state.phase !== 'running' && state.phase !== 'paused') throw new ConflictError(`${label(state)} is ${describePhase(state)}: it takes no output`);
      // Batches arrive strictly in order; a gap or an overlap would corrupt the stored output.
      if (command.offset !== state.outputBytes) {
        throw new ConflictError(`${label(state)} has ${state.outputBytes} bytes of output, not ${command.offset}`);
      }
      if (!Number.isSafeInteger(command.length) || command.length < 0 || !Number.isSafeInteger(command.lines) || command.lines < 0 || command.lines > command.length) {
        throw new ValidationError([`a batch needs a byte length and a newline count, got ${command.length} and ${command.lines}`]);
      }
      if (command.encoding === 'none' && Buffer.byteLength(command.data, 'base64') !== command.length) {
        throw new ValidationError([`the batch holds ${Buffer.byteLength(command.data, 'base64')} bytes, not the ${command.length} it says`]);
      }
      const { type: _type, ...data } = command;
      return [{ type: 'RunOutputAppended', data }];
    }
    case 'CancelRun': {
      requireExisting(state, command.runId);
      refuseFinished(state, 'cancelled');
      // Asked twice: the first request is being carried out; nothing new to record.
      if (state.cancelRequested) return [];
      const requested: RunEvent = { type: 'RunCancelRequested', data: { runId: command.runId } };
      if (state.phase !== 'waiting') return [requested];
      // Nothing runs yet: dequeued and finished in the same append, so no runner can claim it in between.
      const finished: RunEvent = {
        type: 'RunFinished',
        data: {
          runId: command.runId,
          status: 'cancelled',
          exitCode: null,
          signal: null,
          outputBytes: 0,
          droppedBytes: 0,
          reason: `Cancelled by ${command.actor} before it started`,
        },
      };
      return [requested, finished];
    }
    case 'PauseRun': {
      requireExisting(state, command.runId);
      refuseFinished(state, 'paused');
      if (state.cancelRequested) throw new ConflictError(`${label(state)} is being cancelled: it cannot be paused`);
      if (state.phase === 'paused') return [];
      if (state.phase !== 'running') throw new ConflictError(`${label(state)} is ${describePhase(state)}: only a running run can be paused`);
      return [{ type: 'RunPaused', data: { runId: command.runId } }];
    }
    case 'ResumeRun': {
      requireExisting(state, command.runId);
      refuseFinished(state, 'resumed');
      if (state.phase === 'running') return [];
      if (state.phase !== 'paused') throw new ConflictError(`${label(state)} is ${describePhase(state)}: only a paused run can be resumed`);
      return [{ type: 'RunResumed', data: { runId: command.runId } }];
    }
    case 'RescheduleRun': {
      requireExisting(state, command.runId);
      refuseFinished(state, 're-timed');
      if (state.phase !== 'waiting') throw new ConflictError(`${label(state)} is ${describePhase(state)}: only a queued or scheduled run can be re-timed`);
      if (state.scheduledFor === command.scheduledFor) return [];
      return [{ type: 'RunRescheduled', data: { runId: command.runId, scheduledFor: command.scheduledFor } }];
    }
    case 'ExpireOutput': {
      requireExisting(state, command.runId);
      // Only a finished run's output expires: a queued or running run's is still being written or read.
      if (state.phase !== 'finished') throw new ConflictError(`${label(state)} is ${describePhase(state)}: only a finished run's output expires`);
      // Expired once, by whichever rule came first; a second sweep records nothing.
      if (state.outputExpiredBy !== null) return [];
      return [{ type: 'RunOutputExpired', data: { runId: command.runId, by: command.by } }];
    }
    case 'FinishRun': {
      requireExisting(state, command.runId);
      if (state.phase === 'finished') throw new ConflictError(`${label(state)} has already finished (${state.finishedStatus})`);
      if (command.unlessStarted === true && state.phase !== 'claimed') throw new ConflictError(`${label(state)} is not waiting to be started by its runner`);
      // A run that never started cannot have succeeded or timed out.
      if (state.phase === 'waiting' && (command.status === 'succeeded' || command.status === 'timed_out')) {
        throw new ConflictError(`${label(state)} never started: it cannot end as ${command.status}`);
      }
      const { type: _type, unlessStarted: _unlessStarted, ...rest } = command;
      return [{ type: 'RunFinished', data: { ...rest, outputBytes: state.outputBytes } }];
    }
    default:
      return assertNever(command, 'run command');
  }
}

function requireExisting(state: RunState, runId: string): void {
  if (state.phase === 'absent') throw new NotFoundError(`Run ${runId} does not exist`);
}

function refuseFinished(state: RunState, verb: string): void {
  if (state.phase === 'finished') throw new ConflictError(`${label(state)} has already finished (${state.finishedStatus}): it cannot be ${verb}`);
}

function label(state: RunState): string {
  return `Run ${state.jobName} #${state.number}`;
}

function describePhase(state: RunState): string {
  switch (state.phase) {
    case 'absent':
      return 'unknown';
    case 'waiting':
      return 'waiting to start';
    case 'claimed':
      return 'starting';
    case 'running':
      return state.cancelRequested ? 'being cancelled' : 'running';
    case 'paused':
      return 'paused';
    case 'finished':
      return `finished (${state.finishedStatus})`;
    default:
      return assertNever(state.phase, 'run phase');
  }
}
