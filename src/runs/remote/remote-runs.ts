import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { EventStore, type Position } from '../../event-store/event-store.port';
import { ProjectionEngine } from '../../projections/projection-engine';
import { canTake } from '../../runners/placement';
import { Clock } from '../../shared/clock';
import type { CommandContext } from '../../shared/command-context';
import { ConflictError, GoneError, NotFoundError } from '../../shared/domain-errors';
import { IdGenerator } from '../../shared/ids';
import { Mutex } from '../../shared/mutex';
import { OutputEncoder } from '../output-encoding';
import { MAX_BATCH_BYTES_LIMIT } from '../runner/process-runner';
import type { FinishedStatus } from '../run.events';
import { RunsReadModel, type RunRecord } from '../runs.read-model';
import type { RunSpecification } from '../runner/execute-run';
import { JobConcurrency } from '../execution/job-concurrency';
import { RunExecutor } from '../execution/run-executor';
import { removedJobReason } from '../execution/removed-job';
import { RunWriter } from '../execution/run-writer';
import { endLost } from '../run.decider';
import { storeOutput } from '../execution/store-output';

/** Output bytes per stored batch of an upload: the local runner's batch size. */
const UPLOAD_BATCH_BYTES = MAX_BATCH_BYTES_LIMIT;
/** How many queued runs are read at once while looking for one a runner may take. */
const QUEUE_PAGE = 50;
/** How long a claim keeps its job's place when the read models are too slow to show it (see `releaseWhenShown`). */
const CLAIM_HOLD_MS = 10_000;
/** The longest a claim or control request is held open (seconds) when nothing is there to answer. */
export const MAX_WAIT_SECONDS = 25;

/** What a job server executes: the run's specification and the work directory recorded for it. */
export interface ClaimedRun {
  run: RunSpecification & { workdir: string };
}

/** What the server wants of one run a job server executes. */
export interface WantedRun {
  id: string;
  paused: boolean;
  /** Who asked to cancel it, or null. */
  cancelledBy: string | null;
  /** Set when the run has ended without the runner (lost, revoked, or executed by another runner): the runner kills it and reports nothing more. */
  ended: { status: FinishedStatus | 'unknown'; reason: string | null } | null;
}

/** How a job server says one of its runs ended (see `RunOutcome`), with the bytes of output it produced in all. */
export interface RemoteEnd {
  /** `lost`: the job server lost the run's processes (it restarted while they ran). */
  status: 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'lost';
  exitCode: number | null;
  signal: string | null;
  droppedBytes: number;
  reason: string | null;
  outputBytes: number;
}

/** Thrown when an upload or end does not continue where the server's copy of the output ends; `offset` is where it does. */
export class OffsetMismatch extends ConflictError {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The server side of the runner protocol (`/api/runner/…`): a job server claims runs,
 * reports their start, uploads their output at byte offsets, reports their end, and
 * learns what is wanted of them (pause, resume, cancel, lost).
 *
 * Everything is recorded with the same commands and events as the local runner's
 * (a claim is an append with the expected revision, so of every runner on every
 * server sharing the store exactly one wins a run); output goes through the same
 * encoder into the same output events, so viewers and readers see no difference.
 *
 * Uploads are idempotent: the server holds a run's output up to an offset (the log's);
 * an upload from an earlier offset has its known part skipped, one beyond it is refused
 * with the offset held, so the runner resends from there. Per run, uploads are handled
 * one at a time on this server; across servers the output stream's expected revision
 * keeps a second writer out.
 */
