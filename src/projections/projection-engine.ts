import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { comparePositions, EventStore, formatPosition, type Position, type RecordedEvent, type Subscription } from '../event-store/event-store.port';
import { UnavailableError } from '../shared/domain-errors';
import { isDiskFull } from '../shared/storage-full';
import { PROJECTIONS, type Projection, type ProjectionDb } from './projection';
import {
  BUILDING_SUFFIX,
  closeAndInstall,
  DAMAGED_SUFFIX,
  endBuildPragmas,
  openProjectionDb,
  prepareCheckpointWrite,
  READY_SUFFIX,
  readStoredState,
  removeDbFiles,
  setIdentity,
  writeBuildInfo,
  type LogIdentity,
  type StoredState,
} from './projection-database';

/** How long a request waits for its own write to reach the read models before it gives up. */
const READ_YOUR_WRITES_TIMEOUT_MS = 10_000;
/** Events applied in one transaction at most: large enough to amortise the commit, small enough to bound memory. */
const MAX_BATCH_EVENTS = 4096;
/** Events per read while catching up: few enough that a page of large output events stays small in memory. */
const CATCH_UP_PAGE_EVENTS = 512;
/** How often a rebuild reports its progress. */
const PROGRESS_EVERY_MS = 3_000;
/** How long to wait before applying again after the disk was full. */
const DISK_FULL_RETRY_MS = 2_000;

/**
 * The Nest token for the projection database's path (`<data>/projections.db`); without
 * it the engine keeps its database in memory and rebuilds it at every start (the bench).
 */
export const PROJECTION_DATABASE_FILE = Symbol('PROJECTION_DATABASE_FILE');
/** The Nest token for an {@link EngineReporter}; without it the engine reports to the server's log. */
export const ENGINE_REPORTER = Symbol('ENGINE_REPORTER');

/**
 * Test hook (`ENDERCOMPUTE_TEST_KILL_BEFORE_CHECKPOINT=<n>`): the process kills itself
 * (SIGKILL) inside the transaction of the batch holding the n-th event it applies, after
 * the projections applied it and before the checkpoint is written and the transaction
 * commits — the crash that idempotency by position must survive. Unset in real use.
 */
const KILL_BEFORE_CHECKPOINT = Number(process.env.ENDERCOMPUTE_TEST_KILL_BEFORE_CHECKPOINT ?? 'NaN');

/**
 * The Nest token for a {@link ProjectionBuilder}; without it the engine builds in its own
 * thread (tests that run the application in-process, and the offline tool).
 */
export const PROJECTION_BUILDER = Symbol('PROJECTION_BUILDER');

/**
 * Builds a projection database from the whole log outside the server's event loop (a
 * process of its own: see `build-process.ts`) and installs it at `target` (the path the engine
 * then opens as if warm, catching up what was appended meanwhile). Its lines go to
 * `reporter`. Resolves true once `target` holds the finished database; false when it
 * could not (a failed event, a crash, `signal` aborted), and the engine then builds in its
 * own thread, which stops on a failed event exactly as it always did.
 */
export type ProjectionBuilder = (target: string, reporter: EngineReporter, signal: AbortSignal, onProgress: (progress: BuildProgress) => void) => Promise<boolean>;

/** How far a build of the read models from the whole log has come (what a starting server shows: see `http/starting-gate.ts`). */
export interface BuildProgress {
  /** Events applied so far. */
  applied: number;
  /** The share of the log applied, by position up to the head the build set out to reach: 0–100, whole percent. */
  percent: number;
  /** `applying` the log's events, then `indexing`: building the indexes left out while applying (see `Projection.finishBuild`). */
  stage: 'applying' | 'indexing';
}

