/**
 * Live output figures (issue 4), against the built server as a process:
 *
 * - a line printed by a run → the same line received by a client of
 *   `GET /api/runs/:id/output/stream`: median and p99;
 * - a run printing 100 MB with 10 live viewers attached, request → finished,
 *   against the same command writing to a file and the same run unwatched:
 *   once with 10 clients of the API stream (every byte, as base64), once with
 *   10 run pages watching (the page's own stream, as a browser opens it);
 * - the run page of that 100 MB run (full page with the key), median.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJob, getJson, requestRun, type Run, waitForRun } from '../test/support/rest';
import { startServer, type ServerProcess } from '../test/support/server-process';
import { median, ms, percentile, ratio, report } from './stats';
import { TEXT_LINES_100MB } from './workloads';

/** Lines with the wall-clock time they were printed at, flushed one by one. */
const TIMED_LINES = `import sys, time
for i in range(int(sys.argv[1])):
    print(f"L {i} {time.time() * 1000:.3f}", flush=True)
    time.sleep(0.01)
`;
const LATENCY_LINES = 400;
const LATENCY_WARM_UP = 20;

const VIEWERS = 10;
/** Bytes of its stream an API viewer keeps, to find the last event id in. */
const TAIL_BYTES = 4096;
const PAGE_SAMPLES = 15;

export async function benchLive(): Promise<void> {
  const server = await startServer();
  try {
    await benchLatency(server);
    await benchLargeRunWatched(server);
  } finally {
    await server.stop();
    server.cleanup();
  }
}

/** Printed → received, for lines printed 10 ms apart and read by one stream client. */
async function benchLatency(server: ServerProcess): Promise<void> {
  const script = await createJob(server, 'bench-live-latency', 'python3', TIMED_LINES);
  const run = await requestRun(server, script, { args: [String(LATENCY_LINES)] });
  const latencies: number[] = [];
  let pending = '';
  await readStream(server, run.id, (data, receivedAt) => {
    if (!data.startsWith('{')) return;
    pending += Buffer.from((JSON.parse(data) as { data: string }).data, 'base64').toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const [, index, printedAt] = line.split(' ');
      if (Number(index) >= LATENCY_WARM_UP) latencies.push(receivedAt - Number(printedAt));
    }
  });
  const p50 = median(latencies);
  const p99 = percentile(latencies, 99);
  report('live: line printed → received by a stream client (median)', ms(p50), `${latencies.length} lines; target ≤ 50 ms`, p50 <= 50);
  report('live: line printed → received (p99)', ms(p99), 'target ≤ 200 ms', p99 <= 200);
}

