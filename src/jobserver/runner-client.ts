/**
 * The job server's side of the runner protocol (docs/API.md "Runner protocol"):
 * HTTP(S) requests out to the server with the runner token. Every request carries
 * the runner's report (labels, version, slots, running runs), which the server
 * records as contact.
 */
import { Readable } from 'node:stream';
import type { RunSpecification } from '../runs/runner/execute-run';

/** The header the server reads the report from (see `runner-protocol.controller.ts`). */
const REPORT_HEADER = 'x-runner-report';

export interface RunnerReport {
  labels: string[];
  softwareVersion: string;
  maxConcurrent: number;
  running: string[];
}

/** A run as the server hands it to a job server. */
export type ClaimedSpec = RunSpecification & { workdir: string };

/** What the server wants of one run (see `WantedRun` on the server). */
export interface WantedRun {
  id: string;
  paused: boolean;
  cancelledBy: string | null;
  ended: { status: string; reason: string | null } | null;
}

/** The server could not be reached, or answered 5xx: try again later. */
export class Unreachable extends Error {}

/** The server refused the runner token (401); the message carries the server's reason (revoked, unknown, a key, none given). */
export class TokenRefused extends Error {}

/** The run ended without this runner (410): stop it, report nothing more. */
export class RunGone extends Error {}

/** The server refused the request as malformed or not allowed (4xx other than 401, 409 with an offset, 410): trying again will not help. */
export class Refused extends Error {}

/** The server holds the run's output up to `offset`, which is not where the request began (409). */
export class OffsetAnswer extends Error {
  constructor(readonly offset: number) {
    super(`the server holds output up to ${offset}`);
  }
}

/**
 * How long a request may go without progress before it counts as a lost connection:
 * waiting for the answer (long polls are held ≤ 25 s by the server), or with no byte
 * of its body or of the answer's moving. Not a limit on the whole request: 64 MiB of
 * output or a large input file take longer than that on a slow link, and a limit on
 * the whole would cut every attempt short at the same point, for ever.
 */
export const STALL_TIMEOUT_MS = 45_000;
/** Output streamed in one request, at most (the server takes up to 64 MiB, storing it as it arrives). */
export const UPLOAD_BYTES = 64 * 1024 * 1024;

