import { Injectable } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventStore } from '../event-store/event-store.port';
import { JobsReadModel } from '../jobs/jobs.read-model';
import { scriptUsers, type ScriptUsers } from '../jobs/script-use';
import { ProjectionEngine } from '../projections/projection-engine';
import { Clock } from '../shared/clock';
import type { CommandOutcome } from '../shared/command-outcome';
import { type AppendGuard, decideAndAppend, type Decider, type Dependencies, loadAggregate, type Loaded } from '../shared/decide-and-append';
import { IdGenerator, newIdUnlike } from '../shared/ids';
import { Mutex } from '../shared/mutex';
import { UniqueNames } from '../shared/unique-names';
import { CreateScriptCommand, RemoveScriptCommand, UpdateScriptCommand } from './script.commands';
import { decideScript, evolveScript, initialScriptState, type ScriptCommand, type ScriptState } from './script.decider';
import { changesScriptVersion, SCRIPT_EVENT_TYPES, scriptStream, type ScriptEvent } from './script.events';
import { ScriptsReadModel } from './scripts.read-model';

/** The template aggregate; jobs' use declarations are bookkeeping, not changes of its version. */
export const scriptDecider: Decider<ScriptState, ScriptEvent, ScriptCommand> = {
  initial: initialScriptState,
  evolve: evolveScript,
  decide: decideScript,
  changesVersion: changesScriptVersion,
};

/** Shared by the script handlers: dependencies and the lock that keeps names unique on this server. */
@Injectable()
export class ScriptCommandSupport {
  readonly names = new Mutex();
  readonly deps: Dependencies;
  /** Keeps names unique across servers sharing the log: reserved in the log around each append. */
  readonly uniqueNames: UniqueNames<ScriptState>;

  constructor(
    store: EventStore,
    clock: Clock,
    readonly ids: IdGenerator,
    readonly scripts: ScriptsReadModel,
    readonly jobs: JobsReadModel,
    readonly projections: ProjectionEngine,
  ) {
    this.deps = { store, clock, ids };
    const activeName = (state: ScriptState): string | null => (state.status === 'active' ? state.name : null);
    this.uniqueNames = new UniqueNames(this.deps, 'script', 'script template', activeName, async (id) => {
      const { state } = await loadAggregate(store, scriptStream(id), scriptDecider, SCRIPT_EVENT_TYPES);
      return { status: state.status, name: state.status === 'absent' ? null : state.name };
    });
  }

  /** Decides, appends, and waits until the read models show the result (read your writes). */
  async execute(
    scriptId: string,
    command: ScriptCommand | ((loaded: Loaded<ScriptState>) => Promise<ScriptCommand>),
    context: CreateScriptCommand['context'],
    expected?: bigint,
    before?: () => Promise<void>,
  ): Promise<CommandOutcome> {
    const names = this.uniqueNames.guard(scriptId, context);
    const guard: AppendGuard<ScriptState> = {
      beforeAppend: async (previous, next) => {
        await before?.();
        return names.beforeAppend(previous, next);
      },
    };
    const result = await decideAndAppend(this.deps, scriptStream(scriptId), scriptDecider, SCRIPT_EVENT_TYPES, command, context, expected, guard);
    const position = result.append?.position ?? null;
    if (position) await this.projections.waitFor(position);
    return { id: scriptId, position };
  }
}

@CommandHandler(CreateScriptCommand)
export class CreateScriptHandler implements ICommandHandler<CreateScriptCommand> {
  constructor(private readonly support: ScriptCommandSupport) {}

  execute({ input, context }: CreateScriptCommand): Promise<CommandOutcome> {
    const { support } = this;
    return support.names.run(() => {
      const scriptId = newIdUnlike(support.ids, (id) => support.scripts.isTaken(id));
      return support.execute(scriptId, { type: 'CreateScript', scriptId, ...input, nameTakenBy: support.scripts.nameHolder(input.name) }, context);
    });
  }
}

@CommandHandler(UpdateScriptCommand)
export class UpdateScriptHandler implements ICommandHandler<UpdateScriptCommand> {
  constructor(private readonly support: ScriptCommandSupport) {}

  execute({ scriptId, changes, expectedVersion, context }: UpdateScriptCommand): Promise<CommandOutcome> {
    const { support } = this;
    return support.names.run(() => {
      const nameTakenBy = changes.name !== undefined ? support.scripts.nameHolder(changes.name) : null;
      return support.execute(scriptId, { type: 'UpdateScript', scriptId, changes, nameTakenBy }, context, expectedVersion);
    });
  }
}

@CommandHandler(RemoveScriptCommand)
export class RemoveScriptHandler implements ICommandHandler<RemoveScriptCommand> {
  constructor(private readonly support: ScriptCommandSupport) {}

  /** Refused while a job uses the template, as the log says (see `src/jobs/script-use.ts`). */
  execute({ scriptId, expectedVersion, context }: RemoveScriptCommand): Promise<CommandOutcome> {
    const { support } = this;
    let users: ScriptUsers | null = null;
    const command = async (loaded: Loaded<ScriptState>): Promise<ScriptCommand> => {
      users = await scriptUsers(support.deps, loaded, support.jobs.usingScript(scriptId), context);
      return { type: 'RemoveScript', scriptId, usedByJobs: users.names };
    };
    return support.execute(scriptId, command, context, expectedVersion, () => users?.fence() ?? Promise.resolve());
  }
}
