import type BetterSqlite3 from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';

/** The projection database's handle: better-sqlite3, synchronous, so queries stay plain function calls. */
export type ProjectionDb = BetterSqlite3.Database;

/**
 * A read model fed from the log and kept in the projection database (SQLite, in the
 * data dir), so that a restart continues from its checkpoint instead of replaying the
 * whole log, and memory does not grow with history.
 *
 * The engine applies events in position order, in batches; each batch is one
 * transaction that also records the position it reached, so an event is applied
 * exactly once however the server stops. Queries read the database synchronously and
 * build records on demand; a projection keeps no other state (monotonic change
 * counters that tell pollers "something moved" excepted).
 */
export interface Projection {
  /** Stable name: the key under which its version is kept in the database. */
  readonly name: string;
  /**
   * Its shape: bump it whenever its tables, or what it derives from which events,
   * change. A database holding another version of it is rebuilt from the log.
   */
  readonly version: number;
  /**
   * Gives it the database: creates its tables and indexes when missing (idempotent)
   * and prepares its statements. Called at start before any `apply`, and again with
   * another database when a rebuilt one replaces the old: from then on it uses only
   * the new one.
   *
   * `building`: the database is new and is being filled from the whole log, with
   * nothing reading it but `apply` until {@link finishBuild}; the projection may leave
   * out what only queries need (secondary indexes, search indexes) and build it once
   * in `finishBuild`, which is much cheaper than keeping it up to date row by row.
   * What `apply` itself looks up must stay indexed.
   */
  open(db: ProjectionDb, options?: { building?: boolean }): void;
  /**
   * Builds what `open(db, { building: true })` left out, in the engine's transaction,
   * once the build has applied the log. Before any query; the engine opens the
   * projection again (without `building`) right after, so statements see the indexes.
   */
  finishBuild?(): void;
  /**
   * Called after a batch's transaction was rolled back (a failed event, a full disk):
   * whatever the projection keeps in memory about rows it wrote in that batch is stale
   * and must be dropped, since the batch may be applied again.
   */
  rolledBack?(): void;
  /**
   * Called after a batch's transaction committed: what the projection kept in memory
   * for that batch is now true of the database. Not called for a batch rolled back.
   */
  committed?(): void;
  /**
   * Writes what `apply` kept in memory during this batch, if anything: called in the
   * engine's transaction after the batch's last event and before its checkpoint. A
   * projection that writes through as it applies has nothing to do here.
   */
  beforeCheckpoint?(): void;
  /**
   * Applies one event, synchronously, inside the engine's transaction; ignores events
   * it does not know. It throws only for an event it cannot apply: the engine then
   * rolls the batch back and stops, naming the event's position, and never skips it.
   */
  apply(event: RecordedEvent): void;
}

/** The Nest injection token for the list of projections the engine feeds. */
export const PROJECTIONS = Symbol('PROJECTIONS');