@Injectable()
export class RemoteRuns implements BeforeApplicationShutdown {
  private readonly logger = new Logger(RemoteRuns.name);
  private readonly deps: { store: EventStore; clock: Clock; ids: IdGenerator };
  /** Per run this server took output for: its writer (the stream's state in memory), encoder and lock. */
  private readonly writers = new Map<string, { writer: RunWriter | null; encoder: OutputEncoder; lock: Mutex }>();
  /** Claims being made, per runner: a goodbye waits for them (see {@link endUnstarted}). */
  private readonly claimsUnderWay = new Map<string, Set<Promise<{ position: Position | null } | null>>>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly config: AppConfig,
    store: EventStore,
    clock: Clock,
    ids: IdGenerator,
    private readonly runs: RunsReadModel,
    private readonly projections: ProjectionEngine,
    private readonly executor: RunExecutor,
    private readonly concurrency: JobConcurrency,
  ) {
    this.deps = { store, clock, ids };
  }

  /** Before the HTTP server closes: held claims and control requests answer now, so they do not hold the stop up. */
  beforeApplicationShutdown(): void {
    this.stopping.abort();
  }

  /**
   * Claims the first queued run `runner` may take (its labels cover the run's `runsOn`,
   * its job is under `maxConcurrent`), waiting up to `waitSeconds` for one; null when
   * none came. `workRoot` is the runner's folder for work directories. `allowed` is
   * asked before each claim: a request held open across a revocation of its token
   * passed the guard before it, and must take nothing after it (a claim's answer hands
   * over the run's script, environment and files). `revoked` says whether the runner's
   * token was revoked: asked again once a claim is recorded, since a revocation
   * recorded while the claim was being appended did not see the claim.
   */
  async claim(
    runner: string,
    labels: readonly string[],
    workRoot: string,
    waitSeconds: number,
    allowed: () => boolean = () => true,
    revoked: () => boolean = () => false,
  ): Promise<ClaimedRun | null> {
    const deadline = Date.now() + this.holdSeconds(waitSeconds) * 1000;
    // Who claims, for the job places it reserves (see JobConcurrency.reserve).
    const claimer = {};
    for (;;) {
      // Listening before looking: a run requested while the queue is being read wakes this at once, and so does a
      // job's place freed without a change in the log (a claim that failed elsewhere here, a local run's end).
      const changed = this.nextChange(deadline - Date.now(), { placeFreedFor: claimer });
      const claimed = await this.claimOne(runner, labels, workRoot, allowed, revoked, claimer).catch((error: unknown) => {
        changed.cancel();
        throw error;
      });
      if (claimed !== null || Date.now() >= deadline || this.stopping.signal.aborted || !allowed()) {
        changed.cancel();
        return claimed;
      }
      await changed.promise;
    }
  }

  /**
   * What the server wants of these runs of `runner`, and the runs it claimed but does
   * not report (a claim whose answer was lost on the way: the runner starts them now,
   * rather than leave them claimed for ever). Answers at once when either differs
   * from what the runner says it applied (`reported`); otherwise after the next
   * change, or after `waitSeconds` with the same.
   */
  async control(
    runner: string,
    reported: ReadonlyArray<{ id: string; paused: boolean; cancelling: boolean }>,
    waitSeconds: number,
  ): Promise<{ runs: WantedRun[]; claimed: Array<ClaimedRun['run']> }> {
    const deadline = Date.now() + this.holdSeconds(waitSeconds) * 1000;
    const known = new Set(reported.map((run) => run.id));
    for (;;) {
      const changed = this.nextChange(deadline - Date.now());
      const wanted = reported.map((run) => this.wanted(runner, run.id));
      // Only runs never started: one the runner started is one it knows (or one it finished, still shown running here for a moment).
      const claimed = this.runs
        .executingRuns(runner)
        .filter((run) => run.phase === 'claimed' && !known.has(run.id))
        .map((run) => ({ ...this.executor.specificationOf(run), workdir: run.workdir ?? '' }));
      const differs = wanted.some((want, index) => {
        const have = reported[index];
        // A run the runner is ending (a time limit, a stop) cannot be paused any more: no difference it could act on.
        const pauseDiffers = want.paused !== have.paused && !have.cancelling;
        return want.ended !== null || pauseDiffers || (want.cancelledBy !== null && !have.cancelling);
      });
      if (differs || claimed.length > 0 || Date.now() >= deadline || this.stopping.signal.aborted) {
        changed.cancel();
        return { runs: wanted, claimed };
      }
      await changed.promise;
    }
  }

  /** The specification of a run `runner` claimed (to start it again after the runner lost the claim's answer). */
  async specification(runner: string, runId: string): Promise<ClaimedRun> {
    const run = await this.ownRun(runner, runId);
    return { run: { ...this.executor.specificationOf(run), workdir: run.workdir ?? '' } };
  }

  /**
   * The content of an input file of a run `runner` executes, by its sha256 (the runner
   * caches files by it). 404 for a file the run does not have.
   */
  async fileOf(runner: string, runId: string, sha256: string): Promise<{ name: string; size: number; sha256: string }> {
    const run = await this.ownRun(runner, runId);
    const file = run.snapshot.files.find((candidate) => candidate.sha256 === sha256);
    if (!file) throw new NotFoundError(`Run ${runId} has no input file with sha256 ${sha256}`);
    return file;
  }

  /** Records that the run's process started on `runner` (repeated reports are acknowledged). */
  async started(runner: string, runId: string, report: { pid: number; processStartTicks: string | null; workdir: string }): Promise<void> {
    await this.withWriter(runner, runId, async (writer) => {
      if (writer.current.phase === 'running' || writer.current.phase === 'paused') return;
      await writer.record({ type: 'StartRun', runId, runner, pid: report.pid, processStartTicks: report.processStartTicks, workdir: report.workdir });
    });
  }

  /**
   * Takes output bytes that start at `offset` of the run's output, as they arrive
   * (`chunks`: the request body). Bytes the server holds already are skipped (a
   * repeated or overlapping upload); the rest are cut into batches of up to 4 MiB,
   * each compressed as soon as it is complete while the one before it is stored (the
   * local runner's pipeline), and stored as output events. Resolves with the offset
   * the server holds afterwards (a failure part-way keeps what was stored: the runner
   * sends the rest again from the offset it is told next).
   *
   * @throws OffsetMismatch (409) when `offset` is beyond the output held (a gap).
   * @throws GoneError (410) when the run has ended (lost, cancelled before it started) or is not the runner's.
   */
  async append(runner: string, runId: string, offset: number, chunks: AsyncIterable<Buffer>): Promise<number> {
    return this.withWriter(runner, runId, async (writer, encoder) => {
      const held = writer.current.outputBytes;
      if (offset > held) throw new OffsetMismatch(held, `The server holds ${held} bytes of run ${runId}'s output: send from there, not from ${offset}`);
      let skip = held - offset;
      let next = held;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let stored: Promise<void> = Promise.resolve();
      let waiting = 0;
      const seal = (): void => {
        const bytes = Buffer.concat(pending, pendingBytes);
        const batch = { offset: next, bytes, prepared: encoder.encode(bytes) };
        batch.prepared.catch(() => undefined);
        next += bytes.length;
        pending = [];
        pendingBytes = 0;
        waiting++;
        stored = stored
          .then(() => {
            // Ended meanwhile (the lost rule, a revocation): what is left of the upload is not the run's output.
            if (this.runs.get(runId)?.phase === 'finished') throw new GoneError(`Run ${runId} has ended: stop it`);
            return storeOutput(writer, encoder, this.deps.store.kind, [batch]);
          })
          .finally(() => waiting--);
        stored.catch(() => undefined);
      };
      for await (const received of chunks) {
        let chunk = received;
        if (skip > 0) {
          const skipped = Math.min(skip, chunk.length);
          chunk = chunk.subarray(skipped);
          skip -= skipped;
        }
        if (chunk.length === 0) continue;
        if (writer.current.phase !== 'running' && writer.current.phase !== 'paused') throw new ConflictError(`Run ${runId} has not started: report its start first`);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= UPLOAD_BATCH_BYTES) {
          seal();
          // Reading waits while two batches wait to be stored: memory stays bounded.
          if (waiting >= 2) await stored;
        }
      }
      if (pendingBytes > 0) seal();
      await stored;
      return writer.current.outputBytes;
      // Not tried again after a conflict: the body is read once.
    }, false, false);
  }

  /**
   * Records how the run ended, once the server holds all its output (`outputBytes`).
   * A repeated report of an end already recorded is acknowledged.
   *
   * @throws OffsetMismatch (409) while output is missing: the runner uploads from that offset and reports again.
   */
  async finish(runner: string, runId: string, end: RemoteEnd): Promise<FinishedStatus> {
    const status = await this.withWriter(runner, runId, async (writer) => {
      const held = writer.current.outputBytes;
      if (held < end.outputBytes) throw new OffsetMismatch(held, `The server holds ${held} of the ${end.outputBytes} bytes of run ${runId}'s output: send the rest first`);
      await writer.record({ type: 'FinishRun', runId, status: end.status, exitCode: end.exitCode, signal: end.signal, droppedBytes: end.droppedBytes, reason: end.reason });
      return end.status;
    }, true);
    this.writers.delete(runId);
    return status;
  }

  /**
   * `runner` said goodbye: each run it claimed and never started, and does not list in
   * `listed` (its report's runs), ends `lost` now, saying so, rather than once the lost time
   * has passed. Such a run's claim answer never reached it, or it stopped before it could
   * report the run untaken; a job server stops only once the end of every run it knows is
   * acknowledged. Started runs are left to the lost rule. Returns the ids of the runs ended.
   */
  async endUnstarted(runner: string, listed: ReadonlySet<string>): Promise<string[]> {
    const reason = `Its job server ${runner} stopped without starting it`;
    const ended: string[] = [];
    // A claim still being appended (its request given up by the job server as it stopped) is one of its runs too.
    await this.claimsSettled(runner);
    for (const run of this.runs.executingRuns(runner)) {
      if (run.phase !== 'claimed' || listed.has(run.id)) continue;
      // Decided against the run's stream as the append finds it: a run started meanwhile is a conflict, and stays.
      const position = await this.withWriter(runner, run.id, (writer) => writer.record(endLost(run.id, reason, { unlessStarted: true })), false, false).catch((error: unknown) => {
        // Started or ended meanwhile, or not this runner's any more: nothing to end.
        if (error instanceof ConflictError || error instanceof GoneError || error instanceof NotFoundError) return null;
        throw error;
      });
      if (position) {
        this.writers.delete(run.id);
        await this.projections.waitFor(position);
        ended.push(run.id);
      }
    }
    return ended;
  }

  /**
   * Runs `work` (an artifact upload) for a run `runner` executes and has not reported
   * finished, one request at a time per run on this server, with the run's context.
   *
   * @throws GoneError (410) when the run has ended or is not the runner's.
   */
  whileExecuting<T>(runner: string, runId: string, work: (context: CommandContext) => Promise<T>): Promise<T> {
    return this.withWriter(runner, runId, async () => {
      const record = this.runs.get(runId);
      return work(record ? this.contextOf(record) : { actor: 'runner', source: 'runner', correlationId: runId, causationId: null });
    }, false, false);
  }

  /** The first run `runner` may take, claimed; null when there is none. */
  private async claimOne(
    runner: string,
    labels: readonly string[],
    workRoot: string,
    allowed: () => boolean,
    revoked: () => boolean,
    claimer: object,
  ): Promise<ClaimedRun | null> {
    const now = this.deps.clock.now();
    let after: RunRecord | undefined;
    for (;;) {
      const page = this.runs.queuedFor(labels, now, QUEUE_PAGE, after);
      for (const run of page) {
        if (!canTake(labels, run.runsOn) || this.concurrency.isStale(run.id) || !this.concurrency.hasRoom(run)) continue;
        if (!allowed()) return null;
        // Its place under its job's limit is held from here until the read model shows the claim (or it failed).
        const release = this.concurrency.reserve(run, claimer);
        let claimed: Awaited<ReturnType<RemoteRuns['tryClaim']>> = null;
        try {
          claimed = await this.underWay(runner, this.tryClaim(run, runner, labels, workRoot, allowed, revoked));
        } finally {
          if (claimed === null) release();
        }
        if (claimed) {
          this.releaseWhenShown(claimed.position, release);
          return claimed.answer;
        }
      }
      if (page.length < QUEUE_PAGE) return null;
      after = page[page.length - 1];
    }
  }

  /** Claims `run` for `runner`: the answer and the claim's position, or null when it was not claimed (or was ended at once). */
  private async tryClaim(
    run: RunRecord,
    runner: string,
    labels: readonly string[],
    workRoot: string,
    allowed: () => boolean,
    revoked: () => boolean,
  ): Promise<{ answer: ClaimedRun; position: Position | null } | null> {
    const writer = await RunWriter.load(this.deps, run.id, this.contextOf(run));
    if (writer === null) return this.takenInLog(run);
    const removed = await removedJobReason(this.deps.store, run.jobId);
    if (removed !== null) {
      // As on the local runner: a run of a removed job never starts.
      await writer.record({ type: 'FinishRun', runId: run.id, status: 'cancelled', exitCode: null, signal: null, droppedBytes: 0, reason: removed }).catch((error: unknown) => {
        if (!(error instanceof ConflictError)) throw error;
      });
      return this.takenInLog(run);
    }
    const workdir = `${workRoot.replace(/\/+$/, '')}/${run.id}`;
    // Asked again after the reads above: a revocation recorded meanwhile wins.
    if (!allowed()) return null;
    let position: Position | null;
    try {
      position = await writer.record({ type: 'ClaimRun', runId: run.id, runner, runnerLabels: labels, workdir, now: this.deps.clock.now().toISOString(), remote: true });
    } catch (error) {
      // Another runner (here or on another server) won it, or it changed: not an error.
      if (error instanceof ConflictError) return this.takenInLog(run);
      throw error;
    }
    if (revoked()) {
      // Revoked while the claim was appended: the revocation ended the runner's runs before its read model showed
      // this one. It ends the same way here, and the revoked runner is handed nothing.
      const ended = await writer.record(endLost(run.id, `Its runner "${runner}" was revoked`)).catch((error: unknown) => {
        if (!(error instanceof ConflictError)) throw error;
        return null;
      });
      if (ended) await this.projections.waitFor(ended).catch(() => undefined);
      return this.takenInLog(run);
    }
    this.writers.set(run.id, { writer, encoder: new OutputEncoder(), lock: new Mutex() });
    this.logger.log(`Run ${run.id} was claimed by job server ${runner}`);
    return { answer: { run: { ...this.executor.specificationOf(run), workdir } }, position };
  }

  /** Keeps `attempt`, a claim by `runner`, among its claims under way until it settles (see {@link claimsSettled}). */
  private underWay<T extends { position: Position | null } | null>(runner: string, attempt: Promise<T>): Promise<T> {
    let attempts = this.claimsUnderWay.get(runner);
    if (!attempts) this.claimsUnderWay.set(runner, (attempts = new Set()));
    attempts.add(attempt);
    const settled = (): void => {
      attempts.delete(attempt);
      if (attempts.size === 0 && this.claimsUnderWay.get(runner) === attempts) this.claimsUnderWay.delete(runner);
    };
    attempt.then(settled, settled);
    return attempt;
  }

  /** Resolves once every claim by `runner` under way now has settled and the read models show those recorded. */
  private async claimsSettled(runner: string): Promise<void> {
    const outcomes = await Promise.allSettled([...(this.claimsUnderWay.get(runner) ?? [])]);
    for (const outcome of outcomes) {
      const position = outcome.status === 'fulfilled' ? outcome.value?.position : null;
      if (position) await this.projections.waitFor(position).catch(() => undefined);
    }
  }

  /** A claim found `run` already taken (or ended) in the log: skipped until the read models show it (see JobConcurrency.markStale). */
  private takenInLog(run: RunRecord): null {
    this.concurrency.markStale(run.id);
    return null;
  }

  private wanted(runner: string, runId: string): WantedRun {
    const run = this.runs.get(runId);
    // Not (yet) in this server's read model (it follows the log a moment behind another's): nothing to say about it yet.
    if (!run) return { id: runId, paused: false, cancelledBy: null, ended: null };
    if (run.runner !== null && run.runner !== runner) {
      return { id: runId, paused: false, cancelledBy: null, ended: { status: 'unknown', reason: `Run ${runId} is executed by ${run.runner}` } };
    }
    const ended = run.phase === 'finished' ? { status: run.finishedStatus ?? ('unknown' as const), reason: run.reason } : null;
    return { id: runId, paused: run.phase === 'paused', cancelledBy: run.cancelRequestedBy, ended };
  }

  /**
   * A run claimed by `runner`: what it executes from the read model (requested long
   * before), who claimed it from the log (the read model may not show a claim made a
   * moment ago, and the runner asks for the run's files right after its claim).
   */
  private async ownRun(runner: string, runId: string): Promise<RunRecord> {
    const run = this.runs.get(runId);
    if (!run) throw new NotFoundError(`Run ${runId} does not exist`);
    if (run.runner === runner) return run;
    const state = this.writers.get(runId)?.writer?.current ?? (await RunWriter.load(this.deps, runId, this.contextOf(run)))?.current;
    if (state?.runner !== runner) throw new GoneError(`Run ${runId} is not claimed by runner ${runner}`);
    return run;
  }

  /**
   * Gives a claim's place under its job's limit back once the read models count the claim
   * (`position`). Not awaited: the claim's answer does not wait for it. Should the engine's
   * wait give up (read models far behind), the place is held {@link CLAIM_HOLD_MS} more.
   */
  private releaseWhenShown(position: Position | null, release: () => void): void {
    if (position === null) return release();
    this.projections.waitFor(position).then(release, () => setTimeout(release, CLAIM_HOLD_MS).unref());
  }

  /**
   * Runs `work` with the run's writer, one request at a time per run. The writer is
   * loaded from the log when this server has none (after a restart, or another server
   * took the earlier requests) and again after a conflict (someone else wrote the
   * stream: read what is there and, with `retry`, decide again once).
   */
  private withWriter<T>(runner: string, runId: string, work: (writer: RunWriter, encoder: OutputEncoder) => Promise<T>, finishing = false, retry = true): Promise<T> {
    let entry = this.writers.get(runId);
    if (!entry) {
      entry = { writer: null, encoder: new OutputEncoder(), lock: new Mutex() };
      this.writers.set(runId, entry);
    }
    const held = entry;
    return held.lock.run(async () => {
      for (let attempt = 0; ; attempt++) {
        // Ended meanwhile by someone else (the lost rule, a revocation): this writer's state is stale.
        if (held.writer !== null && held.writer.current.phase !== 'finished' && this.runs.get(runId)?.phase === 'finished') held.writer = null;
        if (held.writer === null) {
          const record = this.runs.get(runId);
          held.writer = await RunWriter.load(this.deps, runId, record ? this.contextOf(record) : { actor: 'runner', source: 'runner', correlationId: runId, causationId: null });
        }
        const writer = held.writer;
        if (writer === null) {
          this.writers.delete(runId);
          throw new NotFoundError(`Run ${runId} does not exist`);
        }
        const state = writer.current;
        if (state.runner !== runner || !state.remote) {
          this.writers.delete(runId);
          throw new GoneError(`Run ${runId} is not claimed by runner ${runner}: stop it`);
        }
        if (state.phase === 'finished') {
          this.writers.delete(runId);
          // A repeated end report: acknowledged. Anything else about a finished run: it is over.
          if (finishing) return state.finishedStatus as T;
          throw new GoneError(`Run ${runId} has ended (${state.finishedStatus}): stop it`);
        }
        try {
          return await work(writer, held.encoder);
        } catch (error) {
          if (!(error instanceof ConflictError) || error instanceof OffsetMismatch) throw error;
          // The streams moved on under this writer (another server, the lost rule): read them again, now or at the next request.
          held.writer = null;
          if (!retry || attempt > 0) throw error;
        }
      }
    });
  }

  /**
   * How long a request may be held: what the runner asked, at most 25 s, and at most a
   * third of the lost time (a held request is contact only when it arrives).
   */
  private holdSeconds(asked: number): number {
    return Math.min(asked, MAX_WAIT_SECONDS, this.config.runnerLostSeconds / 3);
  }

  /**
   * The next change of the read models, listened for from now: `promise` resolves on
   * it (or, with `placeFreedFor`, on a job's place freed without one: a reservation
   * given back by another claimer than this one, see JobConcurrency, or the end of a run
   * this server's runner executed), after `ms`, or when the server stops; `cancel` stops
   * listening.
   */
  private nextChange(ms: number, options: { placeFreedFor?: object } = {}): { promise: Promise<void>; cancel: () => void } {
    let cancel = (): void => undefined;
    const promise = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        this.stopping.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      const claimer = options.placeFreedFor;
      const unsubscribes = [this.projections.onChange(done)];
      if (claimer !== undefined) unsubscribes.push(this.concurrency.onRelease(done, claimer), this.executor.onRunEnded(done));
      const unsubscribe = (): void => unsubscribes.forEach((stop) => stop());
      this.stopping.signal.addEventListener('abort', done);
      cancel = done;
    });
    return { promise, cancel };
  }

  private contextOf(run: RunRecord): CommandContext {
    return { actor: 'runner', source: 'runner', correlationId: run.correlationId, causationId: run.requestEventId };
  }
}

/** Checks the numbers of a reported end. */
export function endProblems(end: Partial<RemoteEnd>): string[] {
  const problems: string[] = [];
  if (!['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'].includes(String(end.status))) problems.push('status must be succeeded, failed, cancelled, timed_out or lost');
  if (end.exitCode !== null && !Number.isInteger(end.exitCode)) problems.push('exitCode must be a whole number or null');
  if (end.signal !== null && typeof end.signal !== 'string') problems.push('signal must be a string or null');
  if (!Number.isSafeInteger(end.droppedBytes) || (end.droppedBytes ?? -1) < 0) problems.push('droppedBytes must be a whole number from 0');
  if (!Number.isSafeInteger(end.outputBytes) || (end.outputBytes ?? -1) < 0) problems.push('outputBytes must be a whole number from 0');
  if (end.reason !== null && typeof end.reason !== 'string') problems.push('reason must be a string or null');
  return problems;
}
