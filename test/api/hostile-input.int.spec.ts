import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { multipartBody, rawRequest, type RawAnswer } from '../support/raw-http';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

/** A request of the table: JSON (`json` is sent as is when a string), raw text with a type, or a hand-made multipart body. */
interface Case {
  what: string;
  method: string;
  path: string;
  json?: unknown;
  raw?: { type?: string; body: string | Buffer };
  multipart?: Parameters<typeof multipartBody>[0];
  status: number;
  /** The error must say this: it names the field or the problem. */
  message: RegExp;
}

const deepArray = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
const deepObject = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const wideObject = (keys: number, value = '1'): string => `{${Array.from({ length: keys }, (_, i) => `"k${i}":${value}`).join(',')}}`;

describe('REST: hostile input is refused as a kind, with a clear 4xx that names it, fast, and changes nothing', () => {
  let t: TestApp;
  let jobId: string;
  let runId: string;

  before(async () => {
    t = await startTestApp();
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 's', body: 'echo "$@"' } }), 201);
    const job = await expectJson<{ id: string }>(
      await t.request('/api/jobs', { method: 'POST', json: { name: 'j', scriptId: script.id, args: ['keep'], tags: ['nightly'], env: { A: '1' } } }),
      201,
    );
    jobId = job.id;
    // A run that waits an hour: a stable target for the run routes.
    runId = (await expectJson<{ id: string }>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: { delaySeconds: 3600 } }), 202)).id;
  });
  after(async () => {
    await t.close();
  });

  async function send(c: Case): Promise<RawAnswer> {
    const path = c.path.replace('/j/', `/${jobId}/`).replace(/\/j$/, `/${jobId}`).replace('/r/', `/${runId}/`);
    if (c.multipart) {
      const { body, contentType } = multipartBody(c.multipart);
      return rawRequest(t.url, c.method, path, { headers: { 'content-type': contentType }, body });
    }
    if (c.raw) return rawRequest(t.url, c.method, path, { headers: c.raw.type ? { 'content-type': c.raw.type } : {}, body: c.raw.body });
    if (c.json !== undefined) {
      const body = typeof c.json === 'string' ? c.json : JSON.stringify(c.json);
      return rawRequest(t.url, c.method, path, { headers: { 'content-type': 'application/json' }, body });
    }
    return rawRequest(t.url, c.method, path);
  }

  async function expectRefused(cases: Case[]): Promise<void> {
    for (const c of cases) {
      const head = await t.head();
      const answer = await send(c);
      const text = answer.body.toString();
      assert.equal(answer.status, c.status, `${c.what}: ${text.slice(0, 300)}`);
      if ((answer.headers['content-type'] ?? '').toString().startsWith('application/json')) {
        const error = JSON.parse(text) as { statusCode: number; message: string };
        assert.equal(error.statusCode, c.status, c.what);
        assert.match(error.message, c.message, `${c.what}: ${error.message.slice(0, 300)}`);
      } else {
        assert.match(text, c.message, `${c.what}: ${text.slice(0, 300)}`);
      }
      assert.equal(await t.head(), head, `${c.what}: the log is unchanged`);
    }
  }

  it('refuses null wherever the contract gives it no meaning, naming the field, in every body and nested value', async () => {
    const nulls = (method: string, path: string, fields: string[]): Case[] =>
      fields.map((field) => ({ what: `${method} ${path} ${field}: null`, method, path, json: { [field]: null }, status: 400, message: new RegExp(`${field}: must not be null`) }));
    await expectRefused([
      ...nulls('POST', '/api/scripts', ['name', 'interpreter', 'body']),
      ...nulls('PUT', '/api/scripts/s', ['name', 'interpreter', 'body']),
      ...nulls('POST', '/api/jobs', ['name', 'description', 'scriptId', 'args', 'env', 'tags', 'schedules']),
      ...nulls('PUT', '/api/jobs/j', ['name', 'description', 'scriptId', 'args', 'env', 'tags', 'schedules']),
      ...nulls('POST', '/api/jobs/j/runs', ['args', 'env', 'at', 'delaySeconds']),
      ...nulls('POST', '/api/runs/r/reschedule', ['at', 'delaySeconds']),
      // Siblings: null inside a list or a map.
      { what: 'a null argument', method: 'PUT', path: '/api/jobs/j', json: { args: [null] }, status: 400, message: /args: each value in args must be a string/ },
      { what: 'a null tag', method: 'PUT', path: '/api/jobs/j', json: { tags: ['a', null] }, status: 400, message: /tags: / },
      { what: 'a null variable', method: 'PUT', path: '/api/jobs/j', json: { env: { A: null } }, status: 400, message: /env: A must be a string/ },
      { what: 'a null schedule', method: 'PUT', path: '/api/jobs/j', json: { schedules: [null] }, status: 400, message: /schedules: / },
      { what: 'a null run argument', method: 'POST', path: '/api/jobs/j/runs', json: { args: [null] }, status: 400, message: /args: / },
      // A whole body of null is not an object.
      { what: 'a body that is null', method: 'PUT', path: '/api/jobs/j', json: 'null', status: 400, message: /^body: must be a JSON object$/ },
      // Siblings: other JSON that is not an object.
      { what: 'a body that is a string', method: 'PUT', path: '/api/jobs/j', json: '"x"', status: 400, message: /^body: must be a JSON object$/ },
      { what: 'a body that is a number', method: 'POST', path: '/api/scripts', json: '5', status: 400, message: /^body: must be a JSON object$/ },
      { what: 'a body that is true', method: 'POST', path: '/api/jobs/j/runs', json: 'true', status: 400, message: /^body: must be a JSON object$/ },
    ]);
    // Nothing broke for anyone: the lists, the filters and the pages answer.
    for (const path of ['/api/jobs', '/api/jobs?tag=nightly', `/api/jobs/${jobId}`, '/api/scripts', '/jobs', `/jobs/${jobId}`, '/scripts']) {
      assert.equal((await t.request(path)).status, 200, path);
    }
  });

  it('keeps null where the contract gives it a meaning: no time limit, no limit of its own', async () => {
    await expectJson(await t.request(`/api/jobs/${jobId}`, { method: 'PUT', json: { timeoutSeconds: 60, maxConcurrent: 2 } }), 200);
    const job = await expectJson<{ timeoutSeconds: unknown; maxConcurrent: unknown }>(
      await t.request(`/api/jobs/${jobId}`, { method: 'PUT', json: { timeoutSeconds: null, maxConcurrent: null } }),
      200,
    );
    assert.equal(job.timeoutSeconds, null);
    assert.equal(job.maxConcurrent, null);
  });

  it('refuses JSON nested too deep on every JSON route and in multipart args and env, in one pass', async () => {
    const deep: Case[] = [];
    for (const [method, path] of [
      ['POST', '/api/scripts'],
      ['PUT', '/api/scripts/s'],
      ['POST', '/api/jobs'],
      ['PUT', '/api/jobs/j'],
      ['POST', '/api/jobs/j/runs'],
      ['POST', '/api/runs/r/reschedule'],
    ]) {
      for (const [label, body] of [
        ['1,300 levels of arrays', deepArray(1300)],
        ['100,000 levels of objects', deepObject(100_000)],
        ['deep under a known field', `{"args":${deepArray(1300)}}`],
        ['deep under an unknown field', `{"zzz":${deepObject(1300)}}`],
      ]) {
        deep.push({ what: `${method} ${path}: ${label}`, method, path, json: body, status: 400, message: /nested more than 32 levels deep/ });
      }
    }
    deep.push(
      { what: 'multipart args', method: 'POST', path: '/api/jobs/j/runs', multipart: [{ disposition: 'form-data; name="args"', content: deepArray(1300) }], status: 400, message: /args: JSON is nested more than 32/ },
      { what: 'multipart env', method: 'POST', path: '/api/jobs/j/runs', multipart: [{ disposition: 'form-data; name="env"', content: deepObject(100_000) }], status: 400, message: /env: JSON is nested more than 32/ },
      // Brackets inside strings are text, not nesting.
      { what: 'brackets in a string', method: 'PUT', path: '/api/jobs/j', json: { args: ['['.repeat(5000)], zzz: 1 }, status: 400, message: /zzz: is not a known field/ },
    );
    await expectRefused(deep);
  });

  it('answers wide JSON within a second, with a small error naming the first problems and how many more, while health stays fast', async () => {
    const cases: Array<{ what: string; method: string; path: string; body: string; message: RegExp }> = [
      { what: '150,000 unknown keys', method: 'POST', path: '/api/scripts', body: wideObject(150_000), message: /k0: "k0", "k1", .*"k9" and 149990 more are not known fields/ },
      { what: '150,000 unknown keys on a run', method: 'POST', path: `/api/jobs/${jobId}/runs`, body: wideObject(150_000), message: /and 149990 more are not known fields/ },
      { what: '150,000 variables', method: 'PUT', path: `/api/jobs/${jobId}`, body: `{"env":${wideObject(150_000, '"x"')}}`, message: /env: has 150000 fields; at most 1000/ },
      { what: '150,000 arguments', method: 'PUT', path: `/api/jobs/${jobId}`, body: `{"args":[${Array.from({ length: 150_000 }, () => '"a"').join(',')}]}`, message: /args: has 150000 items/ },
      { what: '150,000 tags', method: 'POST', path: '/api/jobs', body: `{"name":"w","scriptId":"s","tags":[${Array.from({ length: 150_000 }, () => '"t"').join(',')}]}`, message: /tags: has 150000 items/ },
      { what: '150,000 schedules', method: 'PUT', path: `/api/jobs/${jobId}`, body: `{"schedules":[${Array.from({ length: 150_000 }, () => '{}').join(',')}]}`, message: /schedules: has 150000 items/ },
    ];
    const wideEnv = multipartBody([{ disposition: 'form-data; name="env"', content: wideObject(70_000, '"x"') }]);
    for (const c of [...cases, { what: '70,000 variables in multipart env', method: 'POST', path: `/api/jobs/${jobId}/runs`, body: wideEnv.body, type: wideEnv.contentType, message: /env: has 70000 fields; at most 1000/ }]) {
      const head = await t.head();
      const healthTimes: number[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const health = await rawRequest(t.url, 'GET', '/api/health');
          assert.equal(health.status, 200);
          healthTimes.push(health.ms);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      const answer = await rawRequest(t.url, c.method, c.path, { headers: { 'content-type': 'type' in c ? c.type : 'application/json' }, body: c.body });
      polling = false;
      await poller;
      assert.equal(answer.status, 400, `${c.what}: ${answer.body.toString().slice(0, 300)}`);
      assert.ok(answer.ms < 1000, `${c.what}: answered in ${Math.round(answer.ms)} ms`);
      assert.ok(answer.body.length <= 64 * 1024, `${c.what}: an error body of ${answer.body.length} bytes`);
      assert.match((JSON.parse(answer.body.toString()) as { message: string }).message, c.message, c.what);
      assert.ok(Math.max(...healthTimes) < 1000, `${c.what}: /api/health waited ${Math.round(Math.max(...healthTimes))} ms`);
      assert.equal(await t.head(), head, `${c.what}: the log is unchanged`);
    }
  });

  it('caps any error body: many problems are named up to a limit, then counted', async () => {
    const env = Object.fromEntries(Array.from({ length: 900 }, (_, i) => [`${i}bad`, '\u0001'.repeat(200)]));
    const answer = await rawRequest(t.url, 'PUT', `/api/jobs/${jobId}`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ env, name: 5, zzz: 1 }) });
    assert.equal(answer.status, 400);
    assert.ok(answer.body.length <= 64 * 1024, `${answer.body.length} bytes`);
    const error = JSON.parse(answer.body.toString()) as { problems: string[] };
    assert.ok(error.problems.length <= 21, `${error.problems.length} problems`);
    assert.match(error.problems[0], /zzz: is not a known field/);
  });

  it('refuses a body in a content type its route does not take with 415, and ignores nothing', async () => {
    const dryRun = JSON.stringify({ args: ['--dry-run'], delaySeconds: 3600 });
    await expectRefused([
      { what: 'JSON sent as text/plain to start a run', method: 'POST', path: '/api/jobs/j/runs', raw: { type: 'text/plain', body: dryRun }, status: 415, message: /takes application\/json or multipart\/form-data, not a text\/plain body/ },
      { what: 'JSON sent as text/plain to change a job', method: 'PUT', path: '/api/jobs/j', raw: { type: 'text/plain', body: '{"args":["x"]}' }, status: 415, message: /text\/plain/ },
      { what: 'a body without a Content-Type', method: 'PUT', path: '/api/scripts/s', raw: { body: '{"body":"x"}' }, status: 415, message: /without a Content-Type/ },
      { what: 'a form sent to the API', method: 'POST', path: '/api/scripts', raw: { type: 'application/x-www-form-urlencoded', body: 'name=x&body=y' }, status: 415, message: /takes application\/json, not an application\/x-www-form-urlencoded body/ },
      { what: 'multipart sent to a JSON-only route', method: 'PUT', path: '/api/jobs/j', multipart: [{ disposition: 'form-data; name="args"', content: '["x"]' }], status: 415, message: /multipart/ },
      { what: 'JSON sent to an upload route', method: 'POST', path: '/api/jobs/j/files', json: { file: 'x' }, status: 415, message: /takes multipart\/form-data/ },
      { what: 'XML to a control route', method: 'POST', path: '/api/runs/r/cancel', raw: { type: 'application/xml', body: '<cancel/>' }, status: 415, message: /xml/ },
      { what: 'JSON fields to a route that takes no body', method: 'POST', path: '/api/runs/r/cancel', json: { reason: 'x' }, status: 400, message: /takes no body/ },
      { what: 'JSON sent to a page form', method: 'POST', path: '/scripts', json: { name: 'x', body: 'y' }, status: 415, message: /x-www-form-urlencoded/ },
      { what: 'text sent to a page form', method: 'PUT', path: '/jobs/j', raw: { type: 'text/plain', body: 'name=x' }, status: 415, message: /x-www-form-urlencoded/ },
    ]);
    // Without a body where none is needed, nothing changes: a plain start, an empty JSON object to cancel.
    const plain = await rawRequest(t.url, 'POST', `/api/jobs/${jobId}/runs`);
    assert.equal(plain.status, 202, plain.body.toString());
    const started = (JSON.parse(plain.body.toString()) as { id: string }).id;
    const waiting = await expectJson<{ id: string }>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: { delaySeconds: 3600 } }), 202);
    const cancel = await rawRequest(t.url, 'POST', `/api/runs/${waiting.id}/cancel`, { headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(cancel.status, 202, cancel.body.toString());
    // The started run finishes before the next cases count events.
    await eventually(async () => {
      const run = await expectJson<{ status: string }>(await t.request(`/api/runs/${started}`), 200);
      return ['succeeded', 'failed'].includes(run.status) ? run : undefined;
    });
  });

  it('takes values as their JSON type in JSON bodies, and reads multipart text strictly', async () => {
    await expectRefused([
      { what: 'delaySeconds: true', method: 'POST', path: '/api/jobs/j/runs', json: { delaySeconds: true }, status: 400, message: /delaySeconds must be a whole number/ },
      { what: 'delaySeconds: "10"', method: 'POST', path: '/api/jobs/j/runs', json: { delaySeconds: '10' }, status: 400, message: /delaySeconds must be a whole number/ },
      { what: 'delaySeconds: [10]', method: 'POST', path: '/api/runs/r/reschedule', json: { delaySeconds: [10] }, status: 400, message: /delaySeconds/ },
      { what: 'timeoutSeconds: "60"', method: 'PUT', path: '/api/jobs/j', json: { timeoutSeconds: '60' }, status: 400, message: /timeoutSeconds/ },
      { what: 'maxConcurrent: true', method: 'PUT', path: '/api/jobs/j', json: { maxConcurrent: true }, status: 400, message: /maxConcurrent/ },
      { what: 'a name as a list', method: 'PUT', path: '/api/scripts/s', json: { name: ['x'] }, status: 400, message: /name/ },
      { what: 'multipart delaySeconds "1e1"', method: 'POST', path: '/api/jobs/j/runs', multipart: [{ disposition: 'form-data; name="delaySeconds"', content: '1e1' }], status: 400, message: /delaySeconds must be a whole number/ },
      { what: 'multipart delaySeconds " 10"', method: 'POST', path: '/api/jobs/j/runs', multipart: [{ disposition: 'form-data; name="delaySeconds"', content: ' 10' }], status: 400, message: /delaySeconds/ },
      { what: 'multipart delaySeconds "true"', method: 'POST', path: '/api/jobs/j/runs', multipart: [{ disposition: 'form-data; name="delaySeconds"', content: 'true' }], status: 400, message: /delaySeconds/ },
      { what: 'multipart delaySeconds twice', method: 'POST', path: '/api/jobs/j/runs', multipart: [{ disposition: 'form-data; name="delaySeconds"', content: '5' }, { disposition: 'form-data; name="delaySeconds"', content: '6' }], status: 400, message: /delaySeconds/ },
      { what: 'includeBytes=yes', method: 'GET', path: '/api/events?includeBytes=yes', status: 400, message: /includeBytes/ },
      { what: 'limit=0x10', method: 'GET', path: '/api/runs?limit=0x10', status: 400, message: /limit/ },
      { what: 'limit=1e2', method: 'GET', path: '/api/events?limit=1e2', status: 400, message: /limit/ },
      { what: 'an empty offset', method: 'GET', path: '/api/runs/r/output?offset=', status: 400, message: /offset/ },
      { what: 'offset given twice', method: 'GET', path: '/api/runs/r/output/stream?offset=1&offset=2', status: 400, message: /offset|Last-Event-ID/ },
    ]);
    // Multipart digits are a number: the run waits.
    const { body, contentType } = multipartBody([{ disposition: 'form-data; name="delaySeconds"', content: '10' }]);
    const answer = await rawRequest(t.url, 'POST', `/api/jobs/${jobId}/runs`, { headers: { 'content-type': contentType }, body });
    assert.equal(answer.status, 202, answer.body.toString());
    assert.equal((JSON.parse(answer.body.toString()) as { status: string }).status, 'scheduled');
  });

  it('refuses a query parameter a route does not read, on every route, including names like __proto__', async () => {
    const cases: Case[] = [];
    const paths = ['/api/scripts', '/api/scripts/s', '/api/jobs', '/api/runs', '/api/runs/r', '/api/runs/r/output', '/api/runs/r/output/stream', '/api/events', '/api/health', '/jobs', '/runs/r', '/runs/r/output/live', '/audit', '/'];
    for (const path of paths) {
      for (const key of ['__proto__', 'constructor', 'toString', 'colour', 'hasOwnProperty']) {
        cases.push({ what: `${path}?${key}`, method: 'GET', path: `${path}?${key}=1`, status: 400, message: new RegExp(`${key}: is not a known query parameter`) });
      }
    }
    cases.push(
      { what: 'many unknown parameters', method: 'GET', path: `/api/scripts?${Array.from({ length: 500 }, (_, i) => `p${i}=1`).join('&')}`, status: 400, message: /"p9" and 490 more are not known query parameters/ },
      { what: 'a parameter on a change', method: 'DELETE', path: '/api/jobs/j?force=1', status: 400, message: /force: is not a known query parameter/ },
      { what: 'a parameter on a control', method: 'POST', path: '/api/runs/r/cancel?now=1', status: 400, message: /now: is not a known query parameter/ },
    );
    await expectRefused(cases);
    // Known parameters still work.
    assert.equal((await t.request('/api/jobs?tag=nightly&q=j')).status, 200);
    assert.equal((await t.request('/jobs?q=j&tag=nightly&status=&outcome=&page=1')).status, 200);
  });

  it('refuses fields a page form does not have, beside the form, and stray fields on run buttons', async () => {
    const form = 'application/x-www-form-urlencoded';
    await expectRefused([
      { what: 'a stray field on the template form', method: 'POST', path: '/scripts', raw: { type: form, body: 'name=x&interpreter=bash&body=true&colour=red' }, status: 422, message: /This form has no field “colour”/ },
      { what: 'a stray field on the job form', method: 'PUT', path: '/jobs/j', raw: { type: form, body: 'name=j&scriptId=s&priority=9' }, status: 422, message: /This form has no field “priority”/ },
      { what: 'a stray field on the run form', method: 'POST', path: '/jobs/j/runs', multipart: [{ disposition: 'form-data; name="when"', content: 'now' }, { disposition: 'form-data; name="dryRun"', content: '1' }], status: 422, message: /This form has no field “dryRun”/ },
      { what: 'a stray field on the re-time form', method: 'POST', path: '/runs/r/reschedule', raw: { type: form, body: 'when=delay&delayAmount=5&delayUnit=minutes&zzz=1' }, status: 422, message: /This form has no field “zzz”/ },
      { what: 'a stray field on a cancel button', method: 'POST', path: '/runs/r/cancel', raw: { type: form, body: 'from=list&force=1' }, status: 400, message: /force/ },
    ]);
  });

  it('refuses unknown multipart fields on uploads and file parts whose name cannot be decoded', async () => {
    const file = (disposition: string | Buffer) => ({ disposition, contentType: 'text/plain', content: 'hello' });
    await expectRefused([
      { what: 'an unknown field on /files', method: 'POST', path: '/api/jobs/j/files', multipart: [file('form-data; name="file"; filename="a.txt"'), { disposition: 'form-data; name="overwrite"', content: 'yes' }], status: 400, message: /overwrite.*takes only file parts/ },
      { what: 'an unknown field on the page upload', method: 'POST', path: '/jobs/j/files', multipart: [file('form-data; name="file"; filename="a.txt"'), { disposition: 'form-data; name="note"', content: 'x' }], status: 400, message: /note/ },
      { what: 'an unknown field on a run', method: 'POST', path: '/api/jobs/j/runs', multipart: [{ disposition: 'form-data; name="priority"', content: '1' }], status: 400, message: /priority: is not a known field/ },
      { what: 'a Latin-1 file name', method: 'POST', path: '/api/jobs/j/runs', multipart: [file(Buffer.from('form-data; name="file"; filename="caf\xe9.txt"', 'latin1'))], status: 400, message: /not valid UTF-8/ },
      { what: 'bad UTF-8 in filename*', method: 'POST', path: '/api/jobs/j/files', multipart: [file("form-data; name=\"file\"; filename*=utf-8''%FF%FE.txt")], status: 400, message: /not valid UTF-8/ },
      { what: 'an unknown charset in filename*', method: 'POST', path: '/api/jobs/j/runs', multipart: [file("form-data; name=\"file\"; filename*=x-unknown''abc.txt")], status: 400, message: /1 part of the form could not be read/ },
      { what: 'broken percent-encoding in filename*', method: 'POST', path: '/api/jobs/j/runs', multipart: [file("form-data; name=\"file\"; filename*=utf-8''%ZZ.txt")], status: 400, message: /could not be read/ },
      { what: 'a part without Content-Disposition', method: 'POST', path: '/api/jobs/j/files', multipart: [file('form-data; name="file"; filename="a.txt"'), { disposition: 'attachment', content: 'x' }], status: 400, message: /could not be read/ },
    ]);
    // A browser's empty file input is no lost part: the run starts, without files.
    const empty = multipartBody([
      { disposition: 'form-data; name="args"', content: '["x"]' },
      { disposition: 'form-data; name="file"; filename=""', contentType: 'application/octet-stream', content: '' },
      { disposition: 'form-data; name="delaySeconds"', content: '3600' },
    ]);
    const started = await rawRequest(t.url, 'POST', `/api/jobs/${jobId}/runs`, { headers: { 'content-type': empty.contentType }, body: empty.body });
    assert.equal(started.status, 202, started.body.toString());
    assert.deepEqual((JSON.parse(started.body.toString()) as { files: unknown[] }).files, []);
    // A UTF-8 name in either form is kept exactly.
    const { body, contentType } = multipartBody([
      { disposition: 'form-data; name="file"; filename="café.txt"', content: 'a' },
      { disposition: "form-data; name=\"file\"; filename*=UTF-8''%E2%82%AC.txt", content: 'b' },
    ]);
    const answer = await rawRequest(t.url, 'POST', `/api/jobs/${jobId}/files`, { headers: { 'content-type': contentType }, body });
    assert.equal(answer.status, 201, answer.body.toString());
    assert.deepEqual((JSON.parse(answer.body.toString()) as { files: Array<{ name: string }> }).files.map((f) => f.name).sort(), ['café.txt', '€.txt']);
  });
});
