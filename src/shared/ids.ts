import { randomInt, randomUUID } from 'node:crypto';

/** The source of new ids, injected so tests can predict them. */
export abstract class IdGenerator {
  /** A short id for scripts and jobs: URL-friendly, readable in paths and logs. */
  abstract newId(): string;
  /** A UUID for an event (EventStoreDB requires event ids to be UUIDs) or a correlation id. */
  abstract newEventId(): string;
}

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** 12 characters from a 32-letter alphabet: 60 random bits, no look-alike letters (i, l, o, u). */
export class RandomIdGenerator extends IdGenerator {
  newId(): string {
    let id = '';
    for (let i = 0; i < 12; i++) id += ALPHABET[randomInt(ALPHABET.length)];
    return id;
  }

  newEventId(): string {
    return randomUUID();
  }
}

/** The shape of every id {@link RandomIdGenerator} issues, compared without regard to case (names are). */
const ID_SHAPE = new RegExp(`^[${ALPHABET}]{12}$`, 'i');

/** Whether a string has the shape of an id: such a string is never accepted as a name. */
export function looksLikeId(value: string): boolean {
  return ID_SHAPE.test(value);
}

/**
 * A new id that is neither an id nor a name already in use (`taken`): names and ids are
 * accepted in the same places, and an old log may hold a name shaped like an id.
 */
export function newIdUnlike(ids: IdGenerator, taken: (candidate: string) => boolean): string {
  for (;;) {
    const id = ids.newId();
    if (!taken(id)) return id;
  }
}
