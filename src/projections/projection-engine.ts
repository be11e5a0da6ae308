import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import Database from 'better-sqlite3';
import { comparePositions, EventStore, type Position, type Subscription } from '../event-store/event-store.port';
import { UnavailableError } from '../shared/domain-errors';
import { PROJECTIONS, type Projection } from './projection';

/** How long a request waits for its own write to reach the read models before it gives up. */
const READ_YOUR_WRITES_TIMEOUT_MS = 10_000;

/**
 * Feeds every projection from one catch-up subscription to `$all`: at start it
 * replays the whole log, then follows it live. Callers that just appended wait
 * with {@link waitFor} so what they read reflects what they wrote.
 */
@Injectable()
export class ProjectionEngine implements OnApplicationShutdown {
  private readonly logger = new Logger(ProjectionEngine.name);
  private position: Position | null = null;
  private subscription: Subscription | null = null;
  private waiters: Array<{ position: Position; resolve: () => void; reject: (error: Error) => void }> = [];
  private readonly listeners = new Set<() => void>();
  private notifyScheduled = false;
  private failure: Error | null = null;
  private eventsApplied = 0;

  constructor(
    private readonly store: EventStore,
    @Inject(PROJECTIONS) private readonly projections: Projection[],
  ) {}

  /** Starts following the log and resolves once every event stored before the call is applied. */
  async start(): Promise<void> {
    // For now an in-memory database rebuilt at every start; the projection database file with checkpoints replaces it.
    const db = new Database(':memory:');
    for (const projection of this.projections) projection.open(db);
    const head = await this.store.headPosition();
    this.subscription = this.store.subscribeAll();
    void this.consume(this.subscription);
    if (head) await this.waitFor(head, Number.POSITIVE_INFINITY);
  }

  /** Resolves once the read models include the event at `position`. */
  waitFor(position: Position, timeoutMs = READ_YOUR_WRITES_TIMEOUT_MS): Promise<void> {
    if (this.failure) return Promise.reject(this.stopped(this.failure));
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

  /** Called (batched, after the current burst) whenever read models changed. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get appliedCount(): number {
    return this.eventsApplied;
  }

  get currentPosition(): Position | null {
    return this.position;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.close();
  }

  private async consume(subscription: Subscription): Promise<void> {
    try {
      for await (const event of subscription) {
        for (const projection of this.projections) {
          try {
            projection.apply(event);
          } catch (error) {
            // A projection bug must not stop the others or the log: report it and go on. Read models apply an
            // event whole or not at all, so this one keeps its state from before the event (docs/DESIGN.md).
            this.logger.error(`Projection ${projection.name} skipped ${event.type} at ${event.stream}@${event.revision}, which it could not apply: ${String(error)}`);
          }
        }
        this.position = event.position;
        this.eventsApplied++;
        this.releaseWaiters();
        this.scheduleNotify();
      }
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.logger.error(`The subscription to the log ended: ${this.failure.message}`);
      for (const waiter of this.waiters) waiter.reject(this.stopped(this.failure));
      this.waiters = [];
    }
  }

  /**
   * What a request is told once the read models stopped: the store's own explanation
   * when it gave one (a damaged log names its file and says what to do), else why it
   * stopped, since restarting alone helps only once the cause is gone.
   */
  private stopped(failure: Error): UnavailableError {
    if (failure instanceof UnavailableError) return failure;
    return new UnavailableError(`The read models stopped following the log (${failure.message}); restart the server once that is fixed`);
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

  private scheduleNotify(): void {
    if (this.notifyScheduled || this.listeners.size === 0) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      for (const listener of this.listeners) listener();
    });
  }
}
