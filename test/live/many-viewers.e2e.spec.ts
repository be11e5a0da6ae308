/**
 * Fifty people on one chatty run, against the built server as a process: the
 * run takes about as long as with nobody watching, every API viewer gets the
 * exact bytes (no repeat, no gap), page viewers get the shared frames, a
 * viewer that stops reading holds nothing back and later resumes exactly, and
 * the server's memory stays bounded.
 *
 * The clients only collect bytes while the run goes on and check them after:
 * on a small machine, parsing 50 streams at once would take the CPU the run
 * and the server need, and measure the test instead of the server.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createJob, outputOf, requestRun, type Run, waitForRun } from '../support/rest';
import { startServer, type ServerProcess } from '../support/server-process';

/** About 6 MB in bursts of 160 KB every 40 ms: a build log at full speed, for about two seconds. */
const CHATTY = `import sys, time
out = sys.stdout
for burst in range(40):
    out.write("".join(f"burst {burst:03d} line {i:05d} \\x1b[32mok\\x1b[0m " + "x" * 100 + "\\n" for i in range(1200)))
    out.flush()
    time.sleep(0.04)
`;
const LINE_BYTES = 134;

function durationOf(run: Run): number {
  return Date.parse(run.finishedAt ?? '') - Date.parse(run.startedAt ?? '');
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

interface RawViewer {
  /** Starts (or goes on) reading; resolves with everything read once the answer ends. */
  read(): Promise<Buffer>;
}

/** A stream request over its own connection; it reads nothing until `read()`. */
function openRaw(server: ServerProcess, path: string, agent: Agent, headers: Record<string, string> = {}): Promise<RawViewer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(`${server.url}${path}`), { agent, headers: { authorization: `Bearer ${server.key}`, accept: 'text/event-stream', ...headers } }, (response) => {
      assert.equal(response.statusCode, 200);
      response.pause();
      const parts: Buffer[] = [];
      const ended = new Promise<Buffer>((done) => {
        response.on('data', (chunk: Buffer) => parts.push(chunk));
        response.on('close', () => done(Buffer.concat(parts)));
      });
      resolve({
        read: () => {
          response.resume();
          return ended;
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}

interface RawEvent {
  id: string | null;
  event: string;
  data: string;
}

function eventsOf(raw: Buffer): RawEvent[] {
  const events: RawEvent[] = [];
  for (const block of raw.toString().split('\n\n')) {
    const event: RawEvent = { id: null, event: 'message', data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(': ');
      const [field, value] = colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 2)];
      if (field === 'id') event.id = value;
      else if (field === 'event') event.event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0 && event.id === null && event.event === 'message') continue;
    event.data = data.join('\n');
    events.push(event);
  }
  return events;
}

/** The output bytes of an API stream, checking that each event continues the previous one exactly. */
function outputOfApiStream(events: RawEvent[]): { bytes: Buffer; end: RawEvent | undefined } {
  const parts: Buffer[] = [];
  let at = 0;
  for (const event of events) {
    if (event.event !== 'output') continue;
    const { offset, data } = JSON.parse(event.data) as { offset: number; data: string };
    assert.equal(offset, at, 'no repeat and no gap');
    const bytes = Buffer.from(data, 'base64');
    assert.equal(event.id, String(offset + bytes.length));
    parts.push(bytes);
    at += bytes.length;
  }
  return { bytes: Buffer.concat(parts), end: events.find((event) => event.event === 'end') };
}

describe('many viewers on one chatty run', () => {
  let server: ServerProcess;
  let jobId: string;
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });

  before(async () => {
    server = await startServer();
    jobId = await createJob(server, 'chatty', 'python3', CHATTY);
  });
  after(async () => {
    agent.destroy();
    await server?.stop();
    server?.cleanup();
  });

  it('serves 50 stream clients without slowing the run or growing memory without bound', async () => {
    const alone = await waitForRun(server, (await requestRun(server, jobId)).id, 60_000);
    const aloneMs = durationOf(alone);
    const rssBefore = rssBytes(server.child.pid!);

    const run = await requestRun(server, jobId);
    const api = await Promise.all(Array.from({ length: 40 }, () => openRaw(server, `/api/runs/${run.id}/output/stream`, agent)));
    const pages = await Promise.all(Array.from({ length: 10 }, () => openRaw(server, `/runs/${run.id}/output/live?from=0`, agent, { 'hx-request': 'true' })));
    const stalled = await openRaw(server, `/api/runs/${run.id}/output/stream`, agent);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(server.child.pid!))), 50);
    const reading = [...api, ...pages].map((viewer) => viewer.read());

    // The run ends on its own time, whatever its viewers do.
    const watched = await waitForRun(server, run.id, 60_000);
    const watchedMs = durationOf(watched);
    const answers = await Promise.all(reading);
    clearInterval(sampler);
    const expected = await outputOf(server, run.id);
    assert.equal(expected.length, 40 * 1200 * LINE_BYTES);

    for (const raw of answers.slice(0, api.length)) {
      const { bytes, end } = outputOfApiStream(eventsOf(raw));
      assert.ok(bytes.equals(expected), 'every API viewer got the exact output');
      assert.equal(JSON.parse(end?.data ?? '{}').status, 'succeeded');
      assert.equal(end?.id, String(expected.length));
    }
    for (const raw of answers.slice(api.length)) {
      const events = eventsOf(raw);
      const frames = events.filter((event) => event.event === 'message');
      assert.ok(frames.length >= 3, `a page viewer got ${frames.length} frames`);
      for (const frame of frames) {
        assert.match(frame.data, /<hx-partial hx-target="#output-(lines|current)"/);
        assert.doesNotMatch(frame.data, /\x1b|style=/);
      }
      assert.equal(events[events.length - 1].event, 'run-done');
      assert.equal(frames[frames.length - 1].id, String(expected.length), 'the last frame reaches the end');
    }

    // The viewer that read nothing did not hold the run back; it now reads everything, exactly.
    const late = outputOfApiStream(eventsOf(await stalled.read()));
    assert.ok(late.bytes.equals(expected), 'the stalled viewer resumes exactly');

    const growth = rssPeak - rssBefore;
    process.stdout.write(`# alone ${aloneMs} ms, with 51 viewers ${watchedMs} ms; server RSS growth ${(growth / 1048576).toFixed(1)} MiB\n`);
    assert.ok(watchedMs <= aloneMs * 1.5 + 500, `the run took ${watchedMs} ms watched, ${aloneMs} ms alone`);
    assert.ok(growth < 150 * 1024 * 1024, `server memory grew by ${(growth / 1048576).toFixed(1)} MiB`);
  });
});
