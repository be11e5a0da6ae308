/**
 * Issue 11: output stored in events as large as its compression allows (up to
 * 4 MiB of text in one event, 256 KiB parts for bytes that do not shrink)
 * reads back exactly — whole (sha256), from offsets at and around every part
 * size, and through the live stream resumed mid-way — on the embedded log and
 * on EventStoreDB (the double refuses any append over 1 MiB, so a part or an
 * append too large would fail the run).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { openSse, readToEnd } from '../live/sse-client';
import { createJob, getJson, requestRun, waitForRun } from '../support/rest';
import { type ServerProcess, startServer } from '../support/server-process';

/** Text that shrinks a hundredfold, bytes that do not shrink, log lines that shrink fivefold: the part size changes twice. */
const GENERATOR = `
function output() {
  const parts = [Buffer.alloc(13 * 1024 * 1024 + 123, 'EnderCompute 0123456789 abcdefghijklmnopqrstuvwxyz\\n')];
  let x = 2463534242;
  const random = Buffer.allocUnsafe(1536 * 1024);
  for (let i = 0; i < random.length; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    random.writeUInt32LE(x, i);
  }
  parts.push(random);
  const lines = [];
  for (let i = 0; i < 90000; i++) lines.push(String(i).padStart(9, '0') + ' INFO tests::module_' + (i % 977) + ' passed in ' + (i % 1000) + ' ms\\n');
  parts.push(Buffer.from(lines.join('') + 'no newline at the end'));
  return Buffer.concat(parts);
}`;
const SCRIPT = `${GENERATOR}\nprocess.stdout.write(output());\n`;
const expected = (new Function(`${GENERATOR}; return output;`)() as () => Buffer)();

const MiB = 1024 * 1024;
const offsets = [...new Set([0, 1, ...[256 * 1024, MiB, 4 * MiB, 8 * MiB, 12 * MiB, 13 * MiB + 123, 13 * MiB + 123 + 256 * 1024, 14.5 * MiB + 123, expected.length].flatMap((at) => [at - 1, at, at + 1])])]
  .filter((offset) => offset >= 0 && offset <= expected.length)
  .sort((a, b) => a - b);

/** The first `count` bytes `GET /output?offset=` answers (the rest is not read). */
async function headAt(server: ServerProcess, runId: string, offset: number, count: number): Promise<{ bytes: Buffer; length: string | null }> {
  const response = await server.request(`/api/runs/${runId}/output?offset=${offset}`);
  assert.equal(response.status, 200);
  const parts: Buffer[] = [];
  let size = 0;
  const reader = response.body!.getReader();
  while (size < count) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(Buffer.from(value));
    size += value.length;
  }
  await reader.cancel();
  return { bytes: Buffer.concat(parts).subarray(0, count), length: response.headers.get('content-length') };
}

for (const store of ['embedded log', 'EventStoreDB double'] as const) {
  describe(`large output in large events (${store})`, () => {
    let double: EsdbDouble | undefined;
    let server: ServerProcess;

    before(async () => {
      if (store === 'EventStoreDB double') double = await startEsdbDouble();
      server = await startServer({ env: double ? { EVENTSTORE_CONNECTION_STRING: double.connectionString } : {} });
    });
    after(async () => {
      await server?.stop();
      server?.cleanup();
      await double?.stop();
    });

    it('reads back exactly: whole, at every part boundary, and live from mid-way', { timeout: 180_000 }, async () => {
      const jobId = await createJob(server, 'large-output', 'node', SCRIPT);
      const run = await waitForRun(server, (await requestRun(server, jobId)).id, 120_000);
      assert.equal(run.status, 'succeeded', run.reason ?? '');
      assert.equal(run.outputBytes, expected.length);

      const whole = Buffer.from(await (await server.request(`/api/runs/${run.id}/output`)).arrayBuffer());
      assert.equal(createHash('sha256').update(whole).digest('hex'), createHash('sha256').update(expected).digest('hex'), 'sha256 of the whole output');

      for (const offset of offsets) {
        const { bytes, length } = await headAt(server, run.id, offset, 4096);
        assert.equal(length, String(expected.length - offset), `Content-Length at ${offset}`);
        assert.deepEqual(bytes, expected.subarray(offset, offset + 4096), `the bytes from offset ${offset}`);
      }

      const from = 14.5 * MiB + 122;
      const stream = await openSse(`${server.url}/api/runs/${run.id}/output/stream`, { authorization: `Bearer ${server.key}`, 'last-event-id': String(from) });
      const { bytes, end } = await readToEnd(stream, from, 60_000);
      await stream.close();
      assert.deepEqual(bytes, expected.subarray(from), 'the live stream resumed at an offset inside a part');
      assert.equal(end.outputBytes, expected.length);

      // `/api/events` gives the raw bytes of every output event, in answers of at most 16 MiB of bytes.
      const pages: number[] = [];
      const fromEvents: Buffer[] = [];
      let after: string | null = null;
      do {
        const page: { items: Array<{ data: { offset: number; data: string } }>; next: string | null } = await getJson(
          server,
          `/api/events?stream=output-${run.id}&includeBytes=true&limit=1000${after === null ? '' : `&after=${after}`}`,
        );
        pages.push(page.items.length);
        for (const item of page.items) fromEvents.push(Buffer.from(item.data.data, 'base64'));
        after = page.items.length > 0 ? page.next : null;
      } while (after !== null);
      assert.ok(pages.length >= 2, `more than 16 MiB comes in several answers (${pages.join(', ')} events)`);
      assert.ok(Buffer.concat(fromEvents).equals(expected), 'the bytes of /api/events?includeBytes=true');
    });
  });
}