/** Where the engine's lines go: the server's log (Nest) or the offline tool's output. */
export interface EngineReporter {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** An event a projection threw on: the engine stopped before it, and names it. */
export class ProjectionStoppedError extends UnavailableError {
  constructor(
    readonly projection: string,
    readonly event: Pick<RecordedEvent, 'position' | 'stream' | 'revision' | 'type'>,
    override readonly cause: unknown,
  ) {
    super(
      `The read models stopped: projection "${projection}" cannot apply the event at position ${formatPosition(event.position)} ` +
        `(stream ${event.stream}, revision ${event.revision}, type ${event.type}): ${cause instanceof Error ? cause.message : String(cause)}. ` +
        'They show the log as it was before that event; the event is not skipped. Upgrade to a version that reads it (or report it), then restart the server.',
    );
    this.name = 'ProjectionStoppedError';
  }
}

/**
 * Feeds every projection from one catch-up subscription to `$all`, into the projection
 * database (`projection-database.ts`): batches of events, each applied in one
 * transaction that also records the position reached, so an event is applied exactly
 * once however the server stops. At start it resumes after the stored checkpoint, or
 * rebuilds the database from the log in a new file when the projections' versions, the
 * log or the file do not match. Callers that just appended wait with {@link waitFor} so
 * what they read reflects what they wrote. See docs/DESIGN.md, "The read side".
 */
@Injectable()
export class ProjectionEngine {
  private readonly reporter: EngineReporter;
  private db: ProjectionDb | null = null;
  private writeCheckpoint: ((position: Position, total: number) => void) | null = null;
  private applyBatch: ((events: RecordedEvent[]) => void) | null = null;
  private position: Position | null = null;
  private subscription: Subscription | null = null;
  private waiters: Array<{ position: Position; resolve: () => void; reject: (error: Error) => void }> = [];
  /** Change listeners, each with the events that concern it (null: every one) and whether one came since it was last called. */
  private readonly listeners = new Map<() => void, { concerns: ((event: RecordedEvent) => boolean) | null; due: boolean }>();
  private readonly commitListeners = new Set<(events: readonly RecordedEvent[]) => void>();
  private notifyScheduled = false;
  private failure: UnavailableError | null = null;
  /** Events this process applied. */
  private eventsApplied = 0;
  /** Events the database holds, since it was built. */
  private totalApplied = 0;
  private buffer: RecordedEvent[] = [];
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** The database was built from an empty log: the first event applied names the log. */
  private identityPending: LogIdentity | null = null;
  private closed = false;
  /** The database is new and filled from the whole log: the projections build their query indexes at the end. */
  private building = false;
  /** While building in this thread: the head the build set out to reach (see {@link buildProgress}). */
  private buildHead: Position | null = null;
  private buildStage: BuildProgress['stage'] = 'applying';
  /** While a {@link ProjectionBuilder} builds: how far it says it has come. */
  private builderProgress: BuildProgress | null = null;
  private readonly buildListeners = new Set<(progress: BuildProgress) => void>();
  /** Aborts a build running elsewhere (its own process) when the engine closes first. */
  private readonly closing = new AbortController();

  constructor(
    private readonly store: EventStore,
    @Inject(PROJECTIONS) private readonly projections: Projection[],
    @Optional() @Inject(PROJECTION_DATABASE_FILE) private readonly file: string | null = null,
    @Optional() @Inject(ENGINE_REPORTER) reporter?: EngineReporter,
    @Optional() @Inject(PROJECTION_BUILDER) private readonly builder: ProjectionBuilder | null = null,
  ) {
    const logger = new Logger(ProjectionEngine.name);
    this.reporter = reporter ?? { info: (m) => logger.log(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m) };
  }

