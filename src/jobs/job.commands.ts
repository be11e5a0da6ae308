import { Command } from '@nestjs/cqrs';
import type { CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';
import type { JobDefinition } from './job.events';

/** `scriptId` may be the template's id or name: the handler resolves it. */
export class CreateJobCommand extends Command<CommandOutcome> {
  constructor(
    readonly definition: JobDefinition,
    readonly context: CommandContext,
  ) {
    super();
  }
}

export class UpdateJobCommand extends Command<CommandOutcome> {
  constructor(
    readonly jobId: string,
    readonly changes: Partial<JobDefinition>,
    readonly expectedVersion: bigint | undefined,
    readonly context: CommandContext,
  ) {
    super();
  }
}

export class RemoveJobCommand extends Command<CommandOutcome> {
  constructor(
    readonly jobId: string,
    readonly expectedVersion: bigint | undefined,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** An uploaded input file, spooled to disk while the request was read (see `http/upload-spool.ts`). */
export interface UploadedInput {
  name: string;
  /** The spool file holding its bytes; removed when the request is over. */
  path: string;
  size: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
}

export class AttachJobFilesCommand extends Command<CommandOutcome> {
  constructor(
    readonly jobId: string,
    readonly files: UploadedInput[],
    readonly context: CommandContext,
  ) {
    super();
  }
}

export class RemoveJobFileCommand extends Command<CommandOutcome> {
  constructor(
    readonly jobId: string,
    readonly name: string,
    readonly context: CommandContext,
  ) {
    super();
  }
}
