import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ArtifactUploads, ContentOffsetMismatch, type LackingContent } from '../../artifacts/artifact-uploads';
import { BlobStore } from '../../blobs/blob-store';
import { sendAll } from '../../http/send-all';
import { BytesBody } from '../../http/request-shape';
import { RunnerEndpoint, runnerOf } from '../../runners/runner-endpoint';
import { RunnerPresence } from '../../runners/runner-presence';
import { TooLargeError, ValidationError } from '../../shared/domain-errors';
import { wholeNumberFromText } from '../../shared/whole-number';
import { endProblems, OffsetMismatch, RemoteRuns, type ClaimedRun, type RemoteEnd, type WantedRun } from './remote-runs';

/** The largest output upload in one request (stored as it arrives, 4 MiB at a time; the runner sends at most this much at once). */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
/** How a job server describes itself on every request (JSON, percent-encoded): what `RunnerPresence.contact` records. */
export const RUNNER_REPORT_HEADER = 'x-runner-report';

interface RunnerReport {
  labels: string[];
  softwareVersion: string;
  maxConcurrent: number;
  running: string[];
}

/**
 * The runner protocol: what a job server (`endercompute runner`) calls, over HTTP(S)
 * out, with its runner token. Every request counts as contact (`RunnerPresence`). See
 * docs/API.md "Runner protocol"; the work is done by {@link RemoteRuns}. In the OpenAPI
 * document with the runner token as its only security scheme.
 */
@Controller('api/runner')
@RunnerEndpoint()
export class RunnerProtocolController {
  constructor(
    private readonly remote: RemoteRuns,
    private readonly presence: RunnerPresence,
    private readonly blobs: BlobStore,
    private readonly artifacts: ArtifactUploads,
  ) {}

  /** Claims a run this runner may take, waiting up to `wait` seconds (default 20) for one: 200 with it, or 204. */
  @Post('claim')
  @HttpCode(200)
  async claim(@Req() request: Request, @Res({ passthrough: true }) response: Response, @Body() body: unknown): Promise<ClaimedRun | undefined> {
    const { name, report } = await this.contact(request);
    const { workRoot, wait } = (body ?? {}) as { workRoot?: unknown; wait?: unknown };
    if (typeof workRoot !== 'string' || !workRoot.startsWith('/') || workRoot.length > 1000) throw new ValidationError(['workRoot must be the absolute path of the runner\'s work directory folder']);
    // A job server that stopped waiting (stopping, or its request timed out) is handed nothing: a run claimed for a
    // request nobody reads would stay claimed until the runner counted as lost.
    let left = false;
    response.once('close', () => (left = !response.writableFinished));
    const { stillValid } = runnerOf(request);
    const claimed = await this.remote.claim(name, report.labels, workRoot, waitOf(wait), () => !left && stillValid(), () => !stillValid());
    if (claimed === null) {
      response.status(204);
      return undefined;
    }
    return claimed;
  }

  /**
   * What is wanted of this runner's runs, `{runs: [{id, paused, cancelledBy, ended}],
   * claimed: [run]}` (`claimed`: runs it claimed but does not report, whose claim
   * answer it never got). Held open up to `wait` seconds until that differs from what
   * the runner applied.
   */
  @Post('control')
  @HttpCode(200)
  async control(@Req() request: Request, @Body() body: unknown): Promise<{ runs: WantedRun[]; claimed: Array<ClaimedRun['run']> }> {
    const { name } = await this.contact(request);
    const { runs, wait } = (body ?? {}) as { runs?: unknown; wait?: unknown };
    if (!Array.isArray(runs) || runs.length > 10_000 || !runs.every(isReportedRun)) {
      throw new ValidationError(['runs must be a list of {id, paused, cancelling}: the runs this runner executes and what it applied']);
    }
    return this.remote.control(name, runs, waitOf(wait));
  }

  /** The specification of a run this runner claimed. */
  @Get('runs/:id')
  async specification(@Req() request: Request, @Param('id') runId: string): Promise<ClaimedRun> {
    const { name } = await this.contact(request);
    return this.remote.specification(name, runId);
  }

  /** An input file of a run this runner executes, by sha256. */
  @Get('runs/:id/files/:sha256')
  async file(@Req() request: Request, @Res() response: Response, @Param('id') runId: string, @Param('sha256') sha256: string): Promise<void> {
    const { name } = await this.contact(request);
    const file = await this.remote.fileOf(name, runId, sha256);
    response.setHeader('content-type', 'application/octet-stream');
    response.setHeader('content-length', String(file.size));
    // sendAll also stops when the job server goes away mid-download (a stall, a retry): waiting for 'drain' alone never ended.
    await sendAll(response, this.blobs.read(sha256));
  }