  /**
   * Opens the projection database and starts following the log; resolves once every
   * event stored before the call is applied, or once the engine stopped on an event it
   * cannot apply ({@link stoppedBecause}: the server then starts and answers 503).
   * Rebuilds first when needed (see {@link rebuildReason}), in a new file that replaces
   * the old one only once caught up: through the {@link ProjectionBuilder} when there is
   * one and history to apply, else in this thread.
   */
  async start(): Promise<void> {
    let { head, identity } = await this.readLog();
    let building: string | null = null;
    let after: Position | undefined;
    if (this.file === null) {
      this.db = openProjectionDb(null, { building: true });
      this.building = true;
      writeBuildInfo(this.db, this.projections, identity);
    } else {
      this.takeReadyDatabase(this.file);
      let existing = this.openExisting(this.file, identity, head);
      if ('reason' in existing && head !== null && this.builder !== null) {
        this.reporter.warn(`Projections: building ${basename(this.file)} from the log: ${existing.reason} (in a process of its own)`);
        this.builderProgress = { applied: 0, percent: 0, stage: 'applying' };
        let built: boolean;
        try {
          built = await this.builder(this.file, this.reporter, this.closing.signal, (progress) => {
            this.builderProgress = progress;
          });
        } finally {
          this.builderProgress = null;
        }
        if (this.closed) return;
        if (built) {
          // Events appended while it was built are caught up below, as on a warm start.
          ({ head, identity } = await this.readLog());
          existing = this.openExisting(this.file, identity, head);
        } else {
          this.reporter.warn('Projections: the build process did not finish, so the server builds in its own process');
        }
      }
      if ('db' in existing) {
        this.db = existing.db;
        after = existing.checkpoint ?? undefined;
        this.totalApplied = existing.eventsApplied;
      } else {
        building = `${this.file}${BUILDING_SUFFIX}`;
        const line = `Projections: building ${basename(this.file)} from the log: ${existing.reason}`;
        // A new data dir (nothing logged yet) is no news; building over history takes time, and says why.
        if (head === null) this.reporter.info(line);
        else this.reporter.warn(line);
        this.db = this.newDatabase(building, identity);
      }
    }
    if (identity.firstEventId === null) this.identityPending = identity;
    this.attach(this.db);
    this.position = after ?? null;
    await this.follow(after, head, building !== null);
    if (building !== null && this.file !== null) this.install(building, this.file);
  }

  /**
   * Builds a new database from the whole log beside `target` (`<target>.building`) and
   * installs it at `target` in one rename, if `stillWanted()` says so once it is built;
   * resolves with the number of events applied, or rejects with why the build stopped or
   * was not installed (and leaves no file behind). `target` must not be open meanwhile.
   * The build process's build and the offline tool's.
   */
  async rebuild(target: string, stillWanted: () => boolean = () => true): Promise<number> {
    const { head, identity } = await this.readLog();
    const building = `${target}${BUILDING_SUFFIX}`;
    this.db = this.newDatabase(building, identity);
    if (identity.firstEventId === null) this.identityPending = identity;
    this.attach(this.db);
    await this.follow(undefined, head, true);
    await this.stopFollowing();
    // A turn of the event loop first: news that came during the last synchronous steps (the indexes) is heard.
    await nextTurn();
    const unwanted = this.failure ?? (stillWanted() ? null : new Error('The build is no longer wanted, so it was not installed'));
    if (unwanted) {
      this.db.close();
      this.db = null;
      removeDbFiles(building);
      throw unwanted;
    }
    const db = this.db;
    this.db = null;
    closeAndInstall(db, building, target);
    return this.eventsApplied;
  }

  /**
   * The offline rebuild (`npm run projections:rebuild`): builds a new database from the
   * whole log and leaves it as `<file>.ready`, which the next start takes in place of the
   * one in use (a running server keeps serving from its own until then). Resolves with
   * the number of events applied.
   */
  rebuildOffline(file: string): Promise<number> {
    return this.rebuild(`${file}${READY_SUFFIX}`);
  }

