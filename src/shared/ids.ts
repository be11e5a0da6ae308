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
