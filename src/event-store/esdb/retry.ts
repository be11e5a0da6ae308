/**
 * Sending an operation again after the connection was lost or reset.
 *
 * After a server restart or a leader change the client's first calls can fail on the
 * stale connection (the client replaces it as they fail). A repeated append is safe:
 * it carries the same event ids and expected revision, and EventStoreDB answers a
 * repeat of a write it already made with that write's result instead of writing again
 * (idempotent writes, `IndexWriter.CheckCommit` on the server). Reads are safe anyway.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable } from './mapping';

/** Runs `operation`, trying again (up to `attempts` in all, waiting 100 ms, then 200 ms, …) while it fails retryably. */
export async function withRetries<T>(operation: () => Promise<T>, attempts = 3, delayMs = 100): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts || !isRetryable(error)) throw error;
      await sleep(delayMs * attempt);
    }
  }
}
