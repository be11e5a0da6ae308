import {
  EventStore,
  type AppendResult,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
  StreamConflictError,
} from '../event-store/event-store.port';
import type { Clock } from './clock';
import { metadataFor, type CommandContext } from './command-context';
import { ConflictError } from './domain-errors';
import type { IdGenerator } from './ids';
import { isDiskFull } from './storage-full';

/** A domain event before it is stored: a stable type name and its data. */
export interface DomainEvent {
  type: string;
  data: unknown;
}

/** The pure half of an aggregate: how events fold into state, and how a command becomes events. */
export interface Decider<State, Event extends DomainEvent, Command> {
  initial: State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): Event[];
  /**
   * Whether an event of this type changes the aggregate as people edit it, and so its
   * version (`If-Match`). Default: every event. Bookkeeping events other aggregates
   * append to serialise with it (a job admitting a run) return false: they neither
   * make an open edit form stale nor turn a concurrent edit into a conflict.
   */
  changesVersion?(type: string): boolean;
}

/** A stream read and folded. */
export interface Loaded<State> {
  state: State;
  /** The stream's last revision (null: no stream): what an append expects. */
  revision: bigint | null;
  /** The revision of its last event that changes its version (see {@link Decider.changesVersion}); null: none. */
  version: bigint | null;
  events: RecordedEvent[];
}

export interface Dependencies {
  store: EventStore;
  clock: Clock;
  ids: IdGenerator;
}

/**
 * Work that must happen around the append of a decision, such as reserving a name the
 * decision gives the aggregate (see `unique-names.ts`). It sees the state before and
 * after the decision, and may refuse it by throwing before anything is appended.
 */
export interface AppendGuard<State> {
  /** `expected`: the stream revision the append will expect (null: no stream yet). */
  beforeAppend(before: State, after: State, expected?: bigint | null): Promise<AfterAppend>;
}

/** What the guard does once the append is known to have succeeded, or to have been refused. */
export interface AfterAppend {
  succeeded(): Promise<void>;
  refused(): Promise<void>;
}

export interface Decided<State, Event> {
  state: State;
  events: Event[];
  /** The stream's revision after the command (null: the stream still does not exist). */
  revision: bigint | null;
  /** Where the new events landed in the log; null when the command changed nothing. */
  append: AppendResult | null;
}

/** Folds a stream into state. Unknown event types (newer servers) are skipped, not fatal. */
export async function loadAggregate<State, Event extends DomainEvent>(
  store: EventStore,
  stream: string,
  decider: Pick<Decider<State, Event, unknown>, 'initial' | 'evolve' | 'changesVersion'>,
  knownTypes: readonly string[],
): Promise<Loaded<State>> {
  const events = await store.readStream(stream);
  let state = decider.initial;
  let version: bigint | null = null;
  for (const recorded of events) {
    if (knownTypes.includes(recorded.type)) state = decider.evolve(state, { type: recorded.type, data: recorded.data } as Event);
    if (decider.changesVersion?.(recorded.type) ?? true) version = recorded.revision;
  }
  const revision = events.length > 0 ? events[events.length - 1].revision : null;
  return { state, revision, version, events };
}

/** How often a decision is taken again when only bookkeeping events (not changes) were appended meanwhile. */
const REDECIDE_ATTEMPTS = 20;

/**
 * The thin shell around a pure decider: read the stream, fold it, decide, and
 * append with the revision that was read, so a concurrent change is a conflict
 * and never a silent overwrite. `expectedVersion` is the client's `If-Match`; `guard`
 * runs between the decision and the append.
 *
 * `command` may be worked out from the stream as read (facts another aggregate must
 * confirm, such as which of a job's runs are unfinished): it is then worked out again
 * whenever the decision is retaken. A decision is retaken when the append lost to
 * bookkeeping events only (the version did not change); a lost race with a real
 * change stays a conflict.
 */
export async function decideAndAppend<State, Event extends DomainEvent, Command>(
  deps: Dependencies,
  stream: string,
  decider: Decider<State, Event, Command>,
  knownTypes: readonly string[],
  command: Command | ((loaded: Loaded<State>) => Promise<Command>),
  context: CommandContext,
  expectedVersion?: bigint,
  guard?: AppendGuard<State>,
): Promise<Decided<State, Event>> {
  let firstVersion: bigint | null | undefined;
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadAggregate(deps.store, stream, decider, knownTypes);
    if (expectedVersion !== undefined && loaded.version !== expectedVersion) {
      throw new ConflictError(
        // Versions people see count from 1 (`publicVersion` in http/etag.ts); revisions from 0.
        `It was changed since you loaded it: you have version ${expectedVersion + 1n}, the current version is ${loaded.version === null ? 'none' : loaded.version + 1n}. Reload and try again`,
      );
    }
    if (firstVersion === undefined) firstVersion = loaded.version;
    else if (loaded.version !== firstVersion) throw new ConflictError('Someone else changed it at the same moment: reload and try again');
    const decided = typeof command === 'function' ? await (command as (loaded: Loaded<State>) => Promise<Command>)(loaded) : command;
    const events = decider.decide(decided, loaded.state);
    if (events.length === 0) return { state: loaded.state, events, revision: loaded.revision, append: null };
    const state = events.reduce(decider.evolve, loaded.state);
    const after = guard ? await guard.beforeAppend(loaded.state, state, loaded.revision) : null;
    let append: AppendResult;
    try {
      append = await appendEvents(deps, stream, events, loaded.revision ?? 'no_stream', context);
    } catch (error) {
      // Only a conflict, or a full disk (the store's transaction was rolled back), proves nothing
      // was appended; after any other failure it may have been.
      if (after && (error instanceof ConflictError || isDiskFull(error))) await after.refused();
      // Only streams with bookkeeping events can lose to something that is not a change.
      if (error instanceof ConflictError && decider.changesVersion && attempt < REDECIDE_ATTEMPTS) continue;
      throw error;
    }
    await after?.succeeded();
    return { state, events, revision: append.nextRevision, append };
  }
}

/** Appends domain events with metadata and fresh ids; a store conflict becomes a domain conflict. */
export async function appendEvents(
  deps: Dependencies,
  stream: string,
  events: readonly DomainEvent[],
  expected: ExpectedRevision,
  context: CommandContext,
): Promise<AppendResult> {
  const metadata = metadataFor(context, deps.clock.now());
  const toAppend: NewEvent[] = events.map((event) => ({ id: deps.ids.newEventId(), type: event.type, data: event.data, metadata }));
  try {
    return await deps.store.append(stream, toAppend, expected);
  } catch (error) {
    if (error instanceof StreamConflictError) {
      throw new ConflictError('Someone else changed it at the same moment: reload and try again');
    }
    throw error;
  }
}
