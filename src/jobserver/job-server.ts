/**
 * The job server (`endercompute runner`): the execution module (`executeRun`) plus a
 * transport that speaks the runner protocol over HTTP(S) out. It claims runs its
 * labels allow, executes them exactly as a server's local runner does, writes their
 * output to a spool on its own disk and uploads it from there, and follows what the
 * server wants of them (pause, resume, cancel, lost).
 *
 * A lost connection loses nothing: runs keep running, output keeps going to the spool,
 * and every request is retried with backoff until the server answers; the server
 * answers the offset it holds, so each byte is stored once and in order.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { executeRun, failedOutcome, type Execution, type ExecutionSettings, type ExecutionTransport, type RunOutcome } from '../runs/runner/execute-run';
import type { ArtifactCollection } from '../runs/runner/artifact-collector';
import type { ProcessStarted } from '../runs/runner/runner.types';
import { processExists } from '../shared/process-exists';
import { removeTree } from '../shared/remove-tree';
import { OffsetAnswer, Refused, RunGone, RunnerClient, TokenRefused, Unreachable, UPLOAD_BYTES, type ClaimedSpec, type WantedRun } from './runner-client';
import { Backoff } from './backoff';
import { endLeftoverRuns, findLeftoverRuns, forgetStart, markStarted, type LeftoverRun } from './leftover-runs';
import { Spool } from './spool';

export interface JobServerOptions {
  /** The server's base URL (`http://…` or `https://…`). */
  url: string;
  /** The runner token (never logged). */
  token: string;
  /** Labels this runner offers (a run goes only to a runner with all of its `runsOn`). */
  labels: string[];
  /** How many runs it executes at once. */
  maxConcurrent: number;
  /** Absolute path: work directories (`work/`), spools (`spool/`) and the input file cache (`files/`) go here. */
  workDir: string;
  softwareVersion: string;
  /** How processes are run (the same sandbox settings as a server's). */
  execution: ExecutionSettings;
  /** One line for the job server's log. */
  log(line: string): void;
  /** Seconds the server may hold a claim or control request (default 20). */
  pollSeconds?: number;
}

/** After a run begins, the control request is renewed this much later (ms), so as not to compete with the start. */
const CONTROL_AFTER_BEGIN_MS = 100;
/** How many run ids a job server remembers having begun. */
const REMEMBERED_RUNS = 10_000;
/** A run id is used as a folder name: nothing but these characters (and never `.` or `..`). */
const SAFE_RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * The file an input download is written to before it is renamed into the cache: `<sha256>.<pid>.<ms>.part`
 * beside its cached path. The pid says whose it is, so a later process removes only those of processes gone.
 */
function partialDownload(cached: string): string {
  return `${cached}.${process.pid}.${Date.now()}.part`;
}

/** The pid of the process that wrote a {@link partialDownload} named `name`; null for any other name. */
function partialDownloadOwner(name: string): number | null {
  const match = /^[0-9a-f]{64}\.(\d+)\.\d+\.part$/.exec(name);
  return match ? Number(match[1]) : null;
}

export class JobServer {
  private readonly client: RunnerClient;
  private readonly runs = new Map<string, RemoteRun>();
  private readonly stopping = new AbortController();
  /** Aborts the control request under way, so a new set of runs is asked about at once. */
  private controlRound = new AbortController();
  private slotFreed: (() => void) | null = null;
  /** Every run this job server began (a run is executed once, however many answers name it). */
  private readonly begun = new Set<string>();
  private fatal: Error | null = null;
  /** Runs an earlier process of this job server had started when it ended: reported before anything is claimed. */
  private readonly leftovers: LeftoverRun[];

  constructor(private readonly options: JobServerOptions) {
    this.client = new RunnerClient(options.url, options.token, () => ({
      labels: options.labels,
      softwareVersion: options.softwareVersion,
      maxConcurrent: options.maxConcurrent,
      running: [...this.runs.keys()],
    }));
    // The work directories an earlier process left belong to runs that ended with it: removed by run(). Their spools
    // stay until each such run is reported (see leftover-runs.ts). The input file cache (files/) stays: its files are
    // checked against their sha256 on every use.
    for (const folder of ['work', 'spool', 'files']) mkdirSync(join(options.workDir, folder), { recursive: true, mode: 0o700 });
    this.leftovers = findLeftoverRuns(join(options.workDir, 'spool'), (runId) => SAFE_RUN_ID.test(runId));
  }

