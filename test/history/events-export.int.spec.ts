import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';

interface AuditEvent { position: string; stream: string; revision: number; type: string; data: Record<string, unknown>; metadata: { actor: string } }

const NDJSON = { accept: 'application/x-ndjson' };

for (const kind of ['embedded store', 'EventStoreDB double'] as const) describeOn(kind);

function describeOn(kind: 'embedded store' | 'EventStoreDB double'): void {
  describe(`GET /api/events as NDJSON: the whole filtered log, streamed on the ${kind}`, () => {
    let double: EsdbDouble | null = null;
    let t: TestApp;
    let jobId: string;
    const fileBytes = Buffer.from('file bytes for the export\n'.repeat(100));

    /** Every event the JSON pages show for a query, following `next`. */
    const allPages = async (query: string): Promise<AuditEvent[]> => {
      const items: AuditEvent[] = [];
      let next: string | null = null;
      do {
        const page: { items: AuditEvent[]; next: string | null } = await expectJson(await t.request(`/api/events?limit=1000${query}${next ? `&after=${next}` : ''}`), 200);
        items.push(...page.items);
        next = page.next;
      } while (next);
      return items;
    };
    const exported = async (query: string): Promise<AuditEvent[]> => {
      const response = await t.request(`/api/events${query}`, { headers: NDJSON });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(response.headers.get('content-type'), 'application/x-ndjson');
      const text = await response.text();
      if (text === '') return [];
      assert.ok(text.endsWith('\n'), 'every line ends with a newline');
      return text.slice(0, -1).split('\n').map((line) => JSON.parse(line) as AuditEvent);
    };

    before(async () => {
      if (kind === 'EventStoreDB double') double = await startEsdbDouble();
      t = await startTestApp(double ? { EVENTSTORE_CONNECTION_STRING: double.connectionString } : {});
      const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'Export', body: 'true' }, actor: 'ann' }), 201);
      for (let i = 0; i < 5; i++) {
        const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: `Export ${i}`, scriptId: script.id }, actor: i % 2 ? 'ann' : 'ben' }), 201);
        jobId = job.id;
        await t.request(`/api/jobs/${job.id}`, { method: 'PUT', json: { args: [String(i)] }, actor: 'ben' });
      }
      const form = new FormData();
      form.append('file', new Blob([fileBytes]), 'input.txt');
      await expectJson(await t.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: form }), 201);
    });
    after(async () => {
      await t.close();
      await double?.stop();
    });

    it('sends every event as one JSON object a line, the same events as the JSON pages, without a limit', async () => {
      const lines = await exported('');
      const pages = await allPages('');
      assert.ok(lines.length > 20);
      assert.deepEqual(lines, pages);
      for (const line of lines) assert.deepEqual(Object.keys(line).sort(), ['data', 'metadata', 'position', 'revision', 'stream', 'type']);
    });

    it('filters by type, stream, job and actor as the JSON answer does, and continues after a position', async () => {
      for (const query of ['?type=JobCreated,JobUpdated', `?jobId=${jobId}`, `?stream=job-${jobId}`, '?actor=ann', '?type=JobUpdated&actor=ben']) {
        const lines = await exported(query);
        assert.ok(lines.length > 0, query);
        assert.deepEqual(lines, await allPages(`&${query.slice(1)}`), query);
      }
      assert.ok((await exported('?type=JobCreated')).every((event) => event.type === 'JobCreated'));
      const all = await exported('');
      const after = all[6].position;
      assert.deepEqual(await exported(`?after=${after}`), all.slice(7));
      assert.deepEqual(await exported(`?after=${all[all.length - 1].position}`), [], 'nothing after the end: an empty answer');
    });

    it('leaves file and output bytes out unless includeBytes=true, then carries them whole', async () => {
      const without = (await exported('?type=BlobChunkStored')).filter((e) => e.data.sha256 !== undefined);
      assert.ok(without.length > 0);
      assert.ok(without.every((e) => e.data.data === undefined && typeof e.data.bytes === 'number'));
      const withBytes = await exported('?type=BlobChunkStored&includeBytes=true');
      const bytes = Buffer.concat(withBytes.map((e) => Buffer.from(String(e.data.data), 'base64')));
      assert.ok(bytes.equals(fileBytes));
    });

    it('refuses a limit, bad parameters and an unknown job with a 4xx before streaming', async () => {
      const limited = await t.request('/api/events?limit=5', { headers: NDJSON });
      assert.match((await expectJson<{ message: string }>(limited, 400)).message, /limit: the NDJSON export sends every matching event/);
      assert.equal((await t.request('/api/events?after=nope', { headers: NDJSON })).status, 400);
      assert.equal((await t.request('/api/events?jobId=no-such-job', { headers: NDJSON })).status, 404);
      // JSON stays the default, and an Accept refusing NDJSON gets JSON.
      const json = await t.request('/api/events?limit=2', { headers: { accept: 'application/x-ndjson;q=0, application/json' } });
      assert.equal((await expectJson<{ items: unknown[] }>(json, 200)).items.length, 2);
    });
  });
}
