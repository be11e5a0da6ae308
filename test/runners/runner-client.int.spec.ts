/**
 * The job server's requests count as lost when they make no progress for a while
 * (STALL_TIMEOUT_MS), not when they take long: a large upload or input file on a
 * slow link goes through however long it takes, while one that stalls is given up
 * (and tried again by the job server). Against a stand-in server, with a short limit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { RunnerClient, Unreachable } from '../../src/jobserver/runner-client';

/** The limit in these tests (ms); every step of a slow transfer comes well within it. */
const STALL_MS = 600;
const STEP_MS = 150;
const STEPS = 8;

async function standIn(handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer(handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const report = () => ({ labels: [], softwareVersion: 'test', maxConcurrent: 1, running: [] });

describe('runner client: stalled, not slow', () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.closeAllConnections(), server.close();
  });
  const client = async (handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<RunnerClient> => {
    const { url, server } = await standIn(handle);
    servers.push(server);
    return new RunnerClient(url, 'token', report, STALL_MS);
  };

  it('receives a download that takes longer than the limit in all, a piece at a time', async () => {
    const piece = Buffer.alloc(1000, 'x');
    const runner = await client(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let step = 0; step < STEPS; step++) {
        response.write(piece);
        await delay(STEP_MS);
      }
      response.end();
    });
    const started = performance.now();
    const body = Buffer.from(await (await runner.file('run-1', 'a'.repeat(64))).arrayBuffer());
    assert.ok(performance.now() - started > STALL_MS, 'it took longer than the limit');
    assert.equal(body.length, STEPS * piece.length);
  });

  it('gives up a download that stalls', async () => {
    const runner = await client((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.write(Buffer.alloc(1000));
      // …and nothing more.
    });
    const response = await runner.file('run-1', 'a'.repeat(64));
    const started = performance.now();
    await assert.rejects(response.arrayBuffer());
    assert.ok(performance.now() - started < STALL_MS + 2_000, 'given up about when the limit says');
  });

  it('sends an upload that takes longer than the limit in all, and answers what the server holds', async () => {
    let received = 0;
    const runner = await client((request, response) => {
      request.on('data', (chunk: Buffer) => (received += chunk.length));
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ offset: received }));
      });
    });
    const piece = Buffer.alloc(64 * 1024, 'y');
    const slowly = Readable.from((async function* () {
      for (let step = 0; step < STEPS; step++) {
        yield piece;
        await delay(STEP_MS);
      }
    })());
    const started = performance.now();
    assert.equal(await runner.output('run-1', 0, slowly), STEPS * piece.length);
    assert.ok(performance.now() - started > STALL_MS, 'it took longer than the limit');
  });

  it('counts a request without an answer as a lost connection', async () => {
    const runner = await client(() => undefined);
    const started = performance.now();
    await assert.rejects(runner.started('run-1', { pid: 1, processStartTicks: null, workdir: '/w' }), Unreachable);
    assert.ok(performance.now() - started < STALL_MS + 2_000);
  });
});
