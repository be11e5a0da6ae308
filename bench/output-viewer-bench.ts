/**
 * Output viewer benchmark (issue 15, item 8): a run with 100 MB of build-log
 * text (1.31 million lines, the run bench's TEXT_LINES_100MB) is run by a
 * built server; then its run page (the tail, numbered, with per-line times)
 * and output searches are requested over loopback with the key.
 * Targets: the run page ≤ 300 ms at p95; a search over the 100 MB ≤ 1 s.
 *
 * `node dist/bench/output-viewer-bench.js` (a separate entry: it does not
 * touch bench/main.ts's sections).
 */
import { createJob, requestRun, waitForRun } from '../test/support/rest';
import { startServer } from '../test/support/server-process';
import { median, ms, percentile, report } from './stats';
import { TEXT_LINES_100MB } from './workloads';

export interface OutputViewerBenchResult {
  outputBytes: number;
  /** The first request of the run page after the run (it reads the line index from the log). */
  pageColdMs: number;
  pageMedianMs: number;
  pageP95Ms: number;
  /** A text on one line near the end: the whole 100 MB is read. */
  searchWholeMs: number;
  /** A text on every line: stops at the first 1000 matches. */
  searchCappedMs: number;
  /** The lines around line 654,321 (a `#L` link far before the tail). */
  aroundMs: number;
}

export async function benchOutputViewer(samples = 30): Promise<OutputViewerBenchResult> {
  const server = await startServer({ env: { ENDERCOMPUTE_MAX_OUTPUT_BYTES: String(200 * 1024 * 1024) } });
  try {
    const jobId = await createJob(server, 'hundred megabytes', 'python3', TEXT_LINES_100MB);
    const run = await waitForRun(server, (await requestRun(server, jobId)).id, 600_000);
    const headers = { authorization: `Bearer ${server.key}`, 'x-actor': 'bench', 'hx-request': 'true', 'hx-request-type': 'full' };
    const timed = async (path: string, check: (body: string) => boolean): Promise<number> => {
      const started = performance.now();
      const response = await fetch(`${server.url}${path}`, { headers });
      const body = await response.text();
      const elapsed = performance.now() - started;
      if (response.status !== 200 || !check(body)) throw new Error(`${path}: HTTP ${response.status} ${body.slice(0, 200)}`);
      return elapsed;
    };
    const page = `/runs/${run.id}`;
    const lastLine = (body: string) => body.includes('id="L1310000"');
    const pageColdMs = await timed(page, lastLine);
    for (let i = 0; i < 5; i++) await timed(page, lastLine);
    const times: number[] = [];
    for (let i = 0; i < samples; i++) times.push(await timed(page, lastLine));
    const search = (q: string, want: (answer: { matches: unknown[]; next: string | null }) => boolean) =>
      timed(`/api/runs/${run.id}/output/search?limit=1000&q=${encodeURIComponent(q)}`, (body) => want(JSON.parse(body)));
    const whole: number[] = [];
    for (let i = 0; i < 3; i++) whole.push(await search('001309999 info', (a) => a.matches.length === 1 && a.next === null));
    const searchWholeMs = median(whole);
    const searchCappedMs = await search('all good', (a) => a.matches.length === 1000 && a.next !== null);
    const aroundMs = await timed(`/runs/${run.id}/output/around?line=654321`, (body) => body.includes('id="L654321"'));
    return { outputBytes: run.outputBytes, pageColdMs, pageMedianMs: median(times), pageP95Ms: percentile(times, 95), searchWholeMs, searchCappedMs, aroundMs };
  } finally {
    await server.stop();
    server.cleanup();
  }
}

if (require.main === module) {
  void benchOutputViewer().then((figures) => {
    report('output viewer: run size', `${(figures.outputBytes / 1e6).toFixed(1)} MB`, '');
    report('output viewer: run page, first request', ms(figures.pageColdMs), '');
    report('output viewer: run page median', ms(figures.pageMedianMs), '');
    report('output viewer: run page p95', ms(figures.pageP95Ms), 'target ≤ 300 ms', figures.pageP95Ms <= 300);
    report('output viewer: search read to the end (median of 3)', ms(figures.searchWholeMs), 'target ≤ 1 s', figures.searchWholeMs <= 1000);
    report('output viewer: search, first 1000 matches', ms(figures.searchCappedMs), '');
    report('output viewer: lines around line 654,321', ms(figures.aroundMs), '');
  });
}
