import { startJobServer } from '../test/support/job-server-process';
import { postJson, requestRun, waitForRun, type Run } from '../test/support/rest';
import { startServer, type ServerProcess } from '../test/support/server-process';
import { median, ms, ratio, report } from './stats';
import { readOutputHashed } from './run-bench';
import { TEXT_LINES_100MB } from './workloads';

const TOKEN = 'bench-runner-token-0123456789abcdef';
/** Targets of issue 13: request → started on a job server ≤ 2× the local runner's; 100 MB of text output ≤ 1.5× the local runner's time. */
const STARTED_TARGET = 2;
const OUTPUT_TARGET = 1.5;
/** Runs of the 100 MB job on each runner. */
const BIG_SAMPLES = 3;

/**
 * A job server (`endercompute runner` on this machine) beside the server's local
 * runner, in one run: request → started and request → finished of a trivial job,
 * and request → finished (output read back, sha256 compared) of a job printing 100 MB
 * of text lines. Labels place each job: `bench-local` on the local runner, `bench-remote`
 * on the job server.
 */
export async function benchJobServer(samples = 30): Promise<void> {
  const server = await startServer({
    env: { ENDERCOMPUTE_RUNNER_TOKENS: `bench=${TOKEN}`, ENDERCOMPUTE_RUNNER_LABELS: 'bench-local', ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '4' },
  });
  const runner = await startJobServer({ url: server.url, token: TOKEN, labels: ['bench-remote'] });
  try {
    const trivialLocal = await trivial(server, 'local', samples);
    const trivialRemote = await trivial(server, 'remote', samples);
    const startedRatio = trivialRemote.started / trivialLocal.started;
    report('trivial job, local runner: request → started (median)', ms(trivialLocal.started), '');
    report('trivial job, job server: request → started (median)', ms(trivialRemote.started), `${ratio(trivialRemote.started, trivialLocal.started)} the local runner's; target ≤ ${STARTED_TARGET}×`, startedRatio <= STARTED_TARGET);
    report('trivial job, local runner: request → finished (median)', ms(trivialLocal.finished), '');
    report('trivial job, job server: request → finished (median)', ms(trivialRemote.finished), `${ratio(trivialRemote.finished, trivialLocal.finished)} the local runner's`);

    // Interleaved, three each, medians: one sample of a few seconds on a shared machine says little.
    const bigLocalJob = await jobOn(server, 'local', 'bench-js-100mb', 'python3', TEXT_LINES_100MB);
    const bigRemoteJob = await jobOn(server, 'remote', 'bench-js-100mb', 'python3', TEXT_LINES_100MB);
    const locals: Array<{ ms: number; sha256: string; exactNote: string }> = [];
    const remotes: Array<{ ms: number; sha256: string; exactNote: string }> = [];
    for (let i = 0; i < BIG_SAMPLES; i++) {
      locals.push(await bigOutput(server, bigLocalJob));
      remotes.push(await bigOutput(server, bigRemoteJob));
    }
    const bigLocal = { ...locals[0], ms: median(locals.map((sample) => sample.ms)) };
    const bigRemote = { ...remotes[0], ms: median(remotes.map((sample) => sample.ms)) };
    if (new Set([...locals, ...remotes].map((sample) => sample.sha256)).size !== 1) throw new Error('the 100 MB outputs differ between runs');
    report(`100 MB of text, local runner: request → finished (median of ${BIG_SAMPLES}; ${bigLocal.exactNote})`, ms(bigLocal.ms), '');
    report(
      `100 MB of text, job server: request → finished (median of ${BIG_SAMPLES}; ${bigRemote.exactNote})`,
      ms(bigRemote.ms),
      `${ratio(bigRemote.ms, bigLocal.ms)} the local runner's; target ≤ ${OUTPUT_TARGET}×`,
      bigRemote.sha256 === bigLocal.sha256 && bigRemote.ms / bigLocal.ms <= OUTPUT_TARGET,
    );
  } finally {
    await runner.stop();
    runner.cleanup();
    await server.stop();
    server.cleanup();
  }
}

async function jobOn(server: ServerProcess, where: 'local' | 'remote', name: string, interpreter: string, body: string): Promise<string> {
  const script = `${name}-${where}`;
  await postJson(server, '/api/scripts', { name: script, interpreter, body }, 201);
  return (await postJson<{ id: string }>(server, '/api/jobs', { name: script, scriptId: script, runsOn: [`bench-${where}`] }, 201)).id;
}

async function runOnce(server: ServerProcess, jobId: string, timeoutMs = 60_000): Promise<{ run: Run; sentAt: number }> {
  const sentAt = Date.now();
  const requested = await requestRun(server, jobId);
  return { run: await waitForRun(server, requested.id, timeoutMs), sentAt };
}

/** Medians of request → started and request → finished of `true`, by the server's stamps. */
async function trivial(server: ServerProcess, where: 'local' | 'remote', samples: number): Promise<{ started: number; finished: number }> {
  const jobId = await jobOn(server, where, 'bench-js-trivial', 'bash', 'true');
  await runOnce(server, jobId); // warm-up
  const started: number[] = [];
  const finished: number[] = [];
  for (let i = 0; i < samples; i++) {
    const { run, sentAt } = await runOnce(server, jobId);
    if (run.status !== 'succeeded') throw new Error(`trivial run on ${where} ended ${run.status}: ${run.reason}`);
    started.push(Date.parse(run.startedAt ?? '') - sentAt);
    finished.push(Date.parse(run.finishedAt ?? '') - sentAt);
  }
  return { started: median(started), finished: median(finished) };
}

/** Request → finished of 100 MB of text lines, and the sha256 of the output read back. */
async function bigOutput(server: ServerProcess, jobId: string): Promise<{ ms: number; sha256: string; exactNote: string }> {
  const { run, sentAt } = await runOnce(server, jobId, 600_000);
  const elapsed = Date.parse(run.finishedAt ?? '') - sentAt;
  const { bytes, sha256 } = await readOutputHashed(server, run.id);
  return { ms: elapsed, sha256, exactNote: `${(bytes / 1e6).toFixed(0)} MB stored` };
}
