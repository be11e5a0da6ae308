/**
 * The embedded event store: one SQLite file through better-sqlite3 (version 12).
 *
 * better-sqlite3 is synchronous, so every call here runs to completion inside one turn
 * of the event loop. The store leans on that: appends are queued and committed together
 * at the end of the turn (group commit, see `sqlite/group-commit.ts`), and subscriptions
 * hand over from reading to waiting without a race (see `sqlite/subscription.ts`).
 *
 * One process owns the file. Other processes may read it (WAL allows that), but a
 * subscription is woken only by commits made through this store instance.
 */
import { Logger } from '@nestjs/common';
import type Database from 'better-sqlite3';
import {
  EventStore,
  EventStoreUnavailableError,
  type AppendResult,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type Subscription,
  type SubscribeAllOptions,
} from './event-store.port';
import { GroupCommitter, type GroupCommitStats } from './sqlite/group-commit';
import { asLogDamage } from './sqlite/log-file-check';
import { MAX_INT64, NO_LIMIT, Queries, toRecordedEvent, type EventRow } from './sqlite/queries';
import { openDatabase, readPragmas, type SqlitePragmas } from './sqlite/schema';
import { serialiseAppend } from './sqlite/serialise';
import { CommitSignal, readPage, SqliteSubscription, type Page, type SubscriptionHost } from './sqlite/subscription';

export type { GroupCommitStats } from './sqlite/group-commit';
export type { SqlitePragmas } from './sqlite/schema';

/** The event store on an embedded SQLite file. Create it with {@link SqliteEventStore.open}. */
export class SqliteEventStore extends EventStore {
  override readonly kind = 'sqlite' as const;

  private readonly queries: Queries;
  private readonly committer: GroupCommitter;
  private readonly commits = new CommitSignal();
  private readonly subscriptions = new Set<SqliteSubscription>();
  private readonly host: SubscriptionHost;
  private closed = false;

  /**
   * Opens the store at `filePath`, creating the parent directory, the file and the
   * schema when needed, with WAL and `synchronous = FULL` (see `sqlite/schema.ts`).
   */
  static open(filePath: string): SqliteEventStore {
    return new SqliteEventStore(openDatabase(filePath), filePath);
  }

  private constructor(
    private readonly db: Database.Database,
    /** The database file this store was opened on. */
    readonly filePath: string,
  ) {
    super();
    this.queries = new Queries(db);
    this.committer = new GroupCommitter(this.queries, () => this.commits.notify());
    this.host = {
      commits: this.commits,
      readPage: (filter, after): Page => {
        this.assertOpen();
        return this.guard(() => readPage(this.queries, filter, after));
      },
      forget: (subscription) => {
        this.subscriptions.delete(subscription);
      },
    };
  }

