import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest } from '../support/raw-http';
import { expectJson, type ServerProcess, startServer } from '../support/server-process';

/**
 * The smallest inputs of issue 10 (items 6–10) against the built server, as a
 * user sends them: each is a clear 4xx, fast, and changes nothing; after them
 * the server serves everyone as before, across a restart.
 */
describe('Hostile requests against the built server', () => {
  let server: ServerProcess;
  let jobId: string;

  before(async () => {
    server = await startServer();
    const script = await expectJson<{ id: string }>(await server.request('/api/scripts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 's', body: 'echo "$@"' }) }), 201);
    const job = await expectJson<{ id: string }>(
      await server.request('/api/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'j', scriptId: script.id, tags: ['x'] }) }),
      201,
    );
    jobId = job.id;
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  const json = (method: string, path: string, body: string) => rawRequest(server.url, method, path, { headers: { 'content-type': 'application/json' }, body });
  const runCount = async () => (await expectJson<{ items: unknown[] }>(await server.request(`/api/runs?jobId=${jobId}`), 200)).items.length;

  it('refuses the reported inputs with their 4xx and stores nothing', async () => {
    const before = (await expectJson<{ items: unknown[] }>(await server.request('/api/events?limit=1000'), 200)).items.length;
    const cases: Array<[string, Promise<{ status: number; body: Buffer }>, number, RegExp]> = [
      ['tags: null', json('PUT', `/api/jobs/${jobId}`, '{"tags":null}'), 400, /tags: must not be null/],
      ['args: null', json('PUT', `/api/jobs/${jobId}`, '{"args":null}'), 400, /args: must not be null/],
      ['name: null', json('PUT', `/api/jobs/${jobId}`, '{"name":null}'), 400, /name: must not be null/],
      ['body: null', json('PUT', '/api/scripts/s', '{"body":null}'), 400, /body: must not be null/],
      ['interpreter: null', json('PUT', '/api/scripts/s', '{"interpreter":null}'), 400, /interpreter: must not be null/],
      ['1,300 levels deep', json('POST', '/api/scripts', '['.repeat(1300) + ']'.repeat(1300)), 400, /nested more than 32 levels/],
      ['delaySeconds: true', json('POST', `/api/jobs/${jobId}/runs`, '{"delaySeconds":true}'), 400, /delaySeconds/],
      ['delaySeconds: "10"', json('POST', `/api/jobs/${jobId}/runs`, '{"delaySeconds":"10"}'), 400, /delaySeconds/],
      [
        'JSON as text/plain',
        rawRequest(server.url, 'POST', `/api/jobs/${jobId}/runs`, { headers: { 'content-type': 'text/plain' }, body: '{"args":["--dry-run"],"delaySeconds":3600}' }),
        415,
        /text\/plain/,
      ],
      ['a PUT as text/plain', rawRequest(server.url, 'PUT', `/api/jobs/${jobId}`, { headers: { 'content-type': 'text/plain' }, body: '{"tags":["y"]}' }), 415, /text\/plain/],
      ['an unknown query parameter', rawRequest(server.url, 'GET', '/api/scripts?colour=red'), 400, /colour/],
      ['__proto__ as a query key', rawRequest(server.url, 'GET', `/api/runs/${jobId}-1/output/stream?__proto__=1`), 400, /__proto__/],
    ];
    for (const [what, pending, status, message] of cases) {
      const answer = await pending;
      assert.equal(answer.status, status, `${what}: ${answer.body.toString().slice(0, 200)}`);
      assert.match(answer.body.toString(), message, what);
    }
    assert.equal(await runCount(), 0, 'no run was started');
    assert.equal((await expectJson<{ items: unknown[] }>(await server.request('/api/events?limit=1000'), 200)).items.length, before, 'no event was stored');
  });

  it('answers 150,000 unknown keys within a second, in a small error, without holding up /api/health', async () => {
    const wide = `{${Array.from({ length: 150_000 }, (_, i) => `"k${i}":1`).join(',')}}`;
    const health = (async () => {
      const times: number[] = [];
      for (let i = 0; i < 10; i++) times.push((await rawRequest(server.url, 'GET', '/api/health')).ms);
      return times;
    })();
    const answer = await json('POST', '/api/scripts', wide);
    assert.equal(answer.status, 400);
    assert.ok(answer.ms < 1000, `${Math.round(answer.ms)} ms`);
    assert.ok(answer.body.length <= 64 * 1024, `${answer.body.length} bytes`);
    assert.match(answer.body.toString(), /and 149990 more are not known fields/);
    assert.ok(Math.max(...(await health)) < 1000);
  });

  it('serves everyone as before, also after a restart', async () => {
    await server.stop();
    server = await startServer({ dataDir: server.dataDir });
    for (const path of ['/api/jobs', '/api/jobs?tag=x', `/api/jobs/${jobId}`, '/jobs', `/jobs/${jobId}`]) {
      assert.equal((await server.request(path)).status, 200, path);
    }
    const run = await expectJson<{ args: string[] }>(await server.request(`/api/jobs/${jobId}/runs`, { method: 'POST' }), 202);
    assert.deepEqual(run.args, []);
  });
});