/** 100 MB with 10 viewers reading it live, against the command alone writing to a file; then the run page of it. */
async function benchLargeRunWatched(server: ServerProcess): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ec-live-bench-'));
  try {
    const scriptPath = join(dir, 'script.py');
    writeFileSync(scriptPath, TEXT_LINES_100MB);
    const baselineMs = await commandToFile('python3', scriptPath, join(dir, 'out.txt'));

    const jobId = await createJob(server, 'bench-live-100mb', 'python3', TEXT_LINES_100MB);
    // The same run with nobody watching, first: what the viewers add is measured against it.
    const unwatchedSentAt = Date.now();
    const unwatched = await waitForRun(server, (await requestRun(server, jobId)).id, 600_000);
    const unwatchedMs = Date.parse(unwatched.finishedAt ?? '') - unwatchedSentAt;
    const sentAt = Date.now();
    const requested = await requestRun(server, jobId);
    const agent = new Agent({ maxSockets: Infinity });
    const viewers = Array.from({ length: VIEWERS }, () => countStreamBytes(server, requested.id, agent));
    const run = await waitForRun(server, requested.id, 600_000);
    const runMs = Date.parse(run.finishedAt ?? '') - sentAt;
    const received = await Promise.all(viewers);
    const allReadMs = Date.now() - sentAt;
    const everyone = received.every((bytes) => bytes >= run.outputBytes);
    report(
      `live: 100 MB run, ${VIEWERS} live viewers: request → finished`,
      ms(runMs),
      `command → file ${ms(baselineMs)} (${ratio(runMs, baselineMs)}; target ≤ 3×)`,
      runMs <= 3 * baselineMs,
    );
    report(
      `live: 100 MB run, ${VIEWERS} API stream clients (every byte) against none: request → finished`,
      ms(runMs),
      `unwatched ${ms(unwatchedMs)} (${ratio(runMs, unwatchedMs)}; target ≤ 1.2×)`,
      runMs <= 1.2 * unwatchedMs,
    );
    report(`live: … until all ${VIEWERS} viewers had every byte`, ms(allReadMs), everyone ? `${(run.outputBytes / 1e6).toFixed(0)} MB each` : 'A VIEWER MISSED BYTES', everyone);

    // The same run watched the way people watch it: 10 run pages, each on the stream its page names.
    const pageSentAt = Date.now();
    const pageRequested = await requestRun(server, jobId);
    const pageViewers = Array.from({ length: VIEWERS }, () => watchRunPage(server, pageRequested.id, agent));
    const pageRun = await waitForRun(server, pageRequested.id, 600_000);
    const pageRunMs = Date.parse(pageRun.finishedAt ?? '') - pageSentAt;
    const pagesDone = (await Promise.all(pageViewers)).every(Boolean);
    agent.destroy();
    report(
      `live: 100 MB run, ${VIEWERS} run pages watching against none: request → finished`,
      ms(pageRunMs),
      `unwatched ${ms(unwatchedMs)} (${ratio(pageRunMs, unwatchedMs)}; target ≤ 1.2×)${pagesDone ? '' : '; A PAGE MISSED THE END'}`,
      pageRunMs <= 1.2 * unwatchedMs && pagesDone,
    );

    await getJson<Run>(server, `/api/runs/${run.id}`);
    const times: number[] = [];
    for (let i = 0; i < PAGE_SAMPLES; i++) {
      const started = performance.now();
      const response = await server.request(`/runs/${run.id}`);
      const html = await response.text();
      times.push(performance.now() - started);
      if (response.status !== 200 || !html.includes('id="output-lines"')) throw new Error(`The run page answered ${response.status} without its output`);
    }
    const pageMs = median(times);
    report('live: run page of a 100 MB run (median, full page)', ms(pageMs), `p95 ${ms(percentile(times, 95))}; target ≤ 300 ms`, pageMs <= 300);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function commandToFile(interpreter: string, script: string, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = openSync(file, 'w');
    const started = performance.now();
    const child = spawn(interpreter, [script], { stdio: ['ignore', out, 'ignore'] });
    child.once('error', reject);
    child.once('close', () => {
      closeSync(out);
      resolve(performance.now() - started);
    });
  });
}

/** Reads an API stream to its end, handing each `output` event's data and arrival time (epoch ms) to `onOutput`. */
function readStream(server: ServerProcess, runId: string, onOutput: (data: string, receivedAt: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${server.url}/api/runs/${runId}/output/stream`);
    const req = httpRequest(url, { headers: { authorization: `Bearer ${server.key}` } }, (response) => {
      response.setEncoding('utf8');
      let buffer = '';
      response.on('data', (text: string) => {
        const receivedAt = performance.timeOrigin + performance.now();
        buffer += text;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!message.includes('event: output')) continue;
          const data = /^data: (.*)$/m.exec(message)?.[1];
          if (data) onOutput(data, receivedAt);
        }
      });
      response.on('end', resolve);
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A person watching the run page: loads the page, opens the live stream it names
 * (`hx-sse:connect`) and reads it to `run-done`. Resolves with whether the end came.
 */
async function watchRunPage(server: ServerProcess, runId: string, agent: Agent): Promise<boolean> {
  const html = await (await server.request(`/runs/${runId}`)).text();
  const streamPath = /hx-sse:connect="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&');
  if (!streamPath) return false;
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(`${server.url}${streamPath}`), { agent, headers: { authorization: `Bearer ${server.key}` } }, (response) => {
      let tail = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => (tail = (tail + text).slice(-4096)));
      response.on('end', () => resolve(tail.includes('event: run-done')));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A viewer that reads the whole stream and resolves with the output bytes its last event
 * reached. It keeps only the stream's last 4 KiB, as bytes: ten viewers of 100 MB receive
 * 1.3 GB of base64, and decoding all of it into strings took this process a core's worth
 * of the two the server and the run share.
 */
function countStreamBytes(server: ServerProcess, runId: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${server.url}/api/runs/${runId}/output/stream`);
    const req = httpRequest(url, { agent, headers: { authorization: `Bearer ${server.key}` } }, (response) => {
      let tail: Buffer = Buffer.alloc(0);
      response.on('data', (chunk: Buffer) => {
        tail = chunk.length >= TAIL_BYTES ? chunk.subarray(chunk.length - TAIL_BYTES) : Buffer.concat([tail, chunk]).subarray(-TAIL_BYTES);
      });
      response.on('end', () => {
        const ids = [...tail.toString('latin1').matchAll(/^id: (\d+)$/gm)];
        resolve(ids.length > 0 ? Number(ids[ids.length - 1][1]) : 0);
      });
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