  /**
   * Claims and executes runs until {@link stop} (or until the token is refused, which
   * rejects); resolves once every run it took has ended and its end was reported.
   */
  async run(): Promise<void> {
    await this.removeLeftovers();
    await endLeftoverRuns(this.leftovers, this.client, this.stopping.signal, (line) => this.log(line));
    await Promise.all([this.claimLoop(), this.controlLoop()]);
    await Promise.all([...this.runs.values()].map((run) => run.done));
    if (this.fatal) throw this.fatal;
    await this.client.goodbye().catch(() => undefined);
  }

  /** Stops claiming; runs under way are cancelled, their output uploaded and their end reported. */
  stop(reason = 'The job server was stopped before the run finished'): void {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    this.controlRound.abort();
    this.slotFreed?.();
    for (const run of this.runs.values()) run.execution.control.end({ status: 'cancelled', reason });
  }

  /**
   * Reports a claimed run this job server did not take as failed (nothing started, no
   * output), retrying with backoff until the server has it, the run is gone, or this stops.
   */
  private async reportUntaken(runId: string, reason: string): Promise<void> {
    const retry = new Backoff();
    while (!this.stopped) {
      try {
        await this.client.finished(runId, { ...failedOutcome(null, reason), outputBytes: 0 });
        return;
      } catch (error) {
        if (!(error instanceof Unreachable)) {
          this.log(`run ${runId}: its end could not be reported: ${error instanceof Error ? error.message : String(error)}`);
          return;
        }
        await retry.wait(this.stopping.signal);
      }
    }
  }

  /**
   * Removes what an earlier process of this job server left: its runs' work directories
   * (the runs ended with it), one by one, and the `.part` files of input downloads it
   * did not finish (see {@link partialDownload}; from a process that is gone).
   */
  private async removeLeftovers(): Promise<void> {
    const said = (path: string) => (error: unknown) => this.log(`could not remove ${path}: ${error instanceof Error ? error.message : String(error)}`);
    const work = join(this.options.workDir, 'work');
    for (const name of readdirSync(work)) await removeTree(join(work, name)).catch(said(join(work, name)));
    const files = join(this.options.workDir, 'files');
    for (const name of readdirSync(files)) {
      const owner = partialDownloadOwner(name);
      if (owner !== null && !processExists(owner)) await rm(join(files, name), { force: true }).catch(said(join(files, name)));
    }
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async claimLoop(): Promise<void> {
    const retry = new Backoff();
    while (!this.stopped) {
      if (this.runs.size >= this.options.maxConcurrent) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        this.slotFreed = null;
        continue;
      }
      try {
        const claimed = await this.client.claim(join(this.options.workDir, 'work'), this.options.pollSeconds ?? 20, this.stopping.signal);
        retry.reset();
        if (claimed !== null) this.begin(claimed);
      } catch (error) {
        if (this.stopped) return;
        if (!this.handleConnectionError(error, retry, 'claiming runs')) return;
        await retry.wait(this.stopping.signal);
      }
    }
  }

  /** Asks what the server wants of the runs under way, and applies it: pause, resume, cancel, lost. */
  private async controlLoop(): Promise<void> {
    const retry = new Backoff();
    while (!this.stopped) {
      const round = new AbortController();
      this.controlRound = round;
      const reported = [...this.runs.values()].filter((run) => !run.gone).map((run) => run.reported());
      try {
        const answer = await this.client.control(reported, this.options.pollSeconds ?? 20, AbortSignal.any([round.signal, this.stopping.signal]));
        retry.reset();
        for (const want of answer.runs) this.runs.get(want.id)?.apply(want);
        // Claimed for this runner, but the claim's answer never arrived: start them now.
        for (const spec of answer.claimed) if (!this.stopped) this.begin(spec);
      } catch (error) {
        if (this.stopped) return;
        // A new run began (or one ended): ask again about the new set at once.
        if (round.signal.aborted) continue;
        if (!this.handleConnectionError(error, retry, 'following its runs')) return;
        await retry.wait(this.stopping.signal);
      }
    }
  }

