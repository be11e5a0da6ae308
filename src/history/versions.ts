import type { RecordedEvent } from '../event-store/event-store.port';
import { publicVersion } from '../http/etag';
import type { DomainEvent } from '../shared/decide-and-append';

/**
 * One version of an aggregate: the state after one event that changes it (see
 * `Decider.changesVersion`), who made it, when, and through which interface.
 * `version` is the number the API, ETag and pages use (its stream revision + 1), so
 * versions may skip numbers where bookkeeping events (a run admitted) sit between.
 */
export interface Version<State> {
  version: number;
  /** ISO-8601 UTC time the change was recorded (the event's `metadata.at`). */
  at: string;
  actor: string;
  /** The interface it came through: `api`, `web`, `cli`, `scheduler`, `system`, … */
  source: string;
  /** The event's type: `JobCreated`, `JobUpdated`, `JobFileAttached`, … */
  event: string;
  /** The version this change restored, when it was a restore; null otherwise. */
  restoredFrom: number | null;
  state: State;
}

/** The pure half of an aggregate as history needs it. */
export interface Folding<State, Event extends DomainEvent> {
  initial: State;
  evolve(state: State, event: Event): State;
  changesVersion?(type: string): boolean;
}

/**
 * Folds a stream's events (oldest first) with the aggregate's own `evolve`, calling
 * `visit` with each version as it is reached. Unknown types (from a newer server) and
 * bookkeeping events change no version. Pure: no I/O, no clock.
 */
export function foldVersions<State, Event extends DomainEvent>(
  events: Iterable<RecordedEvent>,
  folding: Folding<State, Event>,
  knownTypes: readonly string[],
  visit: (version: Version<State>) => void,
): State {
  let state = folding.initial;
  for (const recorded of events) {
    if (!knownTypes.includes(recorded.type)) continue;
    state = folding.evolve(state, { type: recorded.type, data: recorded.data } as Event);
    if (!(folding.changesVersion?.(recorded.type) ?? true)) continue;
    const restored = recorded.metadata.restoredFrom;
    visit({
      version: publicVersion(Number(recorded.revision)),
      at: recorded.metadata.at,
      actor: recorded.metadata.actor,
      source: recorded.metadata.source,
      event: recorded.type,
      restoredFrom: typeof restored === 'number' ? restored : null,
      state,
    });
  }
  return state;
}

/** One field that differs between two versions: `before` is undefined where the field did not exist. */
export interface FieldChange {
  field: string;
  before: unknown;
  after: unknown;
}

/**
 * The fields that differ between two shapes of the same resource, every field whatever
 * its name (so fields added later appear without changes here), in the order of `after`
 * then fields only `before` had. Arrays compare in order; objects whatever their key order.
 */
export function fieldChanges(before: Record<string, unknown> | null, after: Record<string, unknown>): FieldChange[] {
  const fields = [...Object.keys(after), ...Object.keys(before ?? {}).filter((key) => !(key in after))];
  const changes: FieldChange[] = [];
  for (const field of fields) {
    const was = before?.[field];
    const now = after[field];
    if (canonicalJson(was) !== canonicalJson(now)) changes.push({ field, before: was, after: now });
  }
  return changes;
}

/** JSON with object keys sorted: equal data gives equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? 'undefined';
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}