  /**
   * Appends atomically with EventStoreDB's expected-revision semantics; a mismatch
   * rejects with StreamConflictError carrying the actual revision, appending nothing.
   * The events are validated and serialised now (a later change to the objects has no
   * effect) and committed with the other appends of this event-loop turn; the promise
   * resolves once that commit is durable.
   *
   * Appending no events checks the expected revision and reports the stream's current
   * state: its last revision and that event's position, or, for a stream that does not
   * exist, revision -1 and position 0 (the start of the log).
   *
   * Rejects with a TypeError when an argument is malformed or data/metadata is not
   * faithfully JSON-serialisable (bigint, NaN, function, Map, cycle, …), and with a plain
   * Error when an event id is already stored.
   */
  override async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    this.assertOpen();
    const serialised = serialiseAppend(stream, events, expected);
    try {
      return await this.committer.enqueue(stream, serialised, expected);
    } catch (error) {
      throw this.damage(error) ?? error;
    }
  }

  override async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const limit = toLimit(options.maxCount);
    const from = options.fromRevision;
    if (from !== undefined && (typeof from !== 'bigint' || from < 0n)) throw new RangeError(`fromRevision must be a bigint >= 0 (got ${String(from)})`);
    const rows = this.guard(() =>
      options.direction === 'backwards'
        ? this.queries.streamBackwards.all(stream, clamp(from ?? MAX_INT64), limit)
        : this.queries.streamForwards.all(stream, clamp(from ?? 0n), limit));
    return (rows as EventRow[]).map(toRecordedEvent);
  }

  /**
   * Removes the stream's rows in one transaction (after the appends queued this turn,
   * so an append and a delete of the same turn keep their order), then gives the freed
   * pages back (`PRAGMA incremental_vacuum`; a no-op on a log created before
   * `auto_vacuum = INCREMENTAL`, whose freed pages are reused by later appends instead).
   * `AUTOINCREMENT` keeps the deleted positions from ever being handed out again.
   */
  override async deleteStream(stream: string): Promise<void> {
    this.assertOpen();
    if (typeof stream !== 'string' || stream === '') throw new TypeError('deleteStream needs a stream name');
    this.committer.flush();
    this.guard(() => {
      const removed = this.queries.deleteStream.run(stream).changes;
      if (removed > 0) this.queries.reclaim();
    });
  }

  override async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const limit = toLimit(options.maxCount);
    const { statement, params } =
      options.direction === 'backwards'
        ? this.queries.readBackwards(options.filter, options.after ? clamp(options.after.commit) : MAX_INT64, limit)
        : this.queries.readForwards(options.filter, options.after ? clamp(options.after.commit) : 0n, MAX_INT64, limit);
    return (this.guard(() => statement.all(...params)) as EventRow[]).map(toRecordedEvent);
  }

  /**
   * A catch-up subscription: stored events after `after` page by page as the consumer
   * pulls, then live events as this store commits them. Closing the store ends it.
   */
  override subscribeAll(options: SubscribeAllOptions = {}): Subscription {
    const subscription = new SqliteSubscription(this.host, options.filter, options.after ? clamp(options.after.commit) : 0n);
    if (this.closed) void subscription.close();
    else this.subscriptions.add(subscription);
    return subscription;
  }

  override async headPosition(): Promise<Position | null> {
    this.assertOpen();
    const head = this.guard(() => this.queries.headPosition.get()) as bigint | null;
    return head === null ? null : { commit: head, prepare: head };
  }

  /** Fails once damage was found (the file does not heal), so health reports it. */
  override async ping(): Promise<void> {
    this.assertOpen();
    if (this.damageFound) throw this.damageFound;
    this.guard(() => this.queries.ping.get());
  }

  /**
   * Commits appends still queued for this turn, ends every subscription (their
   * iterations finish normally), then closes the database. Idempotent.
   */
  override async close(): Promise<void> {
    if (this.closed) return;
    // Appends accepted before close are written, not dropped; none can be queued after
    // this synchronous flush because append() checks `closed` first.
    this.committer.flush();
    this.closed = true;
    for (const subscription of [...this.subscriptions]) await subscription.close();
    this.db.close();
  }

  /** The connection's settings as SQLite reports them (diagnostics and tests). */
  readPragmas(): SqlitePragmas {
    this.assertOpen();
    return readPragmas(this.db);
  }

  /** How many write transactions carried how many appends, since open. */
  get groupCommitStats(): GroupCommitStats {
    return this.committer.stats;
  }

  /**
   * Runs a read, turning SQLite's report of a damaged file into `EventLogDamagedError`
   * (naming the file and what to do), told once on stderr for whoever runs the server.
   */
  private guard<T>(read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw this.damage(error) ?? error;
    }
  }

  private damageFound: Error | null = null;

  private damage(error: unknown): Error | null {
    const damage = asLogDamage(error, this.filePath);
    if (damage && !this.damageFound) {
      this.damageFound = damage;
      // Through the server's log (JSON lines), not a plain line beside it.
      new Logger('EventStore').error(damage.message);
    }
    return damage;
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailableError(`The event store at ${this.filePath} is closed`);
  }
}

/** `maxCount` as a SQL LIMIT; undefined means no limit. */
function toLimit(maxCount: number | undefined): number {
  if (maxCount === undefined || maxCount === Infinity) return NO_LIMIT;
  if (!Number.isSafeInteger(maxCount) || maxCount < 0) throw new RangeError(`maxCount must be a whole number >= 0 (got ${maxCount})`);
  return maxCount;
}

/** Keeps a bigint inside SQLite's integer range (positions from other stores can be larger). */
function clamp(value: bigint): bigint {
  if (value < 0n) return 0n;
  return value > MAX_INT64 ? MAX_INT64 : value;
}
