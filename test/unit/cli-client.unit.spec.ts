/**
 * The CLI's REST client and a server that answers it is starting (`503` with
 * `Retry-After`, as the starting gate does): it sends the request again once the
 * server has started, within its limit, and tells why once.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApiClient, ApiError } from '../../src/cli/client';

/** What the test server does with the n-th request (from 1): the default answers 200 with `{n}`. */
type Answer = (n: number, request: IncomingMessage, response: ServerResponse) => void;

const starting = (response: ServerResponse, retryAfter = '0'): void => {
  response.writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter }).end(JSON.stringify({ statusCode: 503, message: 'EnderCompute is starting' }));
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

  it('gives up once its limit is reached, with the server\'s message', async () => {
    answer = (_n, _request, response) => starting(response, '1');
    const { api, told } = client(2_500);
    const started = performance.now();
    await assert.rejects(api.json('GET', '/api/scripts'), /^ApiError: 503: EnderCompute is starting$/);
    const waited = performance.now() - started;
    assert.ok(waited >= 1_900 && waited < 2_600, `waited as long as the limit allows (${waited} ms)`);
    assert.equal(requests.length, 3, 'asked at 0, 1 and 2 s');
    assert.equal(told.length, 1);
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
  });
});
