/**
 * The CLI's REST client and a server that answers it is starting (`503` with
 * `Retry-After`, as the starting gate does): it sends the request again once the
 * server has started, within its limit, and tells why once.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { getEventListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApiClient, ApiError } from '../../src/cli/client';

/** What the test server does with the n-th request (from 1): the default answers 200 with `{n}`. */
type Answer = (n: number, request: IncomingMessage, response: ServerResponse) => void;

/** The starting gate's answer; `gate` false: a 503 with `Retry-After` from something else (a proxy). */
const starting = (response: ServerResponse, retryAfter = '0', gate = true): void => {
  response
    .writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter, ...(gate ? { 'endercompute-status': 'starting' } : {}) })
    .end(JSON.stringify({ statusCode: 503, message: 'EnderCompute is starting' }));
};

describe('The CLI client and a server that is starting', () => {
  let server: Server;
  let url = '';
  let answer: Answer = () => undefined;
  let requests: Array<{ method: string; body: string }> = [];

  before(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        requests.push({ method: request.method ?? '', body });
        answer(requests.length, request, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  /** A client with this start wait, that notes what it is told. */
  function client(limitMs: number): { api: ApiClient; told: string[] } {
    const told: string[] = [];
    requests = [];
    return { api: new ApiClient({ url, key: 'k', actor: null }, 'test', { limitMs, onStarting: (message) => told.push(message) }), told };
  }

  it('sends a request again until the server has started, the same body each time, and says why once', async () => {
    answer = (n, _request, response) => (n <= 3 ? starting(response) : response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ n })));
    const { api, told } = client(60_000);
    const started = performance.now();
    const made = await api.json<{ n: number }>('POST', '/api/scripts', { name: 'x' });
    assert.deepEqual(made, { n: 4 });
    assert.deepEqual(requests.map((request) => `${request.method} ${request.body}`), Array(4).fill('POST {"name":"x"}'));
    assert.deepEqual(told, ['503: EnderCompute is starting']);
    // Retry-After 0 is no reason to hammer the server: half a second at least between attempts.
    assert.ok(performance.now() - started >= 1_400, `waited between attempts (${performance.now() - started} ms)`);
  });

  it('does not wait with a limit of 0, nor for a 503 without Retry-After (a server that cannot serve, not one starting)', async () => {
    answer = (_n, _request, response) => starting(response);
    const impatient = client(0);
    await assert.rejects(impatient.api.json('GET', '/api/scripts'), (error: unknown) => error instanceof ApiError && error.status === 503 && error.retryAfterMs === 0);
    assert.equal(requests.length, 1);
    assert.deepEqual(impatient.told, []);

    answer = (_n, _request, response) => response.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'projection stopped' }));
    const patient = client(60_000);
    await assert.rejects(patient.api.json('GET', '/api/scripts'), (error: unknown) => error instanceof ApiError && error.status === 503 && error.retryAfterMs === null);
    assert.equal(requests.length, 1);
  });

  it('repeats anything but a GET only for the starting gate\'s own 503: a proxy\'s may have let the request through', async () => {
    answer = (n, _request, response) => (n === 1 ? starting(response, '0', false) : response.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const post = client(60_000);
    await assert.rejects(post.api.json('POST', '/api/jobs/j/runs', {}), (error: unknown) => error instanceof ApiError && error.status === 503 && !error.fromStartingGate);
    assert.equal(requests.length, 1, 'sent once');
    const get = client(60_000);
    assert.deepEqual(await get.api.json('GET', '/api/runs'), {});
    assert.equal(requests.length, 2, 'a GET is sent again');
  });

  it('waits for one start at most its limit, across the requests of a command, and for the next start anew', async () => {
    answer = (_n, _request, response) => starting(response, '1');
    const { api, told } = client(2_500);
    const started = performance.now();
    await assert.rejects(api.json('GET', '/api/scripts'), /^ApiError: 503: EnderCompute is starting$/);
    const waited = performance.now() - started;
    // Asked at 0, 1 and 2 s, and at 2.5 s when the limit cuts the last wait short (unless the machine is slow).
    assert.ok(waited >= 2_400 && waited < 4_000, `waited as long as the limit allows (${waited} ms)`);
    assert.ok(requests.length >= 3 && requests.length <= 4, `asked ${requests.length} times`);
    // The same start, met by the command's next request: no new allowance.
    const before = requests.length;
    await assert.rejects(api.json('GET', '/api/scripts'), /EnderCompute is starting/);
    assert.equal(requests.length, before + 1, 'not waited for again');
    assert.equal(told.length, 1);

    // Started, then starting again (a restart later on): waited for, and said, anew.
    answer = (n, _request, response) => (n === 1 ? response.writeHead(200, { 'content-type': 'application/json' }).end('{}') : n === 2 ? starting(response) : response.writeHead(200).end('{}'));
    requests = [];
    await api.json('GET', '/api/scripts');
    await api.json('GET', '/api/scripts');
    assert.equal(requests.length, 3);
    assert.equal(told.length, 2);
  });

  it('lets go of the caller\'s signal after each failed attempt, and keeps it for the body of the one that succeeds', async () => {
    answer = (n, _request, response) => (n <= 4 ? starting(response) : response.writeHead(200, { 'content-type': 'text/plain' }).end('body'));
    const { api } = client(60_000);
    const controller = new AbortController();
    const response = await api.raw('/api/runs/r/output/stream', {}, controller.signal);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1, 'one listener, the answer\'s');
    assert.equal(await response.text(), 'body');

    answer = (_n, _request, response) => starting(response);
    const failing = client(1_200);
    const other = new AbortController();
    await assert.rejects(failing.api.raw('/api/runs/r/output/stream', {}, other.signal), ApiError);
    assert.equal(getEventListeners(other.signal, 'abort').length, 0);
  });

  it('times each attempt\'s answer on its own: the waits for a start between attempts do not count', async () => {
    // Starting twice, then a stream whose headers come at once and whose body comes later.
    answer = (n, _request, response) => {
      if (n <= 2) return starting(response);
      response.writeHead(200, { 'content-type': 'text/plain' }).flushHeaders();
      setTimeout(() => response.end('late body'), 400);
    };
    const { api } = client(60_000);
    const response = await api.raw('/api/runs/r/output/stream', {}, undefined, 300);
    assert.equal(await response.text(), 'late body', 'the timeout ends with the answer\'s headers, not its body');

    // A server that takes longer than that to answer at all.
    answer = (_n, _request, response) => void setTimeout(() => response.writeHead(200).end('too late'), 1_000);
    requests = [];
    await assert.rejects(api.raw('/api/runs/r/output/stream', {}, undefined, 300), (error: unknown) => error instanceof ApiError && error.status === 0);

    // An error whose body never ends: the timeout covers reading it too.
    answer = (_n, _request, response) => {
      response.writeHead(500, { 'content-type': 'application/json' }).write('{"message": "');
    };
    const cutOff = performance.now();
    await assert.rejects(api.raw('/api/runs/r/output/stream', {}, undefined, 300), /^ApiError: 500: Internal Server Error \(the answer was cut off\)$/);
    assert.ok(performance.now() - cutOff < 2_000);
  });
});