export class RunnerClient {
  /** `stallTimeoutMs`: see {@link STALL_TIMEOUT_MS} (shorter in tests). */
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly report: () => RunnerReport,
    private readonly stallTimeoutMs = STALL_TIMEOUT_MS,
  ) {}

  /** Claims a run, the server holding the request up to `waitSeconds`; null when none came. */
  async claim(workRoot: string, waitSeconds: number, signal?: AbortSignal): Promise<ClaimedSpec | null> {
    const response = await this.send('POST', '/api/runner/claim', { json: { workRoot, wait: waitSeconds }, signal });
    if (response.status === 204) return null;
    return ((await response.json()) as { run: ClaimedSpec }).run;
  }

  /** What the server wants of these runs (and runs claimed whose claim answer was lost), held up to `waitSeconds` while nothing differs. */
  async control(runs: Array<{ id: string; paused: boolean; cancelling: boolean }>, waitSeconds: number, signal?: AbortSignal): Promise<{ runs: WantedRun[]; claimed: ClaimedSpec[] }> {
    const response = await this.send('POST', '/api/runner/control', { json: { runs, wait: waitSeconds }, signal });
    return (await response.json()) as { runs: WantedRun[]; claimed: ClaimedSpec[] };
  }

  /** An input file's bytes. */
  async file(runId: string, sha256: string): Promise<Response> {
    return this.send('GET', `/api/runner/runs/${encodeURIComponent(runId)}/files/${encodeURIComponent(sha256)}`, {});
  }

  async started(runId: string, report: { pid: number; processStartTicks: string | null; workdir: string }): Promise<void> {
    await this.send('POST', `/api/runner/runs/${encodeURIComponent(runId)}/started`, { json: report });
  }

  /** Uploads output bytes (streamed) starting at `offset`; resolves with the offset the server holds afterwards. */
  async output(runId: string, offset: number, bytes: Readable): Promise<number> {
    const response = await this.send('PUT', `/api/runner/runs/${encodeURIComponent(runId)}/output?offset=${offset}`, { bytes });
    return ((await response.json()) as { offset: number }).offset;
  }

  /** Reports the end; throws {@link OffsetAnswer} while the server lacks output. */
  async finished(runId: string, end: object): Promise<void> {
    await this.send('POST', `/api/runner/runs/${encodeURIComponent(runId)}/finished`, { json: end });
  }

  /**
   * Announces the run's artifacts (`{files: [{path, size, sha256}], skipped}`): whether
   * the server recorded the list, or the contents it lacks, each with the offset to upload from.
   */
  async announceArtifacts(runId: string, list: { files: Array<{ path: string; size: number; sha256: string }>; skipped: Array<{ path: string; size: number; reason: string }> }): Promise<{ recorded: boolean; lacking: Array<{ sha256: string; size: number; offset: number }> }> {
    const response = await this.send('POST', `/api/runner/runs/${encodeURIComponent(runId)}/artifacts`, { json: list });
    return (await response.json()) as { recorded: boolean; lacking: Array<{ sha256: string; size: number; offset: number }> };
  }

  /** Uploads bytes of an artifact content (streamed) from `offset`; resolves with the bytes the server holds afterwards. */
  async artifactContent(runId: string, sha256: string, size: number, offset: number, bytes: Readable): Promise<number> {
    const path = `/api/runner/runs/${encodeURIComponent(runId)}/artifacts/${encodeURIComponent(sha256)}?size=${size}&offset=${offset}`;
    const response = await this.send('PUT', path, { bytes });
    return ((await response.json()) as { offset: number }).offset;
  }

  /** Says the job server is stopping (best effort: a server away then learns it from the silence). */
  async goodbye(): Promise<void> {
    await this.send('POST', '/api/runner/goodbye', {});
  }

  private async send(method: string, path: string, body: { json?: unknown; bytes?: Readable; signal?: AbortSignal }): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      [REPORT_HEADER]: encodeURIComponent(JSON.stringify(this.report())),
    };
    const watch = new StallWatch(this.stallTimeoutMs);
    let payload: string | ReadableStream | undefined;
    if (body.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      payload = Readable.toWeb(body.bytes) as ReadableStream;
      // Read as fetch sends it: each piece read is progress.
      body.bytes.on('data', () => watch.progress());
    }
    const signals = [watch.signal, ...(body.signal ? [body.signal] : [])];
    let response: Response;
    try {
      // `duplex: 'half'`: a streamed body (fetch's requirement for one).
      response = await fetch(new URL(path, this.baseUrl), { method, headers, body: payload, signal: AbortSignal.any(signals), duplex: 'half' } as RequestInit);
    } catch (error) {
      watch.stop();
      if (body.signal?.aborted) throw error;
      throw new Unreachable(`cannot reach ${this.baseUrl}: ${causeOf(error)}`);
    }
    watch.progress();
    if (response.ok) return watch.following(response);
    watch.stop();
    const answer = (await response.json().catch(() => ({}))) as { message?: unknown; offset?: unknown };
    const message = typeof answer.message === 'string' ? answer.message : Array.isArray(answer.message) ? answer.message.join('; ') : `HTTP ${response.status}`;
    if (response.status === 401) throw new TokenRefused(`the server refused the runner token: ${message}`);
    if (response.status === 410) throw new RunGone(message);
    if (response.status === 409 && typeof answer.offset === 'number') throw new OffsetAnswer(answer.offset);
    if (response.status >= 500 || response.status === 429) throw new Unreachable(`${method} ${path}: ${message}`);
    throw new Refused(`${method} ${path} was refused (${response.status}): ${message}`);
  }
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/**
 * Aborts a request that made no progress for a while (see {@link STALL_TIMEOUT_MS}):
 * {@link progress} starts the wait again, {@link following} counts the answer's body
 * as it is read and stops once it was read to its end.
 */
class StallWatch {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(ms: number) {
    this.timer = setTimeout(() => this.controller.abort(new Error(`no progress for ${ms / 1000} s`)), ms);
    // A request abandoned unread must not keep the process alive.
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  progress(): void {
    this.timer.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** `response` with a body that counts each piece read as progress; the watch stops at its end. */
  following(response: Response): Response {
    // An answer that has no body (204 among them) cannot be given one.
    if (response.body === null || [204, 205, 304].includes(response.status)) {
      this.stop();
      return response;
    }
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => {
          this.progress();
          controller.enqueue(chunk);
        },
        flush: () => this.stop(),
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  }
}
