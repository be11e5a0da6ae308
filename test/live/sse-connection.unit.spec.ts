/**
 * A stream viewer's connection: a viewer that stops reading is disconnected
 * after SLOW_VIEWER_MS rather than buffered for; one that drains in time goes
 * on; heartbeats fall due when nothing was written; SSE messages and
 * `Last-Event-ID` are read and written by the rules.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { Request, Response } from 'express';
import { resumeOffset, SLOW_VIEWER_MS, SseConnection, sseMessage } from '../../src/live/sse-connection';

class FakeResponse extends EventEmitter {
  destroyed = false;
  statusCode = 0;
  readonly headers: Record<string, string> = {};
  readonly written: string[] = [];
  /** What write() answers: false is a full socket buffer. */
  accepts = true;
  status(code: number): this {
    this.statusCode = code;
    return this;
  }
  setHeader(name: string, value: string): void {
    this.headers[name.toLowerCase()] = value;
  }
  flushHeaders(): void {}
  write(chunk: string | Buffer): boolean {
    this.written.push(String(chunk));
    return this.accepts;
  }
  end(): void {
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

describe('SSE connection', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  it('answers as an event stream', () => {
    const response = new FakeResponse();
    new SseConnection(response as unknown as Response, 15_000);
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(response.headers['cache-control'], 'no-store');
  });

  it('disconnects a viewer whose connection takes nothing for SLOW_VIEWER_MS', async () => {
    const response = new FakeResponse();
    const connection = new SseConnection(response as unknown as Response, 15_000);
    response.accepts = false;
    const writing = connection.write('data: x\n\n');
    mock.timers.tick(SLOW_VIEWER_MS - 1);
    await Promise.resolve();
    assert.equal(response.destroyed, false, 'not before the time');
    mock.timers.tick(1);
    await writing;
    assert.equal(response.destroyed, true);
    assert.equal(connection.dropped, true);
    assert.equal(connection.closed, true);
  });

  it('goes on with a viewer that drains in time', async () => {
    const response = new FakeResponse();
    const connection = new SseConnection(response as unknown as Response, 15_000);
    response.accepts = false;
    const writing = connection.write('data: x\n\n');
    mock.timers.tick(SLOW_VIEWER_MS / 2);
    response.emit('drain');
    await writing;
    assert.equal(connection.dropped, false);
    assert.equal(connection.closed, false);
  });

  it('has a heartbeat due only after a quiet interval', async () => {
    const response = new FakeResponse();
    const connection = new SseConnection(response as unknown as Response, 1_000);
    assert.equal(connection.heartbeatInMs, 1_000);
    mock.timers.tick(400);
    await connection.heartbeatIfDue();
    assert.equal(response.written.length, 0);
    mock.timers.tick(600);
    await connection.heartbeatIfDue();
    assert.match(response.written[0], /^: heartbeat \S+\n\n$/);
    assert.equal(connection.heartbeatInMs, 1_000);
  });

  it('writes messages with one data line per line, and reads Last-Event-ID', () => {
    assert.equal(sseMessage({ id: 12, event: 'output', data: 'a\nb\r\nc' }), 'id: 12\nevent: output\ndata: a\ndata: b\ndata: c\n\n');
    const request = (header?: string): Request => ({ headers: header === undefined ? {} : { 'last-event-id': header } }) as unknown as Request;
    assert.equal(resumeOffset(request('42'), undefined), 42);
    assert.equal(resumeOffset(request('42'), '7'), 42, 'the header wins');
    assert.equal(resumeOffset(request(), '7'), 7);
    assert.equal(resumeOffset(request(), undefined), undefined);
    assert.equal(resumeOffset(request('-1'), undefined), 'invalid');
    assert.equal(resumeOffset(request('1e3'), undefined), 'invalid');
  });
});
