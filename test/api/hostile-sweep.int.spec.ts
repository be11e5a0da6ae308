import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { multipartBody, rawRequest, type RawAnswer } from '../support/raw-http';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

interface Route {
  method: string;
  path: string;
}

interface Hostile {
  what: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Appended to the path. */
  query?: string;
}

const deepArray = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
const deepObject = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const JSON_TYPE = { 'content-type': 'application/json' };

/** The bodies and query strings every route gets; none of them is a request any route may accept. */
function hostileRequests(): Hostile[] {
  const wide = `{${Array.from({ length: 150_000 }, (_, i) => `"k${i}":1`).join(',')}}`;
  const badName = multipartBody([
    { disposition: 'form-data; name="zzz"', content: deepArray(1300) },
    { disposition: Buffer.from('form-data; name="file"; filename="caf\xe9.sh"', 'latin1'), contentType: 'text/plain', content: 'rm -rf /' },
  ]);
  const droppedPart = multipartBody([
    { disposition: "form-data; name=\"file\"; filename*=x-unknown''a.sh", contentType: 'text/plain', content: 'x' },
    { disposition: 'form-data; name="args"', content: deepObject(100) },
  ]);
  return [
    { what: 'malformed JSON', headers: JSON_TYPE, body: '{"name": "x",' },
    { what: 'deep JSON (1,300 levels)', headers: JSON_TYPE, body: deepArray(1300) },
    { what: 'deep JSON (100,000 levels)', headers: JSON_TYPE, body: deepObject(100_000) },
    { what: 'wide JSON (150,000 unknown keys)', headers: JSON_TYPE, body: wide },
    {
      what: 'null everywhere',
      headers: JSON_TYPE,
      body: JSON.stringify({ name: null, body: null, interpreter: null, scriptId: null, args: null, env: null, tags: null, schedules: null, description: null, at: null, delaySeconds: null }),
    },
    { what: 'wrong types', headers: JSON_TYPE, body: JSON.stringify({ name: 5, body: {}, args: 'x', env: [], tags: 'a', delaySeconds: true, at: 1, timeoutSeconds: '10', schedules: {} }) },
    { what: 'a JSON list', headers: JSON_TYPE, body: '[1,2,3]' },
    { what: 'a JSON string', headers: JSON_TYPE, body: '"text"' },
    { what: 'a JSON number', headers: JSON_TYPE, body: '5' },
    { what: 'JSON in an unsupported charset', headers: { 'content-type': 'application/json; charset=koi8-r' }, body: '{}' },
    { what: 'JSON as text/plain', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ args: ['--dry-run'], delaySeconds: 3600 }) },
    { what: 'XML', headers: { 'content-type': 'application/xml' }, body: '<a/>' },
    { what: 'a body without a Content-Type', body: '{"name":"x"}' },
    { what: 'a form with 1,001 fields', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Array.from({ length: 1001 }, (_, i) => `f${i}=1`).join('&') },
    { what: 'a form with stray fields', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '__proto__=1&constructor=2&zzz=3' },
    { what: 'multipart: deep field, undecodable file name', headers: { 'content-type': badName.contentType }, body: badName.body },
    { what: 'multipart: a part that cannot be read', headers: { 'content-type': droppedPart.contentType }, body: droppedPart.body },
    { what: 'multipart without a boundary', headers: { 'content-type': 'multipart/form-data' }, body: 'x' },
    { what: 'query: __proto__', query: '?__proto__=1' },
    { what: 'query: constructor and toString', query: '?constructor=1&toString=2' },
    { what: 'query: a bracketed key', query: '?a[b]=1' },
    { what: 'query: broken percent-encoding', query: '?%ZZ=%E0%A4%A' },
    { what: 'query: 1,000 unknown parameters', query: `?${Array.from({ length: 1000 }, (_, i) => `p${i}=1`).join('&')}` },
  ];
}

/**
 * The sweep of issue 10: every route the application registers (read from the
 * express router, so a route added later is swept too) gets malformed, deep,
 * wide, null, wrong-type and wrong-content-type bodies and hostile query
 * strings. None may answer 5xx or anything but a refusal; no refusal may
 * change the log; no request may hold up a concurrent `GET /api/health` for
 * more than a second.
 */
