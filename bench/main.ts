/**
 * `npm run bench`: the figures the issues name, each beside a baseline
 * measured in the same run (this machine is noisy: compare ratios, not
 * absolute numbers across machines).
 */
import { startServer } from '../test/support/server-process';
import { benchReplay } from './replay-bench';
import { benchEsdbDouble } from './esdb-bench';
import { benchLive } from './live-bench';
import { benchPages } from './pages-bench';
import { benchLargeOutput, benchTrivialJob } from './run-bench';
import { benchSandbox } from './sandbox-bench';
import { ms, report } from './stats';

const TEXT_LINES_100MB = `import sys
out = sys.stdout
for i in range(1_310_000):
    out.write(f"{i:09d} INFO tests::module_{i % 977}::case_{i % 131} passed in {i % 1000} ms -- all good here\\n")
`;
const YES_100MB = `yes 'EnderCompute benchmark line: the quick brown fox jumps over the lazy dog 0123456789' | head -c 100000000\n`;
/** Incompressible bytes, the same on every run (a seeded generator), so the file and the stored output can be compared. */
const RANDOM_20MB = `import random, sys
random.seed(7)
sys.stdout.buffer.write(random.randbytes(20_000_000))
`;

async function main(): Promise<void> {
  const only = new Set(process.argv.slice(2));
  const wants = (name: string) => only.size === 0 || only.has(name);
  process.stdout.write(`EnderCompute benchmarks — node ${process.version}, ${new Date().toISOString()}\n\n`);

  if (wants('runs')) {
    const server = await startServer({ env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '4' } });
    try {
      await benchTrivialJob(server);
      await benchLargeOutput(server, '100 MB of log lines (python3)', 'python3', TEXT_LINES_100MB, 3);
      await benchLargeOutput(server, '100 MB from yes|head (worst case)', 'bash', YES_100MB, null);
      await benchLargeOutput(server, '20 MB of random bytes', 'python3', RANDOM_20MB, null);
    } finally {
      await server.stop();
      server.cleanup();
    }
  }
  if (wants('sandbox')) await benchSandbox();
  if (wants('replay')) await benchReplay();
  if (wants('pages')) await reportPages();
  if (wants('live')) await benchLive();
  if (wants('esdb')) await benchEsdbDouble();
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
