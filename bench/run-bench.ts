import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, expectJson, type ServerProcess } from '../test/support/server-process';
import { median, ms, percentile, ratio, report } from './stats';

interface Run {
  id: string;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outputBytes: number;
  status: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Creates a template and a job for it; returns the job id. */
async function createJob(server: ServerProcess, name: string, interpreter: string, body: string): Promise<string> {
  await expectJson(await server.request('/api/scripts', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name, interpreter, body }) }), 201);
  const job = await expectJson<{ id: string }>(
    await server.request('/api/jobs', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name, scriptId: name }) }),
    201,
  );
  return job.id;
}

async function runAndWait(server: ServerProcess, jobId: string, timeoutMs = 120_000): Promise<{ run: Run; sentAt: number; doneAt: number }> {
  const sentAt = Date.now();
  const requested = await expectJson<Run>(await server.request(`/api/jobs/${jobId}/runs`, { method: 'POST', headers: JSON_HEADERS, body: '{}' }), 202);
  const run = await eventually(async () => {
    const current = await expectJson<Run>(await server.request(`/api/runs/${requested.id}`), 200);
    return current.finishedAt !== null ? current : undefined;
  }, timeoutMs, 'the run to finish');
  return { run, sentAt, doneAt: Date.now() };
}

/** Spawns `interpreter script` directly: the floor any job runner sits on. */
function bareSpawn(interpreter: string, script: string, stdoutFile?: string): Promise<{ startedMs: number; finishedMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const out = stdoutFile ? createWriteStream(stdoutFile) : null;
    const child = spawn(interpreter, [script], { stdio: ['ignore', out ? 'pipe' : 'ignore', 'ignore'] });
    let startedMs = 0;
    child.once('spawn', () => (startedMs = performance.now() - t0));
    if (out && child.stdout) child.stdout.pipe(out);
    child.once('error', reject);
    child.once('close', () => {
      const finish = () => resolve({ startedMs, finishedMs: performance.now() - t0 });
      if (out) out.end(finish);
      else finish();
    });
  });
}

/** Request→started and request→finished of a trivial job, against a bare spawn of its interpreter. */
export async function benchTrivialJob(server: ServerProcess, samples = 40): Promise<void> {
  const jobId = await createJob(server, 'bench-trivial', 'bash', 'true');
  const dir = mkdtempSync(join(tmpdir(), 'ec-bench-'));
  const script = join(dir, 'script.sh');
  writeFileSync(script, 'true\n');
  const started: number[] = [];
  const finished: number[] = [];
  const bareStarted: number[] = [];
  const bareFinished: number[] = [];
  await runAndWait(server, jobId); // warm-up
  for (let i = 0; i < samples; i++) {
    const { run, sentAt } = await runAndWait(server, jobId);
    started.push(Date.parse(run.startedAt ?? '') - sentAt);
    finished.push(Date.parse(run.finishedAt ?? '') - sentAt);
    const bare = await bareSpawn('bash', script);
    bareStarted.push(bare.startedMs);
    bareFinished.push(bare.finishedMs);
  }
  rmSync(dir, { recursive: true, force: true });
  const startedMedian = median(started);
  const finishedMedian = median(finished);
  report('trivial job: request → started (median)', ms(startedMedian), `bare spawn → spawned ${ms(median(bareStarted))}`, startedMedian <= 25);
  report('trivial job: request → started (p95)', ms(percentile(started, 95)), '');
  report(
    'trivial job: request → finished (median)',
    ms(finishedMedian),
    `bare spawn → exit ${ms(median(bareFinished))} (${ratio(finishedMedian, median(bareFinished))})`,
    finishedMedian <= 100,
  );
}

/** A job printing `megabytes` of log-like text lines: stored, returned, and checked against the same command writing to a file. */
export async function benchLargeOutput(server: ServerProcess, label: string, interpreter: string, body: string, targetRatio: number | null): Promise<void> {
  const jobId = await createJob(server, `bench-${label.replace(/\W+/g, '-')}`, interpreter, body);
  const dir = mkdtempSync(join(tmpdir(), 'ec-bench-'));
  const script = join(dir, 'script');
  writeFileSync(script, body);
  const file = join(dir, 'out.txt');
  const baseline = await bareSpawn(interpreter, script, file);
  const expectedHash = await hashFile(file);

  const { run, sentAt } = await runAndWait(server, jobId, 600_000);
  const response = await server.request(`/api/runs/${run.id}/output`);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  const totalMs = Date.now() - sentAt;
  const exact = hash.digest('hex') === expectedHash;
  rmSync(dir, { recursive: true, force: true });
  report(
    `${label}: stored and returned (${(bytes / 1e6).toFixed(0)} MB, ${exact ? 'sha256 equal' : 'SHA256 DIFFERS'})`,
    ms(totalMs),
    `command → file ${ms(baseline.finishedMs)} (${ratio(totalMs, baseline.finishedMs)})`,
    targetRatio === null ? exact : exact && totalMs <= targetRatio * baseline.finishedMs,
  );
}

async function hashFile(path: string): Promise<string> {
  const { createReadStream } = await import('node:fs');
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