  /** The run's process started: `{pid, processStartTicks, workdir}`. */
  @Post('runs/:id/started')
  @HttpCode(200)
  async started(@Req() request: Request, @Param('id') runId: string, @Body() body: unknown): Promise<{ ok: true }> {
    const { name } = await this.contact(request);
    const { pid, processStartTicks, workdir } = (body ?? {}) as Record<string, unknown>;
    const problems: string[] = [];
    if (!Number.isSafeInteger(pid) || (pid as number) < 1) problems.push('pid must be a whole number from 1');
    if (processStartTicks !== null && typeof processStartTicks !== 'string') problems.push('processStartTicks must be a string or null');
    if (typeof workdir !== 'string' || workdir.length > 2000) problems.push('workdir must be a path');
    if (problems.length > 0) throw new ValidationError(problems);
    await this.remote.started(name, runId, { pid: pid as number, processStartTicks: processStartTicks as string | null, workdir: workdir as string });
    return { ok: true };
  }

  /**
   * Output bytes (the raw body) starting at byte `offset` of the run's output: 200
   * `{offset}` with the offset the server now holds; 409 `{offset}` when the bytes
   * would leave a gap (send from that offset); 410 when the run has ended without
   * the runner (stop it).
   */
  @Put('runs/:id/output')
  @BytesBody()
  async output(@Req() request: Request, @Res({ passthrough: true }) response: Response, @Param('id') runId: string, @Query('offset') rawOffset: string | undefined): Promise<{ offset: number; message?: string }> {
    const { name } = await this.contact(request);
    const offset = byteCount(rawOffset);
    if (offset === undefined) throw new ValidationError(['offset must be the whole number of bytes the upload starts at']);
    try {
      return { offset: await this.remote.append(name, runId, offset, bodyOf(request, MAX_UPLOAD_BYTES, 'An output upload')) };
    } catch (error) {
      if (!(error instanceof OffsetMismatch)) throw error;
      response.status(409);
      return { offset: error.offset, message: error.message };
    }
  }

  /**
   * How the run ended (`{status, exitCode, signal, droppedBytes, reason, outputBytes}`):
   * recorded once the server holds all `outputBytes`; 409 `{offset}` until then.
   */
  @Post('runs/:id/finished')
  @HttpCode(200)
  async finished(@Req() request: Request, @Res({ passthrough: true }) response: Response, @Param('id') runId: string, @Body() body: unknown): Promise<{ status?: string; offset?: number; message?: string }> {
    const { name } = await this.contact(request);
    const end = (body ?? {}) as Partial<RemoteEnd>;
    const problems = endProblems(end);
    if (problems.length > 0) throw new ValidationError(problems);
    try {
      return { status: await this.remote.finish(name, runId, end as RemoteEnd) };
    } catch (error) {
      if (!(error instanceof OffsetMismatch)) throw error;
      response.status(409);
      return { offset: error.offset, message: error.message };
    }
  }

  /**
   * The run's artifacts as the job server collected them, `{files: [{path, size,
   * sha256}], skipped: [{path, size, reason}]}`, before it reports the end: 200
   * `{recorded: true, lacking: []}` once the list is recorded (also for a repeated
   * announcement), else `{recorded: false, lacking: [{sha256, size, offset}]}`: the
   * contents to upload, each from `offset`, then announce again.
   */
  @Post('runs/:id/artifacts')
  @HttpCode(200)
  async announceArtifacts(@Req() request: Request, @Param('id') runId: string, @Body() body: unknown): Promise<{ recorded: boolean; lacking: LackingContent[] }> {
    const { name } = await this.contact(request);
    return this.remote.whileExecuting(name, runId, (context) => this.artifacts.announce(runId, body, context));
  }