  /** Logs a connection problem once per outage; false (and stops) when the token was refused. */
  private handleConnectionError(error: unknown, retry: Backoff, doing: string): boolean {
    if (error instanceof TokenRefused) {
      this.log(`${error.message}: stopping, and ending the runs under way`);
      this.fatal = error;
      // A refused token is a revoked runner: the server has ended its runs, so nothing is reported.
      for (const run of this.runs.values()) run.abandon('the runner token was refused');
      this.stop();
      return false;
    }
    if (retry.first) this.log(`${doing}: ${error instanceof Error ? error.message : String(error)}; trying again with backoff`);
    return true;
  }

  private begin(spec: ClaimedSpec): void {
    // Once per run, whichever answer brought it first (a claim, or control after a lost claim answer).
    if (this.begun.has(spec.runId)) return;
    this.begun.add(spec.runId);
    // Bounded: a run this far back can no longer be named by an answer.
    if (this.begun.size > REMEMBERED_RUNS) this.begun.delete(this.begun.values().next().value as string);
    if (!SAFE_RUN_ID.test(spec.runId)) {
      this.log(`refusing run id ${JSON.stringify(spec.runId)}: not a plain name`);
      void this.reportUntaken(spec.runId, 'The job server refused the run: its id is not a plain name');
      return;
    }
    // The work directory is this runner's choice (the server's copy is only shown): under its own folder.
    const workdir = join(this.options.workDir, 'work', spec.runId);
    let run: RemoteRun;
    try {
      run = new RemoteRun(spec, workdir, this.client, this.options, (line) => this.log(`run ${spec.runId}: ${line}`));
    } catch (error) {
      // Its spool could not be made (a full or read-only disk): the run ends failed rather than staying claimed.
      const reason = `The job server could not take the run: ${error instanceof Error ? error.message : String(error)}`;
      this.log(`run ${spec.runId}: ${reason}`);
      void this.reportUntaken(spec.runId, reason);
      return;
    }
    this.runs.set(spec.runId, run);
    this.log(`run ${spec.runId} (${spec.jobName} #${spec.runNumber}) claimed`);
    // Ask about the new set of runs, a moment later: not while the run's process is being started.
    setTimeout(() => this.controlRound.abort(), CONTROL_AFTER_BEGIN_MS).unref();
    void run.done.finally(() => {
      this.runs.delete(spec.runId);
      this.controlRound.abort();
      this.slotFreed?.();
    });
    if (this.stopped) run.execution.control.end({ status: 'cancelled', reason: 'The job server was stopped before the run started' });
  }

  private log(line: string): void {
    this.options.log(line);
  }
}

/** One run on this job server: its execution, its spool and the upload of both to the server. */
class RemoteRun {
  readonly execution: Execution;
  readonly done: Promise<void>;
  /** The run ended without this runner (lost, revoked): killed, nothing more is reported. */
  gone = false;
  private readonly spool: Spool;
  private acknowledged = 0;
  private start: ProcessStarted | null = null;
  private startReported = false;
  private outcome: RunOutcome | null = null;
  /** The run's artifacts, collected after its process exited; their files stay in the work directory until the server recorded the list. */
  private artifacts: ArtifactCollection | null = null;
  private artifactsRecorded = false;
  private wakeUploader: (() => void) | null = null;

  constructor(
    private readonly spec: ClaimedSpec,
    private readonly workdir: string,
    private readonly client: RunnerClient,
    private readonly options: JobServerOptions,
    private readonly log: (line: string) => void,
  ) {
    this.spool = new Spool(join(options.workDir, 'spool', `${spec.runId}.out`));
    this.execution = executeRun({ ...spec }, workdir, this.transport(), options.execution);
    this.done = this.carryOut();
  }

  /** What this runner applied to the run, for the control request. */
  reported(): { id: string; paused: boolean; cancelling: boolean } {
    const control = this.execution.control;
    return { id: this.spec.runId, paused: control.isPaused, cancelling: control.outcome !== null };
  }

  /** Applies what the server wants. */
  apply(want: WantedRun): void {
    if (want.ended !== null) {
      this.abandon(`the server says it ended (${want.ended.status}${want.ended.reason ? `: ${want.ended.reason}` : ''})`);
      return;
    }
    this.execution.control.sync({ paused: want.paused, cancelledBy: want.cancelledBy });
  }

  /** The run ended without this runner: kill it at once; report nothing more. */
  abandon(why: string): void {
    if (this.gone) return;
    this.gone = true;
    this.log(`${why}: killing it`);
    this.execution.control.end({ status: 'cancelled', reason: why }, 0);
    this.execution.process?.signalGroup('SIGKILL');
    this.wakeUploader?.();
  }

