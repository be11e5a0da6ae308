import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { EventStore } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';
import { RunsReadModel } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import { appendEvents, type DomainEvent } from '../shared/decide-and-append';
import { ConflictError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import { Mutex } from '../shared/mutex';
import { type ContactReport, decideContact, decideTimeout, isOnline, presenceTiming, type PresenceTiming } from './presence.decider';
import { type DisconnectReason, presenceStream, type RunnerKind } from './runner.events';
import { type RunnerRecord, RunnersReadModel } from './runners.read-model';

/** How often the sweep looks for runners gone silent, at most (ms). */
const SWEEP_MS = 5_000;
/** How often the local runner checks whether its lease is due, per lease: it renews within 1¼ leases (⅝ of the lost time). */
const LOCAL_TICKS_PER_LEASE = 4;

/**
 * Which runners are in contact, known the same way to every server sharing a store:
 * through the log. The protocol calls {@link contact} on each request from a job server
 * and each server calls it for its own local runner; only a change (connected, new labels,
 * version or capacity) or a due lease renewal (see `presenceTiming`) is recorded, so a
 * runner in steady contact costs one event a minute. Each server also sweeps: a connected
 * runner silent for `ENDERCOMPUTE_RUNNER_LOST_SECONDS` is recorded as timed out (once:
 * the append expects the presence stream's last revision, so servers racing to record it
 * agree on one event).
 */
@Injectable()
export class RunnerPresence {
  private readonly logger = new Logger(RunnerPresence.name);
  readonly timing: PresenceTiming;
  /** When this server last heard from each runner (ms since the epoch): fresher than the log between lease renewals. */
  private readonly heard = new Map<string, number>();
  /** What each runner said it executes in its latest request to this server (see {@link lastReport}). */
  private readonly reported = new Map<string, { running: ReadonlySet<string>; at: number }>();
  private readonly locks = new Map<string, Mutex>();
  private localTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  /** Set once {@link start} recorded the local runner (if this server has one). */
  private started = false;

  constructor(
    private readonly config: AppConfig,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly projections: ProjectionEngine,
    private readonly runners: RunnersReadModel,
    private readonly runs: RunsReadModel,
  ) {
    this.timing = presenceTiming(config.runnerLostSeconds);
  }

  /**
   * A runner was in contact now: records `RunnerConnected` or `RunnerSeen` when due (see
   * `decideContact`), and returns once the read model shows it. A runner named like this
   * server's runner id is this server's local runner; any other is remote. Does nothing
   * for a revoked runner. Contacts of one runner are handled one at a time.
   */
  contact(name: string, report: ContactReport): Promise<void> {
    return this.lockOf(name).run(async () => {
      if (this.isRevoked(name)) return;
      const now = this.clock.now();
      this.heard.set(name, now.getTime());
      this.reported.set(name, { running: new Set(report.running), at: now.getTime() });
      const event = decideContact(this.runners.get(name), name, this.kindOf(name), report, now, this.timing);
      if (event) await this.record(name, [event], 'any', this.runnerContext(name));
    });
  }

  /** The runner said goodbye (it is stopping): recorded offline now rather than after the lost time. */
  disconnect(name: string): Promise<void> {
    return this.end(name, 'goodbye', this.runnerContext(name));
  }

  /** Called when a person revoked the runner: recorded offline, by them. */
  revoked(name: string, context: CommandContext): Promise<void> {
    return this.end(name, 'revoked', context);
  }

  /**
   * The runs a runner said it executes in its latest request to this server, and when it
   * came (ms since the epoch, this server's clock); null when it has not talked to this
   * server since it started. Not shared with other servers: only the one a runner talks to
   * knows what it says.
   */
  lastReport(name: string): { running: ReadonlySet<string>; at: number } | null {
    return this.reported.get(name) ?? null;
  }

  /**
   * When the runner was last in contact: the latest of what the log records (the same on
   * every server sharing the store, to within a lease) and of what this server heard itself.
   */
  lastContactAt(name: string): Date | null {
    const ms = this.lastContactMs(name);
    return ms === null ? null : new Date(ms);
  }

  /**
   * The runners online now, by name: connected in the log and heard from within the lost
   * time (local runners of every server sharing the store included), and always this
   * server's own local runner once presence started, unless `ENDERCOMPUTE_LOCAL_RUNNER=false`
   * (it is online while this process runs, whatever the log has caught up with).
   * Placement reads it through the `OnlineRunners` port.
   */
  online(): Array<{ name: string; kind: RunnerKind; labels: string[] }> {
    const now = this.clock.now();
    const online = this.runners
      .list()
      .filter((record) => record.kind !== null && record.name !== this.config.runnerId && isOnline(record, this.lastContactMs(record.name, record), now, this.timing))
      .map((record) => ({ name: record.name, kind: record.kind as RunnerKind, labels: record.labels }));
    if (this.started && this.config.localRunner) online.push({ name: this.config.runnerId, kind: 'local', labels: [...this.config.runnerLabels] });
    return online.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * How many job servers (remote runners) are connected to this server: heard by it within
   * the lost time and not recorded offline since. A job server talks to one server at a
   * time, so the sum over the servers sharing a store counts each once (the metrics gauge).
   */
  connectedHere(): number {
    const now = this.clock.now().getTime();
    let count = 0;
    for (const [name, heardAt] of this.heard) {
      if (now - heardAt >= this.timing.lostMs || name === this.config.runnerId) continue;
      if (this.runners.get(name)?.connected) count++;
    }
    return count;
  }

  /** Whether a runner registered through the API was revoked (and not registered again since). */
  isRevoked(name: string): boolean {
    const record = this.runners.get(name);
    return record !== null && record.revokedAt !== null && !record.registered;
  }

  /**
   * Starts recording this server's local runner (unless `ENDERCOMPUTE_LOCAL_RUNNER=false`)
   * and sweeping for silent runners; called at start, after recovery.
   */
  async start(): Promise<void> {
    if (this.config.localRunner) {
      await this.contactLocal();
      // A quarter of the lease, not the lease: a renewal is due only once the lease has fully
      // run since the last one was recorded (a few ms after its tick), so ticking at the lease
      // itself renewed every other tick, at the lost time, and other servers timed it out.
      this.localTimer = setInterval(() => void this.contactLocal(), Math.max(1, Math.floor(this.timing.leaseMs / LOCAL_TICKS_PER_LEASE)));
      this.localTimer.unref();
    }
    this.started = true;
    this.sweepTimer = setInterval(() => void this.sweep(), Math.min(SWEEP_MS, this.timing.leaseMs));
    this.sweepTimer.unref();
  }

  /** Stops the timers and records the local runner's goodbye; called at a stop, before the log closes. */
  async stop(): Promise<void> {
    if (this.localTimer) clearInterval(this.localTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.localTimer = this.sweepTimer = null;
    const started = this.started;
    this.started = false;
    // Stopped during the start: this runner never said it was here (the next start's recovery settles the last one's).
    if (!started) return;
    await this.sweeping;
    if (this.runners.get(this.config.runnerId)?.connected) await this.disconnect(this.config.runnerId).catch((error: unknown) => this.warn('the goodbye', error));
  }

  /** Records a time-out for every connected runner silent for the lost time. */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const now = this.clock.now();
    for (const record of this.runners.list()) {
      const event = decideTimeout(record, this.lastContactMs(record.name, record), now, this.timing);
      if (!event) continue;
      try {
        await this.lockOf(record.name).run(async () => {
          const [last] = await this.store.readStream(presenceStream(record.name), { direction: 'backwards', maxCount: 1 });
          if (!last || last.type === 'RunnerDisconnected') return;
          await this.record(record.name, [event], last.revision, { actor: 'system', source: 'system', correlationId: this.ids.newEventId(), causationId: null });
          this.logger.warn(`The runner ${record.name} was not heard from for ${this.config.runnerLostSeconds} s: it is offline`);
        });
      } catch (error) {
        // Another server recorded it first: one time-out is enough.
        if (!(error instanceof ConflictError)) this.warn(`recording that ${record.name} timed out`, error);
      }
    }
  }

  private end(name: string, reason: DisconnectReason, context: CommandContext): Promise<void> {
    return this.lockOf(name).run(async () => {
      this.heard.delete(name);
      if (!this.runners.get(name)?.connected) return;
      await this.record(name, [{ type: 'RunnerDisconnected', data: { name, reason } }], 'any', context);
    });
  }

  private async contactLocal(): Promise<void> {
    const report: ContactReport = {
      labels: [...this.config.runnerLabels],
      softwareVersion: this.config.version,
      maxConcurrent: this.config.maxConcurrentRuns,
      running: this.runs.executingRuns(this.config.runnerId).map((run) => run.id),
    };
    await this.contact(this.config.runnerId, report).catch((error: unknown) => this.warn("the local runner's presence", error));
  }

  private async record(name: string, events: DomainEvent[], expected: 'any' | bigint, context: CommandContext): Promise<void> {
    const result = await appendEvents({ store: this.store, clock: this.clock, ids: this.ids }, presenceStream(name), events, expected, context);
    await this.projections.waitFor(result.position);
  }

  /** `record`: the runner's read-model record when the caller has it already (saves reading it again). */
  private lastContactMs(name: string, record?: RunnerRecord | null): number | null {
    const recorded = (record === undefined ? this.runners.get(name) : record)?.lastContactAt ?? null;
    const logged = recorded === null ? null : Date.parse(recorded);
    const heard = this.heard.get(name) ?? null;
    if (logged === null) return heard;
    return heard === null ? logged : Math.max(logged, heard);
  }

  private kindOf(name: string): RunnerKind {
    return name === this.config.runnerId ? 'local' : 'remote';
  }

  private runnerContext(name: string): CommandContext {
    return { actor: name, source: 'runner', correlationId: this.ids.newEventId(), causationId: null };
  }

  private lockOf(name: string): Mutex {
    let lock = this.locks.get(name);
    if (!lock) this.locks.set(name, (lock = new Mutex()));
    return lock;
  }

  private warn(what: string, error: unknown): void {
    this.logger.warn(`Recording ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
