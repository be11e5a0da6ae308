/**
 * `npm run bench`: the figures the issues name, each beside a baseline
 * measured in the same run (this machine is noisy: compare ratios, not
 * absolute numbers across machines).
 */
import { startServer } from '../test/support/server-process';
import { benchReplay } from './replay-bench';
import { benchEsdbDouble } from './esdb-bench';
import { benchJobServer } from './job-server-bench';
import { benchLive } from './live-bench';
import { benchPages } from './pages-bench';
import { benchLargeOutput, benchTrivialJob } from './run-bench';
import { benchSandbox } from './sandbox-bench';
import { benchScale } from './scale-bench';
import { ms, report } from './stats';
import { RANDOM_20MB, RANDOM_BASE64_50MB, TEXT_LINES_100MB, YES_100MB } from './workloads';

async function main(): Promise<void> {
  const only = new Set(process.argv.slice(2));
  const wants = (name: string) => only.size === 0 || only.has(name);
  process.stdout.write(`EnderCompute benchmarks — node ${process.version}, ${new Date().toISOString()}\n\n`);

  if (wants('runs')) {
    const server = await startServer({ env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '4' } });
    try {
      await benchTrivialJob(server);
      // Targets from the output issue: yes|head ≤ 3× a file, the python3 writer ≤ 1.2× (and ≤ 0.3
      // bytes of log per byte), random base64 text ≤ 4×; raw random bytes have no target.
      await benchLargeOutput(server, '100 MB from yes|head', 'bash', YES_100MB, { ratio: 3, floors: true });
      await benchLargeOutput(server, '100 MB of log lines (python3)', 'python3', TEXT_LINES_100MB, { ratio: 1.2, logBytesPerByte: 0.3 });
      await benchLargeOutput(server, '50 MB of random base64 text', 'python3', RANDOM_BASE64_50MB, { ratio: 4 });
      await benchLargeOutput(server, '20 MB of random bytes', 'python3', RANDOM_20MB, { ratio: null });
    } finally {
      await server.stop();
      server.cleanup();
    }
  }
  // Issue 13: a job server beside the local runner (request → started ≤ 2×, 100 MB of text ≤ 1.5×).
  if (wants('jobserver')) await benchJobServer();
  if (wants('sandbox')) await benchSandbox();
  if (wants('replay')) await benchReplay();
  if (wants('pages')) await reportPages();
  if (wants('live')) await benchLive();
  if (wants('esdb')) await benchEsdbDouble();
  if (wants('scale')) await benchScale();
  // The 100,000-run seed only (no 1M-event seed, no EventStoreDB double): the quick look.
  else if (wants('scale-100k')) await benchScale({ large: null, double: null });
}

/** Server time per page with 10,000 jobs and 100,000 runs (target: median ≤ 50 ms). */
async function reportPages(): Promise<void> {
  const figures = await benchPages();
  const pages: Array<[string, number]> = [
    ['dashboard', figures.dashboardMs],
    ['dashboard live refresh', figures.dashboardPollMs],
    ['jobs', figures.jobsMs],
    ['jobs search', figures.jobsSearchMs],
    ['job', figures.jobMs],
    ['runs', figures.runsMs],
    ['runs filtered', figures.runsFilteredMs],
    ['run', figures.runMs],
    ['templates', figures.scriptsMs],
    ['audit', figures.auditMs],
  ];
  for (const [page, value] of pages) {
    report(`page ${page} (${figures.jobs} jobs, ${figures.runs} runs), median`, ms(value), 'target 50 ms', value <= 50);
  }
  report('pages: slowest p95', ms(figures.worstP95Ms), '');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