  private transport(): ExecutionTransport {
    return {
      readFile: (sha256) => this.inputFile(sha256),
      // Reported by the uploader (before any output), so a server away at this moment holds nothing up.
      started: async (started) => {
        this.start = started;
        this.wakeUploader?.();
      },
      // To the spool only: the process never waits for the network.
      output: async (batches) => {
        for (const batch of batches) this.spool.append(batch.bytes);
        this.wakeUploader?.();
      },
      // Kept here (the files in the work directory) and uploaded after the output, before the end is reported.
      artifacts: async (collection) => {
        this.artifacts = collection;
      },
    };
  }

  private async carryOut(): Promise<void> {
    const uploading = this.upload();
    let outcome: RunOutcome;
    try {
      outcome = await this.execution.outcome;
    } catch (error) {
      outcome = failedOutcome(error);
    }
    this.outcome = outcome;
    this.wakeUploader?.();
    await uploading;
    this.spool.remove();
    forgetStart(this.spool.path);
    // Never fails the run's end: a work directory that cannot be removed is said, and removed at the next start.
    await removeTree(this.workdir).catch((error: unknown) => this.log(`could not remove its work directory: ${error instanceof Error ? error.message : String(error)}`));
    if (!this.gone) this.log(`ended ${outcome.status}${outcome.exitCode !== null ? ` (exit code ${outcome.exitCode})` : ''}; ${this.spool.size} bytes of output uploaded`);
  }

  /**
   * Uploads in order: the start, the spool from the offset the server holds, then the
   * end once everything is acknowledged. Each step is retried with backoff until the
   * server answers; its answers (the offset it holds) say where to continue.
   */
  private async upload(): Promise<void> {
    const retry = new Backoff();
    while (!this.gone) {
      try {
        if (this.start !== null && !this.startReported) {
          await this.client.started(this.spec.runId, { pid: this.start.pid, processStartTicks: this.start.processStartTicks, workdir: this.start.workdir });
          this.startReported = true;
          markStarted(this.spool.path);
        } else if (this.startReported && this.acknowledged < this.spool.size) {
          const to = Math.min(this.spool.size, this.acknowledged + UPLOAD_BYTES);
          this.acknowledged = await this.client.output(this.spec.runId, this.acknowledged, this.spool.stream(this.acknowledged, to));
        } else if (this.outcome !== null && this.artifacts !== null && !this.artifactsRecorded && this.startReported) {
          await this.uploadArtifacts(this.artifacts);
        } else if (this.outcome !== null && (this.startReported || this.start === null)) {
          await this.client.finished(this.spec.runId, { ...this.outcome, outputBytes: this.spool.size });
          return;
        } else {
          await new Promise<void>((resolve) => (this.wakeUploader = resolve));
          this.wakeUploader = null;
          continue;
        }
        retry.reset();
      } catch (error) {
        if (error instanceof OffsetAnswer) {
          this.acknowledged = error.offset;
          continue;
        }
        if (error instanceof RunGone) {
          this.abandon(`the server no longer takes it (${error.message})`);
          return;
        }
        if (error instanceof TokenRefused) {
          this.abandon('the runner token was refused');
          return;
        }
        if (retry.first) this.log(`upload: ${error instanceof Error ? error.message : String(error)}; trying again with backoff`);
        if (!(error instanceof Unreachable)) this.log(`upload refused: ${error instanceof Error ? error.message : String(error)}`);
        await retry.wait();
      }
    }
  }

