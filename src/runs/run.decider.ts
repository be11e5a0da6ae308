import { ConflictError, NotFoundError, ValidationError } from '../shared/domain-errors';
import { assertNever } from '../shared/exhaustive';
import type { FinishedStatus, OutputStream, RunEvent, RunRequested } from './run.events';

/**
 * The run aggregate as a pure decider. It keeps what decisions need (phase,
 * claim, output length) and never the output bytes themselves, so the runner
 * can keep it in memory while it appends output batch after batch.
 */
export type RunPhase = 'absent' | 'waiting' | 'claimed' | 'running' | 'finished';

export interface RunState {
  phase: RunPhase;
  runId: string;
  jobName: string;
  number: number;
  scheduledFor: string | null;
  runner: string | null;
  outputBytes: number;
  finishedStatus: FinishedStatus | null;
}

export const initialRunState: RunState = {
  phase: 'absent',
  runId: '',
  jobName: '',
  number: 0,
  scheduledFor: null,
  runner: null,
  outputBytes: 0,
  finishedStatus: null,
};

export type RunCommand =
  | ({ type: 'RequestRun' } & RunRequested['data'])
  | { type: 'ClaimRun'; runId: string; runner: string; workdir: string; now: string }
  | { type: 'StartRun'; runId: string; runner: string; pid: number; processStartTicks: string | null; workdir: string }
  | { type: 'AppendOutput'; runId: string; offset: number; data: string; pieces: Array<{ stream: OutputStream; length: number }> }
  | {
      type: 'FinishRun';
      runId: string;
      status: FinishedStatus;
      exitCode: number | null;
      signal: string | null;
      droppedBytes: number;
      reason: string | null;
    };

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
      };
    case 'RunClaimed':
      return { ...state, phase: 'claimed', runner: event.data.runner };
    case 'RunStarted':
      return { ...state, phase: 'running' };
    case 'RunOutputAppended':
      return { ...state, outputBytes: event.data.offset + Buffer.byteLength(event.data.data, 'base64') };
    case 'RunFinished':
      return { ...state, phase: 'finished', finishedStatus: event.data.status, outputBytes: event.data.outputBytes };
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
      return [{ type: 'RunClaimed', data: { runId: command.runId, runner: command.runner, workdir: command.workdir } }];
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
      if (state.phase !== 'running') throw new ConflictError(`${label(state)} is ${describePhase(state)}: it takes no output`);
      // Batches arrive strictly in order; a gap or an overlap would corrupt the stored output.
      if (command.offset !== state.outputBytes) {
        throw new ConflictError(`${label(state)} has ${state.outputBytes} bytes of output, not ${command.offset}`);
      }
      const length = Buffer.byteLength(command.data, 'base64');
      const pieceTotal = command.pieces.reduce((sum, piece) => sum + piece.length, 0);
      if (pieceTotal !== length) throw new ValidationError([`pieces add up to ${pieceTotal} bytes, the batch has ${length}`]);
      const { type: _type, ...data } = command;
      return [{ type: 'RunOutputAppended', data }];
    }
    case 'FinishRun': {
      requireExisting(state, command.runId);
      if (state.phase === 'finished') throw new ConflictError(`${label(state)} has already finished (${state.finishedStatus})`);
      // A run that never started cannot have succeeded or timed out.
      if (state.phase === 'waiting' && (command.status === 'succeeded' || command.status === 'timed_out')) {
        throw new ConflictError(`${label(state)} never started: it cannot end as ${command.status}`);
      }
      const { type: _type, ...rest } = command;
      return [{ type: 'RunFinished', data: { ...rest, outputBytes: state.outputBytes } }];
    }
    default:
      return assertNever(command, 'run command');
  }
}

function requireExisting(state: RunState, runId: string): void {
  if (state.phase === 'absent') throw new NotFoundError(`Run ${runId} does not exist`);
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
      return 'running';
    case 'finished':
      return `finished (${state.finishedStatus})`;
    default:
      return assertNever(state.phase, 'run phase');
  }
}
