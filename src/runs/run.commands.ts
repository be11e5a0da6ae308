import { Command } from '@nestjs/cqrs';
import type { UploadedInput } from '../jobs/job.commands';
import type { CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';

export interface RunRequestInput {
  args: string[];
  env: Record<string, string>;
  files: UploadedInput[];
  /** ISO time to start at; mutually exclusive with delaySeconds. */
  at?: string;
  delaySeconds?: number;
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