  /** Resolves once the read models include the event at `position`; rejects once they stopped. */
  waitFor(position: Position, timeoutMs = READ_YOUR_WRITES_TIMEOUT_MS): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.position && comparePositions(this.position, position) >= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new UnavailableError('The change was saved, but the read models are slow to show it: reload in a moment'));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  /**
   * Called (batched, after the current burst) whenever read models changed; with
   * `concerns`, only after a change that applied an event it accepts (a listener that
   * never looks at output need not wake for each batch of it), and always when the
   * projection stopped. Returns an unsubscribe function.
   */
  onChange(listener: () => void, concerns?: (event: RecordedEvent) => boolean): () => void {
    this.listeners.set(listener, { concerns: concerns ?? null, due: false });
    return () => this.listeners.delete(listener);
  }

  /**
   * Called with each batch of events once its transaction committed, in order: for
   * what is not durable state (waking live viewers), so a batch that is rolled back
   * never reached them. Returns an unsubscribe function.
   */
  onCommitted(listener: (events: readonly RecordedEvent[]) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Events applied by this process (a warm start applies only what came after the checkpoint). */
  get appliedCount(): number {
    return this.eventsApplied;
  }

  get currentPosition(): Position | null {
    return this.position;
  }

  /**
   * How far the build of the read models from the whole log has come, here or in a
   * {@link ProjectionBuilder}'s process; null when no build is under way (a warm start
   * catching up from its checkpoint, or serving).
   */
  get buildProgress(): BuildProgress | null {
    if (this.builderProgress) return this.builderProgress;
    if (!this.buildHead) return null;
    return { applied: this.eventsApplied, percent: percentOf(this.position, this.buildHead), stage: this.buildStage };
  }

  /**
   * Called while this engine builds from the whole log: after each batch it applied, and
   * once as it begins the indexes (which take a while and call nothing). Returns an
   * unsubscribe function. The build process passes it on to the server.
   */
  onBuildProgress(listener: (progress: BuildProgress) => void): () => void {
    this.buildListeners.add(listener);
    return () => this.buildListeners.delete(listener);
  }

  private tellBuildProgress(): void {
    const progress = this.buildProgress;
    if (progress) for (const listener of this.buildListeners) listener(progress);
  }

  /** Why the read models stopped (an event a projection cannot apply, a lost subscription), or null. */
  get stoppedBecause(): UnavailableError | null {
    return this.failure;
  }

  /** Stops following the log (what is buffered is applied first); the database stays open for reads until {@link close}. */
  async onApplicationShutdown(): Promise<void> {
    await this.stopFollowing();
  }

  /** Stops following the log and closes the database: the last step of a shutdown. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await this.stopFollowing();
    this.db?.close();
    this.db = null;
  }

  private async stopFollowing(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.close();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!this.failure && this.buffer.length > 0) this.flush();
  }

  /** The log's head and identity (store kind, first event), read before anything is applied. */
  private async readLog(): Promise<{ head: Position | null; identity: LogIdentity }> {
    const head = await this.store.headPosition();
    const first = head ? (await this.store.readAll({ maxCount: 1 }))[0] : undefined;
    return { head, identity: { store: this.store.kind, firstEventId: first?.id ?? null } };
  }

  /**
   * The database in use, when it can go on from its checkpoint; else why it is rebuilt.
   * A file that cannot be opened is removed: it is derived, and the rebuild replaces it.
   */
  private openExisting(file: string, identity: LogIdentity, head: Position | null): { db: ProjectionDb; checkpoint: Position | null; eventsApplied: number } | { reason: string } {
    const damaged = `${file}${DAMAGED_SUFFIX}`;
    if (existsSync(damaged)) {
      const found = readFileSync(damaged, 'utf8').trim();
      removeDbFiles(file);
      rmSync(damaged, { force: true });
      return { reason: `SQLite found it damaged while the server ran (${found}), so it was removed` };
    }
    if (!existsSync(file)) return { reason: 'there is none yet' };
    let db: ProjectionDb;
    let state: StoredState;
    try {
      db = openProjectionDb(file);
      state = readStoredState(db);
    } catch (error) {
      removeDbFiles(file);
      return { reason: `the file could not be used (${error instanceof Error ? error.message : String(error)}), so it was removed` };
    }
    const reason = rebuildReason(this.projections, state, identity, head);
    if (reason === null) return { db, checkpoint: state.checkpoint, eventsApplied: state.eventsApplied };
    db.close();
    return { reason };
  }

  /** Takes a database the offline tool finished, in place of the one in use (one rename). */
  private takeReadyDatabase(file: string): void {
    const ready = `${file}${READY_SUFFIX}`;
    if (!existsSync(ready)) return;
    // The old file's -wal and -shm belong to it, not to the one taking its place.
    removeDbFiles(file);
    renameSync(ready, file);
    this.reporter.info(`Projections: took ${basename(ready)}, rebuilt offline, in place of ${basename(file)}`);
  }

  /** A new database to build from the whole log (see {@link finishBuilding}). */
  private newDatabase(path: string, identity: LogIdentity): ProjectionDb {
    removeDbFiles(path);
    const db = openProjectionDb(path, { building: true });
    this.building = true;
    writeBuildInfo(db, this.projections, identity);
    return db;
  }

  /** Gives the projections the database and prepares the engine's own statements. */
  private attach(db: ProjectionDb): void {
    for (const projection of this.projections) projection.open(db, { building: this.building });
    this.writeCheckpoint = prepareCheckpointWrite(db);
    this.applyBatch = db.transaction((events: RecordedEvent[]) => this.applyInTransaction(db, events));
  }

  /**
   * Catches up from `after` to the head read at start (on the embedded log page by page,
   * one read and one transaction per page; on EventStoreDB through the subscription;
   * reporting progress when rebuilding), then follows the subscription after the last
   * event applied, and resolves once the head is applied.
   */
  private async follow(after: Position | undefined, head: Position | null, rebuilding: boolean): Promise<void> {
    if (!head || (after && comparePositions(after, head) >= 0)) {
      this.finishBuilding();
      this.subscribe(after);
      this.reporter.info(`Projections: at the head of the log${after ? ` (checkpoint ${formatPosition(after)})` : ''}`);
      return;
    }
    const started = performance.now();
    const before = this.eventsApplied;
    if (rebuilding) this.buildHead = head;
    const progress = rebuilding
      ? setInterval(() => this.reporter.warn(`Projections: rebuilding: ${this.progressText(head)}`), PROGRESS_EVERY_MS)
      : null;
    try {
      // The embedded log is read in this process, where a page is one call and the
      // subscription a promise per event. EventStoreDB streams a catch-up subscription,
      // where each page read is a round trip: catching up with the subscription alone
      // rebuilt from the double at 0.57–0.85× its raw read rate instead of 0.51–0.66×.
      if (this.store.kind === 'sqlite') await this.catchUp(after, head);
      if (this.closed || this.failure) return;
      this.subscribe(this.position ?? after);
      await this.waitFor(head, Number.POSITIVE_INFINITY);
      if (rebuilding) {
        this.buildStage = 'indexing';
        this.tellBuildProgress();
      }
      this.finishBuilding();
    } catch (error) {
      // Stopped (an event a projection cannot apply): the server still starts, and says why it cannot serve.
      if (error === this.failure) return;
      throw error;
    } finally {
      if (progress) clearInterval(progress);
      this.buildHead = null;
      this.buildStage = 'applying';
    }
    const seconds = (performance.now() - started) / 1000;
    const applied = this.eventsApplied - before;
    const line = `${applied} events applied in ${seconds.toFixed(1)} s (${Math.round(applied / Math.max(seconds, 0.001))} events/s)`;
    if (rebuilding) this.reporter.warn(`Projections: rebuilt from the log: ${line}`);
    else this.reporter.info(`Projections: caught up from checkpoint ${after ? formatPosition(after) : 'start'}: ${line}`);
  }

  /**
   * Ends a build once the log is applied: the projections create the indexes they left
   * out (one sort each instead of an update per row), in one transaction, then are opened
   * again as on a database in use. A failure stops the engine like a batch that failed.
   */
  private finishBuilding(): void {
    const db = this.db;
    if (!this.building || !db || this.failure) return;
    const started = performance.now();
    try {
      db.transaction(() => {
        for (const projection of this.projections) projection.finishBuild?.();
      })();
    } catch (error) {
      this.fail(
        new UnavailableError(
          `The read models stopped: the projection database${this.file ? ` ${this.file}` : ''} could not build its indexes ` +
            `(${error instanceof Error ? error.message : String(error)}). It is derived from the log: restart the server to build it again.`,
        ),
      );
      return;
    }
    this.building = false;
    endBuildPragmas(db);
    this.attach(db);
    this.reporter.info(`Projections: built the query indexes in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  /**
   * Applies the stored events after `after` up to `head`, read a page at a time (a read
   * of a page costs one call instead of one promise per event) and applied in batches of
   * up to {@link MAX_BATCH_EVENTS} (one commit each: fewer rewrites of the same pages).
   * Stops early (the subscription then goes on from the last
   * event applied) on an empty page, a full disk or a stop.
   */
  private async catchUp(after: Position | undefined, head: Position): Promise<void> {
    let cursor = after;
    let batch: RecordedEvent[] = [];
    while (!this.failure && !this.closed && !(cursor && comparePositions(cursor, head) >= 0)) {
      const page = await this.store.readAll({ ...(cursor ? { after: cursor } : {}), maxCount: CATCH_UP_PAGE_EVENTS });
      if (this.closed) return;
      batch = batch.length === 0 ? page : batch.concat(page);
      const last = page.length > 0 ? page[page.length - 1].position : undefined;
      const done = last === undefined || comparePositions(last, head) >= 0;
      // Pages are read small and applied together: one commit per MAX_BATCH_EVENTS, as the subscription's batches.
      if (batch.length > 0 && (done || batch.length >= MAX_BATCH_EVENTS)) {
        const error = this.commit(batch);
        if (error !== null) {
          if (!isDiskFull(error)) this.batchFailed(batch, error);
          return;
        }
        batch = [];
      }
      if (last === undefined) return;
      cursor = last;
      // Let timers and requests run between pages (progress lines, health answering 503 meanwhile).
      await nextTurn();
    }
  }

  private subscribe(after: Position | null | undefined): void {
    const subscription = this.store.subscribeAll(after ? { after } : {});
    this.subscription = subscription;
    void this.consume(subscription);
  }

  private progressText(head: Position): string {
    const at = this.position;
    return `${this.eventsApplied} events applied, at position ${at ? formatPosition(at) : 'start'} of ${formatPosition(head)} (${percentOf(at, head)}%)`;
  }

  /** Swaps a database built at start in for the one in use, once it caught up: one rename. */
  private install(building: string, file: string): void {
    const db = this.db;
    if (!db || this.failure) return;
    closeAndInstall(db, building, file);
    this.db = openProjectionDb(file);
    this.attach(this.db);
  }

  /**
   * Buffers events as the subscription hands them over and applies them in batches: a
   * batch is what arrived before the event loop turned (everything buffered), at most
   * {@link MAX_BATCH_EVENTS}.
   */
  private async consume(subscription: Subscription): Promise<void> {
    try {
      for await (const event of subscription) {
        this.buffer.push(event);
        if (this.buffer.length >= MAX_BATCH_EVENTS) {
          this.flush();
          // A full disk: read no further until the batch waiting for room is applied (memory stays bounded).
          while (this.retryTimer && !this.failure && !this.closed) await sleep(DISK_FULL_RETRY_MS / 4);
        } else if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(this.flushSoon);
        }
        if (this.failure) return;
      }
    } catch (error) {
      const cause = error instanceof Error ? error : new Error(String(error));
      this.fail(cause instanceof UnavailableError ? cause : new UnavailableError(`The read models stopped following the log (${cause.message}); restart the server once that is fixed`));
    }
  }

  private readonly flushSoon = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Applies what is buffered in one transaction, then tells waiters and listeners. */
  private flush(): void {
    if (this.buffer.length === 0 || this.failure || this.retryTimer || !this.applyBatch) return;
    const events = this.buffer.length > MAX_BATCH_EVENTS ? this.buffer.splice(0, MAX_BATCH_EVENTS) : this.buffer;
    if (events === this.buffer) this.buffer = [];
    const error = this.commit(events);
    if (error !== null) {
      this.batchFailed(events, error);
      return;
    }
    if (this.buffer.length >= MAX_BATCH_EVENTS) this.flush();
  }

  /** Applies `events` in one transaction with their checkpoint; on success tells waiters and listeners. Returns the error that rolled it back, or null. */
  private commit(events: RecordedEvent[]): unknown {
    try {
      this.applyBatch!(events);
    } catch (error) {
      for (const projection of this.projections) projection.rolledBack?.();
      return error ?? new Error('unknown error');
    }
    for (const projection of this.projections) projection.committed?.();
    this.identityPending = null;
    this.position = events[events.length - 1].position;
    this.eventsApplied += events.length;
    this.totalApplied += events.length;
    this.releaseWaiters();
    if (this.buildHead) this.tellBuildProgress();
    for (const listener of this.commitListeners) listener(events);
    this.scheduleNotify(events);
    return null;
  }

  /** The transaction's body: every projection applies every event, then the checkpoint is written. */
  private applyInTransaction(db: ProjectionDb, events: RecordedEvent[]): void {
    const projections = this.projections;
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      for (let p = 0; p < projections.length; p++) {
        try {
          projections[p].apply(event);
        } catch (error) {
          // The database's trouble (a full disk, a damaged file), not the event's: not blamed on it.
          if (isDiskFull(error) || isDatabaseDamage(error)) throw error;
          throw new ProjectionStoppedError(projections[p].name, event, error);
        }
      }
    }
    const last = events[events.length - 1];
    for (let p = 0; p < projections.length; p++) {
      try {
        projections[p].beforeCheckpoint?.();
      } catch (error) {
        if (isDiskFull(error) || isDatabaseDamage(error)) throw error;
        throw new ProjectionStoppedError(projections[p].name, last, error);
      }
    }
    if (this.identityPending) {
      // Cleared once the batch committed (flush): a rolled-back batch writes it again.
      setIdentity(db, { store: this.identityPending.store, firstEventId: events[0].id });
    }
    if (this.eventsApplied + events.length >= KILL_BEFORE_CHECKPOINT) killForTest();
    this.writeCheckpoint!(last.position, this.totalApplied + events.length);
  }

  /**
   * A batch that did not apply was rolled back whole. A full disk is waited out (the
   * batch is applied again once there is room); anything else stops the engine: an event
   * is never skipped.
   */
  private batchFailed(events: RecordedEvent[], error: unknown): void {
    if (isDiskFull(error)) {
      // Stopping: what is not applied now is applied again from the checkpoint at the next start.
      if (this.closed) return;
      this.buffer = events.concat(this.buffer);
      this.reporter.warn(`Projections: the disk is full, so ${events.length} events wait to be applied; trying again in ${DISK_FULL_RETRY_MS / 1000} s`);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.flush();
      }, DISK_FULL_RETRY_MS);
      return;
    }
    if (error instanceof ProjectionStoppedError) {
      this.fail(error);
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    if (isDatabaseDamage(error) && this.file !== null) {
      // Derived and damaged: marked, so that the next start rebuilds it instead of meeting the damage again
      // (it stays open meanwhile: what still reads from it fails on its own, not on a closed handle).
      writeFileSync(`${this.file}${DAMAGED_SUFFIX}`, `${message}\n`);
      this.fail(
        new UnavailableError(
          `The read models stopped: the projection database ${this.file} is damaged (SQLite: ${message}). ` +
            'It is derived from the log: restart the server, and it is rebuilt.',
        ),
      );
      return;
    }
    this.fail(
      new UnavailableError(
        `The read models stopped: the projection database${this.file ? ` ${this.file}` : ''} could not be written (${message}). ` +
          'It is derived from the log: restart the server, and if this comes back, remove the file to have it rebuilt.',
      ),
    );
  }

  private fail(error: UnavailableError): void {
    if (this.failure) return;
    this.failure = error;
    this.buffer = [];
    this.reporter.error(error.message);
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters = [];
    const subscription = this.subscription;
    this.subscription = null;
    void subscription?.close();
    this.scheduleNotify(null);
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0 || !this.position) return;
    const reached = this.position;
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (comparePositions(reached, waiter.position) >= 0) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }

  /** Marks the listeners `events` concern (null: every listener) and calls them after the current burst. */
  private scheduleNotify(events: readonly RecordedEvent[] | null): void {
    let any = false;
    for (const entry of this.listeners.values()) {
      entry.due ||= events === null || entry.concerns === null || events.some(entry.concerns);
      any ||= entry.due;
    }
    if (this.notifyScheduled || !any) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      for (const [listener, entry] of this.listeners) {
        if (!entry.due) continue;
        entry.due = false;
        listener();
      }
    });
  }
}

/**
 * Why a stored projection database cannot go on from its checkpoint, or null when it
 * can: a projection's version differs (or a projection still keeps its state in memory,
 * version 0), it was built from another log or store, or its checkpoint is beyond the
 * log's head (a log restored from an older backup).
 */
export function rebuildReason(
  projections: ReadonlyArray<Pick<Projection, 'name' | 'version'>>,
  state: StoredState,
  identity: LogIdentity,
  head: Position | null,
): string | null {
  const inMemory = projections.filter((p) => p.version === 0).map((p) => p.name);
  if (inMemory.length > 0) return `${inMemory.join(', ')} keep their state in memory (version 0), so every start replays the log`;
  const changed = projections.filter((p) => state.versions.get(p.name) !== p.version).map((p) => `${p.name} ${state.versions.get(p.name) ?? 'none'} → ${p.version}`);
  const gone = [...state.versions.keys()].filter((name) => !projections.some((p) => p.name === name));
  if (changed.length > 0 || gone.length > 0) return `projection versions changed (${[...changed, ...gone.map((name) => `${name} removed`)].join(', ')})`;
  if (!state.identity || state.identity.store !== identity.store) return `it was built from another store (${state.identity?.store ?? 'unknown'}, now ${identity.store})`;
  if (state.checkpoint !== null) {
    if (state.identity.firstEventId !== identity.firstEventId) return 'it was built from another log (its first event differs)';
    if (!head || comparePositions(state.checkpoint, head) > 0) {
      return `its checkpoint ${formatPosition(state.checkpoint)} is beyond the log's end ${head ? formatPosition(head) : '(empty)'} (a log restored from an older backup?)`;
    }
  }
  return null;
}

/** How far `at` is towards `head`, in whole percent (0–100): by commit position, which grows with the log's bytes on EventStoreDB. */
function percentOf(at: Position | null, head: Position): number {
  if (!at || head.commit <= 0n) return 0;
  return Math.min(100, Number((at.commit * 100n) / head.commit));
}

/** SQLite reporting a damaged file (`SQLITE_CORRUPT…`, `SQLITE_NOTADB`). */
function isDatabaseDamage(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
}

function killForTest(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL to oneself is delivered at once; never return into the transaction meanwhile.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}
