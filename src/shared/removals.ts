/**
 * What the read models remember of a removed job or template: the name it had when it
 * was removed, so that a person who asks for it by that name can be told its id (its
 * history stays readable by id; see `src/history/histories.ts`).
 */
export interface Removal {
  id: string;
  /** Its name when it was removed, as it was written. */
  name: string;
  /** ISO-8601 UTC time of the removal (the event's `metadata.at`). */
  removedAt: string;
  removedBy: string;
}

/** The removals under one name, newest first, at most as many as asked for, and how many there are in all. */
export interface Removals {
  items: Removal[];
  total: number;
}
