import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJob, runAndWait } from '../test/support/rest';
import type { ServerProcess } from '../test/support/server-process';
import { median, ms, percentile, ratio, report } from './stats';

/** Spawns `interpreter script` directly, its stdout straight into a file when given: the floor any job runner sits on. */
export function bareSpawn(interpreter: string, script: string, stdoutFile?: string): Promise<{ startedMs: number; finishedMs: number }> {
  return new Promise((resolve, reject) => {
    const out = stdoutFile ? openSync(stdoutFile, 'w') : 'ignore';
    const t0 = performance.now();
    const child = spawn(interpreter, [script], { stdio: ['ignore', out, 'ignore'] });
    let startedMs = 0;
    child.once('spawn', () => (startedMs = performance.now() - t0));
    child.once('error', reject);
    child.once('close', () => {
      const finishedMs = performance.now() - t0;
      if (typeof out === 'number') closeSync(out);
      resolve({ startedMs, finishedMs });
    });
  });
}

/** What {@link benchTrivialJob} measured, for comparisons across stores. */
export interface TrivialJobFigures {
  startedMedianMs: number;
  finishedMedianMs: number;
}

/**
 * Request→started and request→finished of a trivial job, against a bare spawn of its
 * interpreter; `label` names the figures (e.g. the store the server runs on).
 */
export async function benchTrivialJob(server: ServerProcess, samples = 40, label = 'trivial job'): Promise<TrivialJobFigures> {
  const jobId = await createJob(server, 'bench-trivial', 'bash', 'true');
  const dir = mkdtempSync(join(tmpdir(), 'ec-bench-'));
  const script = join(dir, 'script.sh');
  writeFileSync(script, 'true\n');
  const started: number[] = [];
  const finished: number[] = [];
  const bareStarted: number[] = [];
  const bareFinished: number[] = [];
  await runAndWait(server, jobId); // warm-up
  // The two series run one after the other, not interleaved: a spawn in this process
  // right before each request was seen to slow the server's next start (shared CPU).
  for (let i = 0; i < samples; i++) {
    const { run, sentAt } = await runAndWait(server, jobId);
    started.push(Date.parse(run.startedAt ?? '') - sentAt);
    finished.push(Date.parse(run.finishedAt ?? '') - sentAt);
  }
  for (let i = 0; i < samples; i++) {
    const bare = await bareSpawn('bash', script);
    bareStarted.push(bare.startedMs);
    bareFinished.push(bare.finishedMs);
  }
  rmSync(dir, { recursive: true, force: true });
  const startedMedian = median(started);
  const finishedMedian = median(finished);
  report(`${label}: request → started (median)`, ms(startedMedian), `bare spawn → spawned ${ms(median(bareStarted))}`, startedMedian <= 25);
  report(`${label}: request → started (p95)`, ms(percentile(started, 95)), '');
  report(
    `${label}: request → finished (median)`,
    ms(finishedMedian),
    `bare spawn → exit ${ms(median(bareFinished))} (${ratio(finishedMedian, median(bareFinished))})`,
    finishedMedian <= 100,
  );
  return { startedMedianMs: startedMedian, finishedMedianMs: finishedMedian };
}

/** Targets a large-output figure is held to: ratios against the same command writing to a file, and log bytes per output byte. */
export interface LargeOutputTargets {
  /** startedAt → finishedAt and request → read back, each against the command writing to a file. */
  ratio: number | null;
  /** How many bytes the embedded log (events.db + its WAL) may grow per byte of output. */
  logBytesPerByte?: number;
}

/**
 * A job printing a large output: its run (startedAt → finishedAt) and its
 * request → output read back in full (sha256-checked), each against the same
 * command writing to a file; and, on the embedded store, how much the log grew per
 * byte of output (after a checkpoint).
 */
export async function benchLargeOutput(server: ServerProcess, label: string, interpreter: string, body: string, targets: LargeOutputTargets): Promise<void> {
  const jobId = await createJob(server, `bench-${label.replace(/\W+/g, '-')}`, interpreter, body);
  const dir = mkdtempSync(join(tmpdir(), 'ec-bench-'));
  const script = join(dir, 'script');
  writeFileSync(script, body);
  const file = join(dir, 'out.txt');
  const baseline = await bareSpawn(interpreter, script, file);
  const hashStarted = performance.now();
  const expectedHash = await hashFile(file);
  // The same work without EnderCompute: the command writing to a file, then the file read back whole and hashed.
  const fileRoundTripMs = baseline.finishedMs + (performance.now() - hashStarted);
  const logBefore = logBytes(server.dataDir);

  const { run, sentAt } = await runAndWait(server, jobId, 600_000);
  const response = await server.request(`/api/runs/${run.id}/output`);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  const totalMs = Date.now() - sentAt;
  const runMs = Date.parse(run.finishedAt ?? '') - Date.parse(run.startedAt ?? '');
  const exact = hash.digest('hex') === expectedHash;
  rmSync(dir, { recursive: true, force: true });
  const within = (value: number): boolean | null => (targets.ratio === null ? null : value <= targets.ratio * baseline.finishedMs);
  const target = targets.ratio === null ? '' : `; target ≤ ${targets.ratio}×`;
  report(`${label}: started → finished`, ms(runMs), `command → file ${ms(baseline.finishedMs)} (${ratio(runMs, baseline.finishedMs)}${target})`, within(runMs));
  report(
    `${label}: request → read back (${(bytes / 1e6).toFixed(0)} MB, ${exact ? 'sha256 equal' : 'SHA256 DIFFERS'})`,
    ms(totalMs),
    `command → file ${ms(baseline.finishedMs)} (${ratio(totalMs, baseline.finishedMs)}${target})`,
    exact ? within(totalMs) : false,
  );
  // Beside it, no verdict (the issue's target is against the file alone): the like-for-like figure.
  report(`${label}: request → read back, like for like`, ms(totalMs), `command → file → read back, sha256 ${ms(fileRoundTripMs)} (${ratio(totalMs, fileRoundTripMs)})`);
  const logAfter = logBytes(server.dataDir);
  if (logBefore !== null && logAfter !== null && bytes > 0) {
    const perByte = (logAfter - logBefore) / bytes;
    report(
      `${label}: log growth per output byte`,
      perByte.toFixed(3),
      `${((logAfter - logBefore) / 1e6).toFixed(1)} MB for ${(bytes / 1e6).toFixed(0)} MB${targets.logBytesPerByte !== undefined ? `; target ≤ ${targets.logBytesPerByte}` : ''}`,
      targets.logBytesPerByte === undefined ? null : perByte <= targets.logBytesPerByte,
    );
  }
}

/** Bytes of the embedded log and its WAL after a checkpoint; null on EventStoreDB. */
function logBytes(dataDir: string): number | null {
  const path = join(dataDir, 'events.db');
  if (!existsSync(path)) return null;
  const db = new Database(path, { fileMustExist: true });
  try {
    // TRUNCATE: the WAL is emptied when no reader holds it, so what is counted is what the log keeps.
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  const size = (file: string): number => (existsSync(file) ? statSync(file).size : 0);
  return size(path) + size(`${path}-wal`);
}

async function hashFile(path: string): Promise<string> {
  const { createReadStream } = await import('node:fs');
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
