import { Command } from '@nestjs/cqrs';
import type { CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';

export class CreateScriptCommand extends Command<CommandOutcome> {
  constructor(
    readonly input: { name: string; interpreter: string; body: string },
    readonly context: CommandContext,
  ) {
    super();
  }
}

export class UpdateScriptCommand extends Command<CommandOutcome> {
  constructor(
    readonly scriptId: string,
    readonly changes: { name?: string; interpreter?: string; body?: string },
    readonly expectedVersion: bigint | undefined,
    readonly context: CommandContext,
  ) {
    super();
  }
}

export class RemoveScriptCommand extends Command<CommandOutcome> {
  constructor(
    readonly scriptId: string,
    readonly expectedVersion: bigint | undefined,
    readonly context: CommandContext,
  ) {
    super();
  }
}