  /**
   * Announces the run's artifacts and uploads each content the server lacks from the
   * offset it holds, then announces again until the server has recorded the list. A
   * lost connection throws (the caller retries with backoff and this starts over with
   * a fresh announcement: what the server holds is never sent again). A content or a
   * list the server refuses is named as skipped rather than retried for ever.
   */
  private async uploadArtifacts(collection: ArtifactCollection): Promise<void> {
    const files = collection.files.map(({ path, size, sha256 }) => ({ path, size, sha256 }));
    const skipped = [...collection.skipped];
    const refused = new Map<string, string>();
    for (;;) {
      const list = { files: files.filter((file) => !refused.has(file.sha256)), skipped: [...skipped, ...files.filter((file) => refused.has(file.sha256)).map((file) => ({ path: file.path, size: file.size, reason: refused.get(file.sha256) as string }))] };
      let answer: Awaited<ReturnType<RunnerClient['announceArtifacts']>>;
      try {
        answer = await this.client.announceArtifacts(this.spec.runId, list);
      } catch (error) {
        if (!(error instanceof Refused)) throw error;
        this.log(`artifacts refused by the server, not kept: ${error.message}`);
        this.artifactsRecorded = true;
        return;
      }
      if (answer.recorded) {
        this.artifactsRecorded = true;
        this.log(`${list.files.length} artifact(s) kept, ${list.skipped.length} skipped`);
        return;
      }
      for (const lacking of answer.lacking) {
        const file = collection.files.find((candidate) => candidate.sha256 === lacking.sha256 && candidate.size === lacking.size);
        if (!file) throw new Error(`the server asked for content ${lacking.sha256}, which this run did not announce`);
        let offset = lacking.offset;
        // At least one request: an empty file is an upload of no bytes.
        for (let first = true; (first || offset < lacking.size) && !refused.has(lacking.sha256); first = false) {
          const to = Math.min(lacking.size, offset + UPLOAD_BYTES);
          try {
            offset = await this.client.artifactContent(this.spec.runId, lacking.sha256, lacking.size, offset, fileRange(file.absolutePath, offset, to));
          } catch (error) {
            if (error instanceof OffsetAnswer) offset = error.offset;
            else if (error instanceof Refused || isFileError(error)) refused.set(lacking.sha256, `its upload failed: ${error instanceof Error ? error.message : String(error)}`);
            else throw error;
          }
        }
      }
    }
  }

  /** An input file from the cache (`files/<sha256>`), downloaded once and checked against its sha256. */
  private async *inputFile(sha256: string): AsyncGenerator<Buffer> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    const cached = join(this.options.workDir, 'files', sha256);
    if (!existsSync(cached)) await this.download(sha256, cached);
    for await (const chunk of createReadStream(cached)) yield chunk as Buffer;
  }

  /**
   * Downloads an input file into the cache, through a `.part` file renamed into place
   * once its sha256 matches (removed otherwise, whatever went wrong). A lost connection
   * or an answer cut short is tried again with backoff, until the run ends; other
   * content, a refusal or a local error fails the run.
   */
  private async download(sha256: string, path: string): Promise<void> {
    const retry = new Backoff();
    for (;;) {
      const partial = partialDownload(path);
      try {
        const response = await this.client.file(this.spec.runId, sha256);
        const hash = await this.receive(response, partial);
        if (hash !== sha256) throw new Error(`input file ${sha256} came with other content`);
        renameSync(partial, path);
        return;
      } catch (error) {
        rmSync(partial, { force: true });
        if (!(error instanceof Unreachable)) throw error;
        if (retry.first) this.log(`input file ${sha256}: ${error.message}; trying again with backoff`);
        await retry.wait();
        // Ended meanwhile (a cancel, a stop of this job server): no more tries; the run ends as that says.
        if (this.execution.control.outcome !== null) throw new Error(`the run ended while its input file ${sha256} was being downloaded`);
      }
    }
  }

  /**
   * Writes an answer's body to `partial` and returns its sha256 (hex).
   *
   * @throws Unreachable when the body stops short (the connection was lost, or stalled);
   *   the file system's error when `partial` cannot be written.
   */
  private async receive(response: Response, partial: string): Promise<string> {
    if (response.body === null) throw new Unreachable('the answer came without the file');
    const chunks = (response.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    const handle = await open(partial, 'w', 0o600).catch(async (error: unknown) => {
      await chunks.return?.().catch(() => undefined);
      throw error;
    });
    const hash = createHash('sha256');
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch (error) {
          throw new Unreachable(`the download stopped short: ${error instanceof Error ? error.message : String(error)}`);
        }
        if (next.done) break;
        hash.update(next.value);
        await handle.write(next.value);
      }
    } finally {
      // A write that failed leaves the answer unread: let the connection go.
      await chunks.return?.().catch(() => undefined);
      await handle.close();
    }
    return hash.digest('hex');
  }
}

/** Bytes `[from, to)` of a collected file, opened without following a link at its end (as the collector read it). */
function fileRange(path: string, from: number, to: number): Readable {
  if (to <= from) return Readable.from([]);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  return createReadStream('', { fd, start: from, end: to - 1, highWaterMark: 1024 * 1024, autoClose: true });
}

/** The file could not be opened (removed, replaced by a link): not worth trying again. */
function isFileError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ELOOP' || code === 'EACCES';
}
