import { Command } from '@nestjs/cqrs';
import type { UploadedInput } from '../jobs/job.commands';
import type { CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';
import type { RunTrigger } from './run.events';

export interface RunRequestInput {
  args: string[];
  env: Record<string, string>;
  files: UploadedInput[];
  /** ISO time to start at; mutually exclusive with delaySeconds. */
  at?: string;
  delaySeconds?: number;
  /** Set when a recurring schedule requests the run (the context's actor is then `schedule`). */
  trigger?: RunTrigger;
}

/** Starts a job now or later. `jobId` is resolved already. */
export class RequestRunCommand extends Command<CommandOutcome> {
  constructor(
    readonly jobId: string,
    readonly input: RunRequestInput,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** A control action on an existing run: cancel, pause, resume, or re-time. */
export type RunControlAction =
  | { type: 'cancel' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'reschedule'; at?: string; delaySeconds?: number };

export class ControlRunCommand extends Command<CommandOutcome> {
  constructor(
    readonly runId: string,
    readonly action: RunControlAction,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** A new run with exactly the inputs of run `runId` (its `RunRequested` snapshot), requested by the context's actor. */
export class RerunRunCommand extends Command<CommandOutcome> {
  constructor(
    readonly runId: string,
    readonly context: CommandContext,
  ) {
    super();
  }
}
