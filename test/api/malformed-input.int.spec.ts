import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest } from '../support/raw-http';
import { expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

interface Case {
  what: string;
  method: string;
  path: string;
  json?: unknown;
  raw?: string;
  form?: () => FormData;
  headers?: Record<string, string>;
  status: number;
  /** The message must match this: it names the problem (usually the field). */
  message: RegExp;
}

describe('REST: malformed input gets a clear 4xx and leaves the log unchanged', () => {
  let t: TestApp;
  let jobId: string;
  let scriptId: string;

  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_MAX_FILE_BYTES: '1000' });
    scriptId = (await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 's', body: 'true' } }), 201)).id;
    jobId = (await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'j', scriptId } }), 201)).id;
  });
  after(async () => {
    await t.close();
  });

  const cases = (): Case[] => [
    { what: 'invalid JSON', method: 'POST', path: '/api/scripts', raw: '{"name": "x",', status: 400, message: /^body: is not valid JSON \(.*position \d+/ },
    { what: 'a path that is not valid percent-encoding', method: 'GET', path: '/api/jobs/%ff', status: 400, message: /^path: is not valid percent-encoded text$/ },
    { what: 'a JSON array body', method: 'POST', path: '/api/scripts', json: [1, 2], status: 400, message: /body: must be a JSON object/ },
    // A missing required field is one problem each, not every rule its absent value breaks.
    { what: 'no fields', method: 'POST', path: '/api/scripts', json: {}, status: 400, message: /^name: is required; body: is required$|^body: is required; name: is required$/ },
    { what: 'a job without its template', method: 'POST', path: '/api/jobs', json: { name: 'k' }, status: 400, message: /^scriptId: is required$/ },
    { what: 'a job without a name', method: 'POST', path: '/api/jobs', json: { scriptId: 's' }, status: 400, message: /^name: is required$/ },
    { what: 'a number as name', method: 'POST', path: '/api/scripts', json: { name: 5, body: 'x' }, status: 400, message: /^name: / },
    { what: 'a control character in the name', method: 'POST', path: '/api/scripts', json: { name: 'a\u0007b', body: 'x' }, status: 400, message: /name must not contain control characters/ },
    { what: 'a blank name', method: 'POST', path: '/api/scripts', json: { name: '   ', body: 'x' }, status: 400, message: /name must not be blank/ },
    { what: 'an interpreter with a space', method: 'POST', path: '/api/scripts', json: { name: 'x', body: 'x', interpreter: 'rm -rf' }, status: 400, message: /interpreter/ },
    { what: 'a NUL in the body', method: 'POST', path: '/api/scripts', json: { name: 'x', body: 'a\u0000b' }, status: 400, message: /body must not contain NUL/ },
    { what: 'an unknown field', method: 'POST', path: '/api/scripts', json: { name: 'x', body: 'x', colour: 'red' }, status: 400, message: /colour/ },
    { what: 'a script body over 512 KiB', method: 'POST', path: '/api/scripts', json: { name: 'x', body: 'x'.repeat(600_000) }, status: 400, message: /body must be shorter/ },
    { what: 'a request body over 2 MB', method: 'POST', path: '/api/scripts', json: { name: 'x', body: 'x'.repeat(3_000_000) }, status: 413, message: /^The request body is too large: at most 2097152 bytes are read$/ },
    { what: 'a junk If-Match', method: 'PUT', path: '/api/scripts/s', json: { body: 'y' }, headers: { 'if-match': 'yesterday' }, status: 400, message: /If-Match/ },
    { what: 'an unknown template', method: 'PUT', path: '/api/scripts/nope', json: { body: 'y' }, status: 404, message: /nope/ },
    { what: 'removing an unknown template', method: 'DELETE', path: '/api/scripts/nope', status: 404, message: /nope/ },
    { what: 'a job without scriptId', method: 'POST', path: '/api/jobs', json: { name: 'k' }, status: 400, message: /scriptId/ },
    { what: 'a job on an unknown template', method: 'POST', path: '/api/jobs', json: { name: 'k', scriptId: 'ghost' }, status: 400, message: /scriptId: no script template "ghost"/ },
    { what: 'args that are not a list', method: 'POST', path: '/api/jobs', json: { name: 'k', scriptId: 's', args: 'a b' }, status: 400, message: /args/ },
    { what: 'an argument with NUL', method: 'POST', path: '/api/jobs', json: { name: 'k', scriptId: 's', args: ['a\u0000'] }, status: 400, message: /args/ },
    { what: 'a bad variable name', method: 'POST', path: '/api/jobs', json: { name: 'k', scriptId: 's', env: { 'A-B': '1' } }, status: 400, message: /env: .*A-B/ },
    { what: 'a reserved variable', method: 'POST', path: '/api/jobs', json: { name: 'k', scriptId: 's', env: { ENDERCOMPUTE_RUN_ID: 'x' } }, status: 400, message: /ENDERCOMPUTE_RUN_ID is reserved/ },
    { what: 'a number as a variable value', method: 'POST', path: '/api/jobs', json: { name: 'k', scriptId: 's', env: { A: 1 } }, status: 400, message: /A must be a string/ },
    { what: 'a tag with spaces', method: 'POST', path: '/api/jobs', json: { name: 'k', scriptId: 's', tags: ['a b'] }, status: 400, message: /tag/ },
    { what: 'a fractional timeout', method: 'POST', path: '/api/jobs', json: { name: 'k', scriptId: 's', timeoutSeconds: 1.5 }, status: 400, message: /timeoutSeconds/ },
    { what: 'a negative timeout', method: 'PUT', path: '/api/jobs/j', json: { timeoutSeconds: -1 }, status: 400, message: /timeoutSeconds/ },
    { what: 'a duplicate job name', method: 'POST', path: '/api/jobs', json: { name: 'J', scriptId: 's' }, status: 409, message: /"j" already exists/ },
    { what: 'an unknown last status', method: 'GET', path: '/api/jobs?lastStatus=great', status: 400, message: /lastStatus/ },
    { what: 'an unknown query parameter', method: 'GET', path: '/api/jobs?colour=red', status: 400, message: /colour/ },
    { what: 'an upload with no file', method: 'POST', path: '/api/jobs/j/files', form: () => new FormData(), status: 400, message: /file: attach at least one file/ },
    { what: 'a file over the size limit', method: 'POST', path: '/api/jobs/j/files', form: () => withFile('big.bin', 'x'.repeat(2000)), status: 413, message: /larger than the limit of 1000 bytes/ },
    { what: 'removing a missing file', method: 'DELETE', path: '/api/jobs/j/files/none.txt', status: 404, message: /none\.txt/ },
    { what: 'a run of an unknown job', method: 'POST', path: '/api/jobs/ghost/runs', json: {}, status: 404, message: /ghost/ },
    { what: 'run args that are not a list', method: 'POST', path: '/api/jobs/j/runs', json: { args: 5 }, status: 400, message: /args/ },
    { what: 'an unreadable start time', method: 'POST', path: '/api/jobs/j/runs', json: { at: 'tomorrow' }, status: 400, message: /at must be an ISO-8601 time/ },
    { what: 'a start time without a time zone', method: 'POST', path: '/api/jobs/j/runs', json: { at: '2030-06-01T09:00:00' }, status: 400, message: /at: "2030-06-01T09:00:00" has no time zone: add Z or an offset/ },
    { what: 'a start date alone', method: 'POST', path: '/api/jobs/j/runs', json: { at: '2030-06-01' }, status: 400, message: /at: "2030-06-01" has no time zone/ },
    { what: 'a negative delay', method: 'POST', path: '/api/jobs/j/runs', json: { delaySeconds: -5 }, status: 400, message: /delaySeconds/ },
    { what: 'both a time and a delay', method: 'POST', path: '/api/jobs/j/runs', json: { delaySeconds: 5, at: '2099-01-01T00:00:00Z' }, status: 400, message: /either at or delaySeconds/ },
    { what: 'multipart env that is not JSON', method: 'POST', path: '/api/jobs/j/runs', form: () => withField('env', 'A=1'), status: 400, message: /env: must be JSON/ },
    { what: 'a run file with a path', method: 'POST', path: '/api/jobs/j/runs', form: () => withFile('../evil.sh', 'x'), status: 400, message: /file: .*is a path/ },
    { what: 'an unknown run status', method: 'GET', path: '/api/runs?status=sleeping', status: 400, message: /status: "sleeping"/ },
    { what: 'a zero limit', method: 'GET', path: '/api/runs?limit=0', status: 400, message: /limit/ },
    { what: 'an unknown run', method: 'GET', path: '/api/runs/ghost-1', status: 404, message: /ghost-1/ },
    { what: 'a negative output offset', method: 'GET', path: '/api/runs/ghost-1/output?offset=-1', status: 400, message: /offset/ },
    { what: 'a junk event cursor', method: 'GET', path: '/api/events?after=abc', status: 400, message: /after/ },
    { what: 'an event limit too large', method: 'GET', path: '/api/events?limit=100000', status: 400, message: /limit/ },
    { what: 'a junk actor header', method: 'POST', path: '/api/scripts', json: { name: 'x', body: 'x' }, headers: { 'x-actor': '%E0%A4%A' }, status: 400, message: /X-Actor/ },
  ];

  it('answers every malformed request with its status, a JSON error naming the problem, and no new event', async () => {
    for (const c of cases()) {
      const head = await t.head();
      const headers: Record<string, string> = { ...c.headers };
      let body: string | FormData | undefined;
      if (c.raw !== undefined) {
        headers['content-type'] = 'application/json';
        body = c.raw;
      } else if (c.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(c.json);
      } else if (c.form) {
        body = c.form();
      }
      const response = await t.request(c.path.replace('/j/', `/${jobId}/`), { method: c.method, headers, body });
      const text = await response.text();
      assert.equal(response.status, c.status, `${c.what}: ${text}`);
      const error = JSON.parse(text) as { statusCode: number; error: string; message: string; problems?: unknown };
      assert.equal(error.statusCode, c.status, c.what);
      // API.md: every 400 lists its problems, whatever refused it (a validator, the body parser, the router).
      if (c.status === 400) assert.ok(Array.isArray(error.problems) && error.problems.length > 0 && error.problems.every((p) => typeof p === 'string'), `${c.what}: problems`);
      assert.equal(typeof error.error, 'string', c.what);
      assert.match(error.message, c.message, `${c.what}: ${error.message}`);
      assert.doesNotMatch(text, /\bat \w+ \(|node_modules/, `${c.what}: no stack trace`);
      assert.equal(await t.head(), head, `${c.what}: the log is unchanged`);
    }
  });

  it('refuses an X-Actor header sent more than once, which Node would join into one name', async () => {
    const head = await t.head();
    // As two lines, `alice` and `system` would be the actor `alice, system`: a reserved name hidden in another.
    const answer = await rawRequest(t.url, 'POST', '/api/scripts', {
      headers: { 'content-type': 'application/json', 'x-actor': ['alice', 'system'] },
      body: JSON.stringify({ name: 'twice', body: 'true' }),
    });
    assert.equal(answer.status, 400, answer.body.toString());
    const error = JSON.parse(answer.body.toString()) as { message: string; problems: string[] };
    assert.deepEqual(error.problems, ['X-Actor: must be sent once (it came 2 times)']);
    assert.equal(await t.head(), head);
  });
});

function withFile(name: string, content: string): FormData {
  const form = new FormData();
  form.append('file', new Blob([content]), name);
  return form;
}

function withField(name: string, value: string): FormData {
  const form = new FormData();
  form.append(name, value);
  return form;
}