  /**
   * Bytes of one artifact content (the raw body, at most 64 MiB a request) from byte
   * `offset`, of a content of `size` bytes: 200 `{offset}` with the bytes held
   * afterwards (`size`: complete); 409 `{offset}` when that would leave a gap.
   */
  @Put('runs/:id/artifacts/:sha256')
  @BytesBody()
  async uploadArtifact(
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
    @Param('id') runId: string,
    @Param('sha256') sha256: string,
    @Query('size') rawSize: string | undefined,
    @Query('offset') rawOffset: string | undefined,
  ): Promise<{ offset: number; message?: string }> {
    const { name } = await this.contact(request);
    const size = byteCount(rawSize);
    const offset = byteCount(rawOffset);
    const problems = [...(size === undefined ? ['size must be the whole number of bytes of the content'] : []), ...(offset === undefined ? ['offset must be the whole number of bytes the upload starts at'] : [])];
    if (problems.length > 0) throw new ValidationError(problems);
    try {
      const held = await this.remote.whileExecuting(name, runId, (context) =>
        this.artifacts.storePart(runId, sha256, size as number, offset as number, bodyOf(request, MAX_UPLOAD_BYTES, 'An artifact upload'), context),
      );
      return { offset: held };
    } catch (error) {
      if (!(error instanceof ContentOffsetMismatch)) throw error;
      response.status(409);
      return { offset: error.offset, message: error.message };
    }
  }

  /**
   * The job server is stopping: recorded offline now rather than after the lost time, and the
   * runs it claimed but never started (and does not list in its report) end `lost` now. Always
   * 204, as before: a goodbye without a readable report ends no run.
   */
  @Post('goodbye')
  @HttpCode(204)
  async goodbye(@Req() request: Request): Promise<void> {
    const { name } = runnerOf(request);
    await this.presence.disconnect(name);
    // Without a report (or with one it cannot read) the server cannot tell which runs it still has: it ends none.
    const report = readableReport(request.headers[RUNNER_REPORT_HEADER]);
    if (report !== null) await this.remote.endUnstarted(name, new Set(report.running));
  }

  /** The runner's name, and its report (recorded as contact). */
  private async contact(request: Request): Promise<{ name: string; report: RunnerReport }> {
    const { name } = runnerOf(request);
    const report = reportOf(request.headers[RUNNER_REPORT_HEADER]);
    await this.presence.contact(name, report);
    return { name, report };
  }
}

function waitOf(raw: unknown): number {
  if (raw === undefined) return 20;
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < 0) throw new ValidationError(['wait must be a number of seconds from 0']);
  return raw;
}

function isReportedRun(value: unknown): value is { id: string; paused: boolean; cancelling: boolean } {
  const run = value as { id?: unknown; paused?: unknown; cancelling?: unknown } | null;
  return run !== null && typeof run === 'object' && typeof run.id === 'string' && typeof run.paused === 'boolean' && typeof run.cancelling === 'boolean';
}

/** The report, or null when there is none or it cannot be read. */
function readableReport(header: string | string[] | undefined): RunnerReport | null {
  try {
    return header === undefined ? null : reportOf(header);
  } catch (error) {
    if (error instanceof ValidationError) return null;
    throw error;
  }
}

/** The runner's report from its header; a missing or malformed one is a 400 naming it. */
function reportOf(header: string | string[] | undefined): RunnerReport {
  const problem = `${RUNNER_REPORT_HEADER} must be percent-encoded JSON {labels, softwareVersion, maxConcurrent, running}`;
  if (typeof header !== 'string' || header.length > 64 * 1024) throw new ValidationError([problem]);
  let parsed: Partial<RunnerReport>;
  try {
    parsed = JSON.parse(decodeURIComponent(header)) as Partial<RunnerReport>;
  } catch {
    throw new ValidationError([problem]);
  }
  const strings = (list: unknown): list is string[] => Array.isArray(list) && list.every((item) => typeof item === 'string' && item.length <= 200);
  if (parsed === null || typeof parsed !== 'object' || !strings(parsed.labels) || !strings(parsed.running) || typeof parsed.softwareVersion !== 'string' || !Number.isSafeInteger(parsed.maxConcurrent)) {
    throw new ValidationError([problem]);
  }
  return { labels: parsed.labels, softwareVersion: parsed.softwareVersion.slice(0, 100) || 'unknown', maxConcurrent: parsed.maxConcurrent as number, running: parsed.running };
}

/** A size or offset in bytes from the query: digits only (a repeated parameter is refused). */
function byteCount(raw: unknown): number | undefined {
  return wholeNumberFromText(raw, { min: 0 });
}

/** The raw request body as it arrives, at most `limit` bytes (more is a 413 naming `what`). */
async function* bodyOf(request: Request, limit: number, what: string): AsyncGenerator<Buffer> {
  let length = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) throw new TooLargeError(`${what} may hold at most ${limit} bytes`);
    yield chunk;
  }
}
