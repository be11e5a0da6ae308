/**
 * Turning events to append into the text stored in SQLite, refusing anything that
 * JSON would silently change. Serialising happens when `append` is called, so a caller
 * that mutates its objects afterwards cannot change what gets committed.
 */
import type { ExpectedRevision, NewEvent } from '../event-store.port';

/** An event ready for the INSERT. */
export interface SerialisedEvent {
  id: string;
  type: string;
  metadata: string;
  data: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Constructors whose instances JSON.stringify turns into `{}` or an index map, losing what they hold. */
const LOSSY_CLASSES: ReadonlyArray<abstract new (...args: never[]) => unknown> = [
  Map, Set, WeakMap, WeakSet, RegExp, Error, Promise, ArrayBuffer, SharedArrayBuffer,
];

/** Validates the append's arguments and serialises its events; throws a TypeError naming the problem. */
export function serialiseAppend(stream: unknown, events: unknown, expected: unknown): SerialisedEvent[] {
  if (typeof stream !== 'string' || stream.length === 0) throw new TypeError('Cannot append: the stream name must be a non-empty string');
  checkExpected(stream, expected);
  if (!Array.isArray(events)) throw new TypeError(`Cannot append to ${stream}: events must be an array`);
  const ids = new Set<string>();
  return events.map((event: NewEvent, index) => {
    const where = `Cannot append to ${stream}: event ${index}`;
    if (typeof event !== 'object' || event === null) throw new TypeError(`${where} is not an object`);
    if (typeof event.id !== 'string' || !UUID.test(event.id)) throw new TypeError(`${where} needs a UUID id (got ${describe(event.id)})`);
    if (ids.has(event.id)) throw new TypeError(`${where} repeats the id ${event.id} of an earlier event in the same append`);
    ids.add(event.id);
    if (typeof event.type !== 'string' || event.type.length === 0) throw new TypeError(`${where} needs a non-empty type`);
    const label = `${where} (${event.type})`;
    if (!isObject(event.data)) throw new TypeError(`${label}: data must be a JSON object or array (got ${describe(event.data)})`);
    if (!isObject(event.metadata) || Array.isArray(event.metadata)) throw new TypeError(`${label}: metadata must be an object`);
    return {
      id: event.id,
      type: event.type,
      metadata: toJson(event.metadata, `${label}: metadata`),
      data: toJson(event.data, `${label}: data`),
    };
  });
}

function checkExpected(stream: string, expected: unknown): asserts expected is ExpectedRevision {
  if (expected === 'no_stream' || expected === 'exists' || expected === 'any') return;
  if (typeof expected === 'bigint' && expected >= 0n) return;
  throw new TypeError(`Cannot append to ${stream}: expected revision must be 'no_stream', 'exists', 'any' or a bigint >= 0 (got ${describe(expected)})`);
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** JSON.stringify, but refusing values it would drop, alter or fail on with a vague message. */
function toJson(value: object, label: string): string {
  try {
    return JSON.stringify(value, strictReplacer);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(`${label} is not JSON-serialisable: ${reason}`);
  }
}

/**
 * Called by JSON.stringify for every value (after `toJSON`, so Dates arrive as strings).
 * An `undefined` object property is allowed: it is dropped, which reads back as the same
 * absent optional field. Everything else JSON cannot carry faithfully is refused.
 */
function strictReplacer(this: unknown, key: string, value: unknown): unknown {
  const where = key === '' ? 'the value' : Array.isArray(this) ? `item ${key}` : `property ${JSON.stringify(key)}`;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${where} is ${value}, which JSON turns into null`);
      return value;
    case 'bigint':
      throw new TypeError(`${where} is a bigint (store it as a string)`);
    case 'undefined':
      if (Array.isArray(this)) throw new TypeError(`${where} is undefined, which JSON turns into null`);
      return value;
    case 'function':
    case 'symbol':
      throw new TypeError(`${where} is a ${typeof value}, which JSON drops`);
    case 'object':
      if (value !== null && (ArrayBuffer.isView(value) || LOSSY_CLASSES.some((type) => value instanceof type))) {
        throw new TypeError(`${where} is a ${value.constructor.name}, which JSON cannot represent`);
      }
      return value;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : String(value);
}
