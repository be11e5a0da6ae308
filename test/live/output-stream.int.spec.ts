/**
 * `GET /api/runs/:id/output/stream` on a real server in this process: output
 * arrives while the run goes on, resumes exactly from `Last-Event-ID` (also
 * across the hand-over from the store to the live window), ends with the
 * run's status, replays a finished run, keeps NUL and invalid UTF-8 byte-exact,
 * shows the truncation notice, sends heartbeats, sends a flooding run within the
 * send budget until it ends, and refuses a missing key.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LiveOutputHub } from '../../src/live/live-output.hub';
import { WINDOW_BYTES } from '../../src/live/run-feed';
import { type ScriptGate, scriptGates } from '../support/script-gates';
import { createJob, getJson, outputOf, requestRun, type Run, waitForRun } from '../support/rest';
import { eventually, TEST_KEY } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';
import { openSse, outputBytes, readToEnd, type SseStream } from './sse-client';

const AUTH = { authorization: `Bearer ${TEST_KEY}` };

describe('the live output stream (API)', () => {
  let t: TestApp;
  let truncating: TestApp;
  const gates = scriptGates();

  const stream = (runId: string, headers: Record<string, string> = {}, query = ''): Promise<SseStream> =>
    openSse(`${t.url}/api/runs/${runId}/output/stream${query}`, { ...AUTH, ...headers });

  const gate = (): ScriptGate => gates.gate();

  before(async () => {
    t = await startTestApp(gates.sandboxEnv);
    truncating = await startTestApp({ ...gates.sandboxEnv, ENDERCOMPUTE_MAX_OUTPUT_BYTES: '2048' });
  });
  after(async () => {
    await t?.close();
    await truncating?.close();
    gates.remove();
  });

  it('delivers lines while the run is still going, then the final status', async () => {
    const go = gate();
    const jobId = await createJob(t, 'live-lines', 'bash', `echo 'first line'\n${go.wait}\necho 'second line'\nexit 3\n`);
    const run = await requestRun(t, jobId);
    const events = await stream(run.id);
    assert.equal(events.status, 200);
    assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(events.headers.get('cache-control'), 'no-store');
    let received = '';
    while (!received.includes('first line\n')) {
      const event = await events.next();
      assert.ok(event, 'the stream is open');
      if (event.event === 'output') received += outputBytes(event).bytes.toString();
    }
    // The script is blocked until the gate opens: the line came while it ran.
    const during = await getJson<Run>(t, `/api/runs/${run.id}`);
    assert.equal(during.status, 'running');
    assert.ok(!existsSync(go.path));
    go.open();
    const rest = await readToEnd(events, Buffer.byteLength(received));
    assert.equal(received + rest.bytes.toString(), 'first line\nsecond line\n');
    // Output may come before the read model saw the start: `running` can follow it; how it finished comes only with `end`.
    const statuses = rest.events.filter((event) => event.event === 'status').map((event) => JSON.parse(event.data).status as string);
    assert.ok(statuses.every((status) => status === 'running'), statuses.join());
    assert.equal(rest.end.status, 'failed');
    assert.equal(rest.end.exitCode, 3);
    assert.equal(rest.end.outputBytes, 23);
    assert.equal(rest.endId, '23');
    assert.equal(await events.next(2000), null, 'the answer ends after the end event');
  });

  it('delivers output as soon as it is read, before it is stored', async () => {
    const go = gate();
    const jobId = await createJob(t, 'live-before-stored', 'bash', `echo 'early line'\n${go.wait}\necho 'late line'\n`);
    // Hold back every output append of this test's run, as a slow store would.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const store = t.store;
    const append = store.append.bind(store);
    store.append = async (stream, events, expected) => {
      if (stream.startsWith(`run-${jobId}`) && events.some((event) => event.type === 'RunOutputAppended')) await released;
      return append(stream, events, expected);
    };
    try {
      const run = await requestRun(t, jobId);
      const events = await stream(run.id);
      let received = '';
      while (!received.includes('early line\n')) {
        const event = await events.next();
        assert.ok(event);
        if (event.event === 'output') received += outputBytes(event).bytes.toString();
      }
      const meanwhile = await getJson<Run>(t, `/api/runs/${run.id}`);
      assert.equal(meanwhile.outputBytes, 0, 'the line is not stored yet');
      release();
      go.open();
      const rest = await readToEnd(events, received.length);
      assert.equal(received + rest.bytes.toString(), 'early line\nlate line\n');
      assert.ok(Buffer.from(received + rest.bytes.toString()).equals(await outputOf(t, run.id)));
    } finally {
      store.append = append;
      release();
    }
  });

  it('starts with the status and reports its changes', async () => {
    const go = gate();
    const jobId = await createJob(t, 'live-status', 'bash', `${go.wait}\necho done\n`);
    const run = await requestRun(t, jobId);
    const events = await stream(run.id);
    const first = await events.next();
    assert.equal(first?.event, 'status');
    const statuses = [JSON.parse(first!.data).status as string];
    while (statuses[statuses.length - 1] !== 'running') {
      const event = await events.next();
      if (event?.event === 'status') statuses.push(JSON.parse(event.data).status as string);
    }
    go.open();
    const { end } = await readToEnd(events);
    assert.equal(end.status, 'succeeded');
    assert.ok(statuses.every((status) => ['queued', 'running'].includes(status)), statuses.join());
  });

  it('resumes from Last-Event-ID without repeating or skipping a byte', async () => {
    const go = gate();
    const body = `for i in $(seq 1 5); do echo "line $i"; sleep 0.05; done\n${go.wait}\nfor i in $(seq 6 10); do echo "line $i"; sleep 0.05; done\n`;
    const jobId = await createJob(t, 'live-resume', 'bash', body);
    const run = await requestRun(t, jobId);
    const first = await stream(run.id);
    let lastId = '';
    let received = Buffer.alloc(0);
    while (!received.toString().includes('line 5\n')) {
      const event = await first.next();
      if (event?.event !== 'output') continue;
      received = Buffer.concat([received, outputBytes(event).bytes]);
      lastId = event.id!;
    }
    await first.close();
    assert.equal(lastId, String(received.length));
    go.open();
    const second = await stream(run.id, { 'last-event-id': lastId });
    const rest = await readToEnd(second, Number(lastId));
    const whole = Buffer.concat([received, rest.bytes]);
    assert.equal(whole.toString(), Array.from({ length: 10 }, (_, i) => `line ${i + 1}\n`).join(''));
    assert.ok(whole.equals(await outputOf(t, run.id)));
    // Any offset works, also one inside an event; `?offset=` does the same for clients that cannot set headers.
    for (const [headers, query] of [[{ 'last-event-id': '9' }, ''], [{}, '?offset=9']] as const) {
      const replay = await readToEnd(await stream(run.id, headers, query), 9);
      assert.ok(replay.bytes.equals(whole.subarray(9)));
    }
    const atEnd = await readToEnd(await stream(run.id, { 'last-event-id': String(whole.length) }), whole.length);
    assert.equal(atEnd.bytes.length, 0, 'resuming at the end gives just the end');
    // Past the end, as /output does: nothing, and the end's id is the run's true size.
    const pastEnd = await readToEnd(await stream(run.id, {}, `?offset=${whole.length + 999_999}`), whole.length + 999_999);
    assert.deepEqual([pastEnd.bytes.length, pastEnd.endId], [0, String(whole.length)]);
    const bad = await t.request(`/api/runs/${run.id}/output/stream`, { headers: { 'last-event-id': 'abc' } });
    assert.equal(bad.status, 400);
  });

  it('hands over from the store to the live window exactly', async () => {
    const go = gate();
    // More than the live window holds, then a pause: a viewer from 0 must start in the store.
    const size = WINDOW_BYTES + 1024 * 1024;
    const body = `head -c ${size} /dev/urandom\n${go.wait}\nhead -c 300000 /dev/urandom\necho the end\n`;
    const jobId = await createJob(t, 'live-handover', 'bash', body);
    const run = await requestRun(t, jobId);
    await eventually(async () => ((await getJson<Run>(t, `/api/runs/${run.id}`)).outputBytes >= size ? true : undefined), 20_000, 'the first part to be stored');
    const feed = t.app.get(LiveOutputHub).feed(run.id);
    assert.ok(feed && feed.start > 0 && feed.end === size, 'the live window no longer holds the start');
    const events = await stream(run.id);
    go.open();
    const { bytes, end } = await readToEnd(events);
    assert.equal(end.status, 'succeeded');
    assert.ok(bytes.equals(await outputOf(t, run.id)), 'the same bytes as /output');
    assert.equal(bytes.length, size + 300000 + 8);
  });

  it('replays a finished run and ends', async () => {
    const jobId = await createJob(t, 'live-finished', 'bash', 'echo one\nsleep 0.1\necho two >&2\nsleep 0.1\necho three\n');
    const run = await requestRun(t, jobId);
    await waitForRun(t, run.id);
    const events = await stream(run.id);
    const { bytes, end, events: all } = await readToEnd(events);
    assert.equal(bytes.toString(), 'one\ntwo\nthree\n');
    assert.deepEqual({ status: end.status, exitCode: end.exitCode, droppedBytes: end.droppedBytes }, { status: 'succeeded', exitCode: 0, droppedBytes: 0 });
    assert.equal(typeof end.durationMs, 'number');
    assert.equal(all[0].event, 'status');
    assert.equal(JSON.parse(all[0].data).status, 'succeeded');
    assert.equal(await events.next(2000), null);
  });

  it('keeps NUL and invalid UTF-8 byte-exact in the stream and in /output', async () => {
    const expected = Buffer.from([0x61, 0x00, 0x62, 0xff, 0xfe, 0xc3, 0x28, 0x0a, 0xe2, 0x82, 0x00, 0x0d, 0x1b, 0x5b, 0x33, 0x0a]);
    const printf = [...expected].map((byte) => `\\${byte.toString(8).padStart(3, '0')}`).join('');
    const jobId = await createJob(t, 'live-binary', 'bash', `printf '${printf}'\n`);
    const run = await requestRun(t, jobId);
    const { bytes } = await readToEnd(await stream(run.id));
    assert.ok(bytes.equals(expected), `stream: ${bytes.toString('hex')}`);
    const stored = await outputOf(t, run.id);
    assert.ok(stored.equals(expected), `/output: ${stored.toString('hex')}`);
  });

  it('ends the output with the truncation notice when the limit is reached', async () => {
    const jobId = await createJob(truncating, 'live-truncated', 'bash', 'head -c 10000 /dev/zero | tr "\\0" "x"\necho\necho after the limit\n');
    const run = await requestRun(truncating, jobId);
    const events = await openSse(`${truncating.url}/api/runs/${run.id}/output/stream`, AUTH);
    const { bytes, end } = await readToEnd(events);
    const text = bytes.toString();
    assert.equal(text.slice(0, 2048), 'x'.repeat(2048));
    assert.match(text.slice(2048), /^\n\[EnderCompute: output truncated, 7969 bytes dropped\]\n$/);
    assert.equal(end.droppedBytes, 7969);
    assert.equal(end.outputBytes, bytes.length);
    assert.ok((await outputOf(truncating, run.id)).equals(bytes));
  });

  it('sends heartbeats while a run is quiet', async () => {
    const go = gate();
    const jobId = await createJob(t, 'live-quiet', 'bash', `${go.wait}\n`);
    const run = await requestRun(t, jobId);
    const events = await stream(run.id, {}, '?heartbeat=1');
    const heartbeat = await events.waitForComment(/^heartbeat /, 5_000);
    assert.match(heartbeat, /^heartbeat \d{4}-\d\d-\d\dT/);
    go.open();
    await readToEnd(events);
    const badHeartbeat = await t.request(`/api/runs/${run.id}/output/stream?heartbeat=0`);
    assert.equal(badHeartbeat.status, 400);
  });

  it('lets go of a viewer that disconnects, and of the run\'s feed once it ended', async () => {
    const go = gate();
    const jobId = await createJob(t, 'live-disconnect', 'bash', `echo hello\n${go.wait}\n`);
    const run = await requestRun(t, jobId);
    const hub = t.app.get(LiveOutputHub);
    const events = await stream(run.id);
    await events.next();
    assert.equal(hub.viewerCount, 1);
    await events.close();
    await eventually(async () => (hub.viewerCount === 0 ? true : undefined), 5_000, 'the viewer to be let go');
    assert.ok(hub.feed(run.id), 'the feed lives while the run does');
    go.open();
    await waitForRun(t, run.id);
    await eventually(async () => (hub.feed(run.id) === undefined ? true : undefined), 5_000, 'the feed to be let go');
  });

  it('sends a flooding run within its send budget while it runs, and the rest at once after it ended', async () => {
    const go = gate();
    const size = 40_000_000;
    const hub = t.app.get(LiveOutputHub);
    // A low rate, so that the bound below stays far under the whole stream however slow this machine is.
    const rate = { bytesPerSecond: 2 * 1024 * 1024, burstBytes: 1024 * 1024 };
    const usual = hub.sendRate;
    hub.sendRate = rate;
    try {
      const jobId = await createJob(t, 'live-budget', 'bash', `yes 'EnderCompute budget 0123456789' | head -c ${size}\n${go.wait}\necho done\n`);
      const run = await requestRun(t, jobId);
      // Raw bytes, counted as they come: parsing in this process (the server's) would slow the reading, not the sending.
      const viewer = rawViewer(`${t.url}/api/runs/${run.id}/output/stream`);
      const opened = performance.now();
      await eventually(async () => ((await getJson<Run>(t, `/api/runs/${run.id}`)).outputBytes >= size ? true : undefined), 60_000, 'the output to be stored');
      // The run goes on a while: unpaced, the viewer would have every byte by then.
      await sleep(1_000);
      const seconds = (performance.now() - opened) / 1000;
      const received = viewer.received();
      // What the budget allowed since the stream opened, plus the write that was waiting for it and one partial frame.
      const allowed = rate.burstBytes + rate.bytesPerSecond * seconds + 2 * 1024 * 1024;
      assert.ok(received <= allowed, `${received} bytes of stream in ${seconds.toFixed(2)} s while the run ran; the budget allows ${Math.round(allowed)}`);
      go.open();
      const done = await waitForRun(t, run.id);
      const { bytes, end } = parseApiStream(await viewer.ended);
      assert.equal(end.status, 'succeeded');
      assert.equal(bytes.length, done.outputBytes);
      assert.ok(bytes.equals(await outputOf(t, run.id)), 'every byte, in order, as /output has them');
    } finally {
      hub.sendRate = usual;
    }
  });

  it('needs the key, and answers 404 for an unknown run', async () => {
    const response = await fetch(`${t.url}/api/runs/nope/output/stream`);
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { message: string }).message, "You are not authenticated");
    const unknown = await t.request('/api/runs/nope/output/stream');
    assert.equal(unknown.status, 404);
  });
});

/** A stream read as raw bytes as fast as they come: how many so far, and all of them once the answer ends. */
function rawViewer(url: string): { received(): number; ended: Promise<Buffer> } {
  const parts: Buffer[] = [];
  let count = 0;
  const ended = new Promise<Buffer>((resolve, reject) => {
    const req = httpRequest(new URL(url), { headers: AUTH }, (response) => {
      response.on('data', (chunk: Buffer) => {
        parts.push(chunk);
        count += chunk.length;
      });
      response.on('end', () => resolve(Buffer.concat(parts)));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  return { received: () => count, ended };
}

/** The output bytes and the end of a whole API stream, checking that each output event starts where the one before ended. */
function parseApiStream(raw: Buffer): { bytes: Buffer; end: Record<string, unknown> } {
  const parts: Buffer[] = [];
  let at = 0;
  let end: Record<string, unknown> | null = null;
  for (const message of raw.toString('latin1').split('\n\n')) {
    const event = /^event: (.*)$/m.exec(message)?.[1];
    const data = /^data: (.*)$/m.exec(message)?.[1] ?? '';
    if (event === 'output') {
      const output = JSON.parse(data) as { offset: number; data: string };
      assert.equal(output.offset, at, 'no gap, no repeat');
      const bytes = Buffer.from(output.data, 'base64');
      parts.push(bytes);
      at += bytes.length;
    } else if (event === 'end') {
      end = JSON.parse(data) as Record<string, unknown>;
    }
  }
  assert.ok(end, 'the stream ends with its end event');
  return { bytes: Buffer.concat(parts), end };
}
