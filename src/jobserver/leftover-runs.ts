/**
 * Runs an earlier process of this job server left behind: it was killed, or crashed,
 * while they executed, and their processes ended with it (the sandbox dies with its
 * parent). Their spools are still on this disk and may hold output the server never
 * received. The next process uploads what the server lacks and reports each run
 * `lost`, saying why, before it claims anything: the run ends at once and with all of
 * its output, rather than after ENDERCOMPUTE_RUNNER_LOST_SECONDS without its tail.
 *
 * Only runs whose start the server acknowledged count (a mark beside the spool,
 * `<runId>.out.started`): a run claimed but never started is handed back by the
 * server to the new process, which starts it afresh.
 */
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Backoff } from './backoff';
import { OffsetAnswer, Refused, RunGone, type RunnerClient, TokenRefused, UPLOAD_BYTES } from './runner-client';
import { spoolRange } from './spool';

/** A run left by an earlier process: its id, its spool and the mark of its start. */
export interface LeftoverRun {
  runId: string;
  spool: string;
  mark: string;
}

const SPOOL_SUFFIX = '.out';
const MARK_SUFFIX = '.started';

/** What the server is told: the run's processes are gone, and how it knows. */
export const LEFTOVER_REASON = 'The job server restarted while the run was executing: its processes ended with the job server process that ran them';

/** Marks the run of `spoolFile` as started on the server (written once the server acknowledged the start). */
export function markStarted(spoolFile: string): void {
  writeFileSync(`${spoolFile}${MARK_SUFFIX}`, '', { mode: 0o600 });
}

/** Removes the mark once the run's end was reported (or the server ended it). */
export function forgetStart(spoolFile: string): void {
  rmSync(`${spoolFile}${MARK_SUFFIX}`, { force: true });
}

/**
 * The runs with a start mark in `spoolDir` whose id passes `isRunId` (a run id becomes
 * a file name); everything else there is removed (spools of runs that never started).
 */
export function findLeftoverRuns(spoolDir: string, isRunId: (runId: string) => boolean): LeftoverRun[] {
  if (!existsSync(spoolDir)) return [];
  const names = readdirSync(spoolDir);
  const runs: LeftoverRun[] = [];
  for (const name of names) {
    if (!name.endsWith(SPOOL_SUFFIX + MARK_SUFFIX)) continue;
    const runId = name.slice(0, -(SPOOL_SUFFIX + MARK_SUFFIX).length);
    if (isRunId(runId)) runs.push({ runId, spool: join(spoolDir, runId + SPOOL_SUFFIX), mark: join(spoolDir, name) });
  }
  const kept = new Set(runs.flatMap((run) => [basename(run.spool), basename(run.mark)]));
  for (const name of names) if (!kept.has(name)) rmSync(join(spoolDir, name), { recursive: true, force: true });
  return runs;
}

/**
 * Ends each leftover run, one after the other: uploads the spooled output the server
 * lacks, then reports the run `lost` ({@link LEFTOVER_REASON}), and removes its spool.
 * Retried with backoff while the server is unreachable; when `signal` aborts first,
 * the spools stay for the next process. A run the server ended already (the lost rule
 * came first), or will not end from here, is only forgotten.
 */
export async function endLeftoverRuns(runs: readonly LeftoverRun[], client: RunnerClient, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  for (const run of runs) {
    const said = await endLeftover(run, client, signal);
    if (said === null) return;
    log(`run ${run.runId}: ${said}`);
    rmSync(run.spool, { force: true });
    rmSync(run.mark, { force: true });
  }
}

/** Ends one leftover run; what to log, or null when stopped first. */
async function endLeftover(run: LeftoverRun, client: RunnerClient, signal: AbortSignal): Promise<string | null> {
  const size = existsSync(run.spool) ? statSync(run.spool).size : 0;
  // Where the server's copy ends: an upload of nothing at the spool's end says it (a gap is answered with the offset held).
  let held: number | null = null;
  const retry = new Backoff();
  while (!signal.aborted) {
    try {
      if (held === null || held < size) {
        const from = held ?? size;
        held = await client.output(run.runId, from, spoolRange(run.spool, from, Math.min(size, from + UPLOAD_BYTES)));
      } else {
        await client.finished(run.runId, { status: 'lost', exitCode: null, signal: null, droppedBytes: 0, reason: LEFTOVER_REASON, outputBytes: size });
        return `left running by an earlier process of this job server: its ${size} bytes of output are uploaded, and it is reported lost`;
      }
      retry.reset();
    } catch (error) {
      if (error instanceof OffsetAnswer) {
        held = error.offset;
        continue;
      }
      if (error instanceof RunGone || error instanceof Refused || error instanceof TokenRefused) {
        return `left by an earlier process of this job server; the server does not take it (${error.message}): forgotten`;
      }
      await retry.wait(signal);
    }
  }
  return null;
}