describe('Hostile-request sweep over every registered route', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};

  before(async () => {
    t = await startTestApp();
    ids.script = (await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 's', body: 'echo hi' } }), 201)).id;
    ids.job = (await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'j', scriptId: ids.script, tags: ['t'] } }), 201)).id;
    const form = new FormData();
    form.append('file', new Blob(['data']), 'in.txt');
    await expectJson(await t.request(`/api/jobs/${ids.job}/files`, { method: 'POST', body: form }), 201);
    // A finished run (for output and re-run routes) and a waiting one (for the controls).
    const done = await expectJson<{ id: string }>(await t.request(`/api/jobs/${ids.job}/runs`, { method: 'POST', json: {} }), 202);
    await eventually(async () => ((await expectJson<{ status: string }>(await t.request(`/api/runs/${done.id}`), 200)).status === 'succeeded' ? true : undefined));
    ids.run = (await expectJson<{ id: string }>(await t.request(`/api/jobs/${ids.job}/runs`, { method: 'POST', json: { delaySeconds: 3600 } }), 202)).id;
  });
  after(async () => {
    await t.close();
  });

  function registeredRoutes(): Route[] {
    const app = t.app.getHttpAdapter().getInstance() as { router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> } };
    return app.router.stack.flatMap((layer) =>
      layer.route ? Object.keys(layer.route.methods).filter((m) => m !== '_all').map((method) => ({ method: method.toUpperCase(), path: layer.route!.path })) : [],
    );
  }

  /** A route's path with real ids in it: the resource its prefix names, the job's input file, and version 1. */
  function concrete(path: string): string {
    const kind = /^\/(?:api\/)?(scripts|jobs|runs)\//.exec(path)?.[1];
    const id = kind === 'scripts' ? ids.script : kind === 'jobs' ? ids.job : ids.run;
    return path.replace(':id', encodeURIComponent(id)).replace(':name', 'in.txt').replace('*path', 'dist/app.tar.gz').replace(':sha256', '0'.repeat(64)).replace(':n', '1');
  }

  it('finds the routes to sweep in the router', () => {
    const routes = registeredRoutes();
    assert.ok(routes.length >= 50, `${routes.length} routes`);
    for (const expected of ['POST /api/jobs/:id/runs', 'PUT /api/jobs/:id', 'GET /api/runs/:id/output/stream', 'POST /jobs', 'GET /audit']) {
      assert.ok(routes.some((r) => `${r.method} ${r.path}` === expected), expected);
    }
    for (const route of routes) assert.doesNotMatch(concrete(route.path), /[:*]\w/, `every parameter of ${route.path} is filled`);
  });

  it('refuses every hostile request on every route: no 5xx, the log unchanged, /api/health never held up', async () => {
    const healthTimes: number[] = [];
    const failures: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          const health = await rawRequest(t.url, 'GET', '/api/health', { timeoutMs: 5000 });
          if (health.status !== 200) failures.push(`GET /api/health: answered ${health.status}`);
          healthTimes.push(health.ms);
        } catch (error) {
          failures.push(`GET /api/health: ${String(error)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    let sent = 0;
    try {
      for (const route of registeredRoutes()) {
        for (const hostile of hostileRequests()) {
          const label = `${route.method} ${route.path} with ${hostile.what}`;
          const head = await t.head();
          let answer: RawAnswer;
          try {
            answer = await rawRequest(t.url, route.method, concrete(route.path) + (hostile.query ?? ''), { headers: hostile.headers, body: hostile.body, timeoutMs: 5000 });
          } catch (error) {
            failures.push(`${label}: ${String(error)}`);
            continue;
          }
          sent++;
          if (answer.status < 400 || answer.status >= 500) failures.push(`${label}: answered ${answer.status} ${answer.body.toString().slice(0, 200)}`);
          if (answer.body.length > 64 * 1024 && answer.status >= 400) failures.push(`${label}: an error of ${answer.body.length} bytes`);
          if (answer.ms > 1000) failures.push(`${label}: took ${Math.round(answer.ms)} ms`);
          if ((await t.head()) !== head) failures.push(`${label}: the log changed`);
        }
      }
    } finally {
      polling = false;
      await poller;
    }
    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests misbehaved`);
    assert.ok(sent >= 50 * hostileRequests().length, `${sent} requests sent`);
    assert.ok(healthTimes.length > 10, `${healthTimes.length} health checks`);
    assert.ok(Math.max(...healthTimes) < 1000, `/api/health waited up to ${Math.round(Math.max(...healthTimes))} ms`);
  });
});
