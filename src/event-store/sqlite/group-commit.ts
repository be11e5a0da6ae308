/**
 * Group commit: every append requested during one turn of the event loop is written in
 * one SQLite transaction, so a burst (many runs emitting output at once) costs one
 * fsync instead of one per append. Each append runs inside its own SAVEPOINT, so an
 * append that conflicts or fails rolls back alone and rejects only its own promise.
 */
import type { AppendResult, ExpectedRevision } from '../event-store.port';
import { EventStoreUnavailableError, StreamConflictError } from '../event-store.port';
import type { Queries } from './queries';
import type { SerialisedEvent } from './serialise';

interface PendingAppend {
  stream: string;
  events: SerialisedEvent[];
  expected: ExpectedRevision;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** Counters that show group commit at work. */
export interface GroupCommitStats {
  /** Write transactions committed (or attempted). */
  transactions: number;
  /** Appends that were part of them, successful or not. */
  appends: number;
}

/** What an append to a stream that does not exist reports when it appends nothing. */
const NO_STREAM_RESULT: AppendResult = { nextRevision: -1n, position: { commit: 0n, prepare: 0n } };

/** Queues appends and commits them together; owned by one store and its one connection. */
export class GroupCommitter {
  private queue: PendingAppend[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private readonly counters: GroupCommitStats = { transactions: 0, appends: 0 };

  /**
   * @param queries the connection's statements
   * @param onCommitted called after a transaction that stored at least one event has committed
   */
  constructor(
    private readonly queries: Queries,
    private readonly onCommitted: () => void,
  ) {}

  get stats(): GroupCommitStats {
    return { ...this.counters };
  }

  /** Queues an append for the next group; the promise settles once that group's transaction has. */
  enqueue(stream: string, events: SerialisedEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ stream, events, expected, resolve, reject });
      // setImmediate rather than a microtask: output of many child processes arrives as
      // separate I/O callbacks of one poll phase, and the check phase runs after all of them.
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits everything queued now (also used by close, so queued appends are not lost). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    const group = this.queue;
    if (group.length === 0) return;
    this.queue = [];
    this.counters.transactions += 1;
    this.counters.appends += group.length;

    const q = this.queries;
    const outcomes: Array<{ ok: true; result: AppendResult } | { ok: false; error: unknown }> = [];
    let stored = 0;
    try {
      q.begin.run();
      for (const append of group) {
        q.savepoint.run();
        try {
          const result = this.write(append);
          q.release.run();
          outcomes.push({ ok: true, result });
          stored += append.events.length;
        } catch (error) {
          // A full disk or an I/O error can make SQLite roll the whole transaction back by
          // itself: the savepoint is gone then, and the write's own error fails the group
          // (not "no such savepoint", which would hide that the disk is full).
          if (!rollBackToSavepoint(q)) throw error;
          outcomes.push({ ok: false, error: explain(append.stream, error) });
        }
      }
      q.commit.run();
    } catch (error) {
      // BEGIN or COMMIT failed (disk full, I/O error, another process holding the lock
      // past the busy timeout): make sure the transaction is gone, then fail every append.
      try {
        q.rollback.run();
      } catch {
        // There was no transaction left to roll back: SQLite already did it.
      }
      const failure = new EventStoreUnavailableError(`The write transaction failed, so none of its appends were stored: ${message(error)}`, error);
      for (const append of group) append.reject(failure);
      return;
    }
    group.forEach((append, index) => {
      const outcome = outcomes[index];
      if (outcome.ok) append.resolve(outcome.result);
      else append.reject(outcome.error);
    });
    if (stored > 0) this.onCommitted();
  }

  /** Checks the expected revision and inserts; runs inside the append's savepoint. */
  private write(append: PendingAppend): AppendResult {
    const q = this.queries;
    const head = q.streamHead.get(append.stream) as [revision: bigint, position: bigint] | undefined;
    const actual = head ? head[0] : null;
    if (!matchesExpected(append.expected, actual)) throw new StreamConflictError(append.stream, append.expected, actual);
    // Appending nothing validates the expectation and reports the stream's current state,
    // as EventStoreDB does: its last revision and that event's position, or -1 and the
    // start of the log for a stream that does not exist.
    if (append.events.length === 0) return head ? { nextRevision: head[0], position: { commit: head[1], prepare: head[1] } } : NO_STREAM_RESULT;

    let revision = actual ?? -1n;
    let position = 0n;
    for (const event of append.events) {
      revision += 1n;
      position = BigInt(q.insert.run(event.id, append.stream, revision, event.type, event.metadata, event.data).lastInsertRowid);
    }
    return { nextRevision: revision, position: { commit: position, prepare: position } };
  }
}

/** Undoes the current append alone; false when there is no savepoint (nor transaction) left to undo. */
function rollBackToSavepoint(q: Queries): boolean {
  try {
    q.rollbackToSavepoint.run();
    q.release.run();
    return true;
  } catch {
    return false;
  }
}

function matchesExpected(expected: ExpectedRevision, actual: bigint | null): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === null;
    case 'exists':
      return actual !== null;
    default:
      return actual === expected;
  }
}

/** Gives a constraint failure a message a caller can act on. */
function explain(stream: string, error: unknown): unknown {
  if (error instanceof StreamConflictError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' && /events\.id/.test(message(error))) {
    return new Error(`Cannot append to ${stream}: an event with one of these ids is already stored (${message(error)})`, { cause: error });
  }
  return error;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
