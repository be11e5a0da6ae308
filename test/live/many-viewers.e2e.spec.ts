/**
 * Fifty people on one chatty run, against the built server as a process: the
 * run takes about as long as with nobody watching, every API viewer gets the
 * exact bytes, page viewers get shared frames, a viewer that stops reading
 * holds nothing back and later resumes exactly, and the server's memory stays
 * bounded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createJob, outputOf, requestRun, type Run, waitForRun } from '../support/rest';
import { startServer, type ServerProcess } from '../support/server-process';
import { openSse, readToEnd } from './sse-client';

/** About 6 MB in bursts of 150 KB every 40 ms: a build log at full speed, for about two seconds. */
const CHATTY = `import sys, time
out = sys.stdout
for burst in range(40):
    out.write("".join(f"burst {burst:03d} line {i:05d} \\x1b[32mok\\x1b[0m " + "x" * 100 + "\\n" for i in range(1200)))
    out.flush()
    time.sleep(0.04)
`;

function durationOf(run: Run): number {
  return Date.parse(run.finishedAt ?? '') - Date.parse(run.startedAt ?? '');
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** A stream request that reads nothing after the headers: the slowest viewer there can be. */
function stalledViewer(server: ServerProcess, runId: string): Promise<{ resume: () => Promise<Buffer>; destroy: () => void }> {
  const url = new URL(`${server.url}/api/runs/${runId}/output/stream`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { authorization: `Bearer ${server.key}`, accept: 'text/event-stream' } }, (response) => {
      response.pause();
      resolve({
        destroy: () => req.destroy(),
        resume: () =>
          new Promise<Buffer>((done) => {
            const parts: Buffer[] = [];
            response.on('data', (chunk: Buffer) => parts.push(chunk));
            response.on('end', () => done(Buffer.concat(parts)));
            response.on('close', () => done(Buffer.concat(parts)));
            response.resume();
          }),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The output bytes in a raw API stream answer, checking that each event continues the previous one. */
function bytesOfRawStream(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const match of raw.toString().matchAll(/^event: output\ndata: \{"offset":(\d+),"data":"([^"]*)"\}$/gm)) {
    assert.equal(Number(match[1]), at, 'no repeat and no gap');
    const bytes = Buffer.from(match[2], 'base64');
    parts.push(bytes);
    at += bytes.length;
  }
  return Buffer.concat(parts);
}

describe('many viewers on one chatty run', () => {
  let server: ServerProcess;
  let jobId: string;

  before(async () => {
    server = await startServer();
    jobId = await createJob(server, 'chatty', 'python3', CHATTY);
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  it('serves 50 stream clients without slowing the run or growing memory without bound', async () => {
    const alone = await waitForRun(server, (await requestRun(server, jobId)).id, 60_000);
    const aloneMs = durationOf(alone);
    const rssBefore = rssBytes(server.child.pid!);

    const startedAt = performance.now();
    const run = await requestRun(server, jobId);
    const auth = { authorization: `Bearer ${server.key}` };
    const apiViewers = await Promise.all(Array.from({ length: 40 }, () => openSse(`${server.url}/api/runs/${run.id}/output/stream`, auth)));
    const pageViewers = await Promise.all(
      Array.from({ length: 10 }, () => openSse(`${server.url}/runs/${run.id}/output/live?from=0`, { ...auth, 'hx-request': 'true' })),
    );
    const stalled = await stalledViewer(server, run.id);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(server.child.pid!))), 50);

    const pageFrames: number[] = [];
    const viewers = Promise.all([
      Promise.all(apiViewers.map((viewer) => readToEnd(viewer, 0, 60_000))),
      Promise.all(
        pageViewers.map(async (viewer) => {
          let frames = 0;
          for (;;) {
            const event = await viewer.next(60_000);
            assert.ok(event, 'a page stream ends with run-done');
            if (event.event === 'message') {
              assert.match(event.data, /<hx-partial hx-target="#output-(lines|current)"/);
              assert.doesNotMatch(event.data, /\x1b|style=/);
              frames++;
            }
            if (event.event === 'run-done') {
              assert.equal(event.data, 'succeeded');
              break;
            }
          }
          pageFrames.push(frames);
        }),
      ),
    ]);
    // The run ends on its own time, whatever its viewers do (the clients here may still be reading).
    const watched = await waitForRun(server, run.id, 60_000);
    const watchedMs = durationOf(watched);
    const expected = await outputOf(server, run.id);
    assert.equal(expected.length, 40 * 1200 * 134);

    // The viewer that read nothing did not hold the run back; it now reads everything, exactly.
    const late = bytesOfRawStream(await stalled.resume());
    assert.ok(late.equals(expected), 'the stalled viewer resumes exactly');

    const [apiResults] = await viewers;
    clearInterval(sampler);
    for (const result of apiResults) {
      assert.ok(result.bytes.equals(expected), 'every viewer got the exact output');
      assert.equal(result.end.status, 'succeeded');
    }
    assert.ok(pageFrames.every((frames) => frames >= 3), `page viewers got frames: ${pageFrames.join(',')}`);
    process.stdout.write(`# every viewer done ${(performance.now() - startedAt).toFixed(0)} ms after the request\n`);

    const growth = rssPeak - rssBefore;
    process.stdout.write(`# alone ${aloneMs} ms, with 51 viewers ${watchedMs} ms; server RSS growth ${(growth / 1048576).toFixed(1)} MiB\n`);
    assert.ok(watchedMs <= aloneMs * 1.5 + 500, `the run took ${watchedMs} ms watched, ${aloneMs} ms alone`);
    assert.ok(growth < 150 * 1024 * 1024, `server memory grew by ${(growth / 1048576).toFixed(1)} MiB`);
  });
});
