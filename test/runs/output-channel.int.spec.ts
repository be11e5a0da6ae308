/**
 * Issue 11: the socket pair a run writes its output into, read here into buffers of
 * our choosing, and paired only with a connection that proves to be ours.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { listenForOwn, openOutputChannel } from '../../src/runs/runner/output-channel';
import { GROW_OUTPUT_BUFFER } from '../../src/runs/runner/sandbox';

const dir = mkdtempSync(join(tmpdir(), 'ec-channel-'));
/** The send buffer the sandbox's init asks for, as Linux grants it where `net.core.wmem_max` allows (4 MiB, doubled). */
const WRITE_AHEAD_BYTES = 8 * 1024 * 1024;
after(() => rmSync(dir, { recursive: true, force: true }));

/** Connects to `path`, sends `bytes`, and reports what comes back until the other side closes. */
function stranger(path: string, bytes: Buffer): { received: Promise<Buffer> } {
  const socket = connect(path);
  socket.write(bytes);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  return { received: new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks)))) };
}

describe('output channel', () => {
  it('carries every byte written into the process\'s end, in order, into the targets given', async () => {
    const received: Buffer[] = [];
    const targets = [Buffer.alloc(1000), Buffer.alloc(1000)];
    let turn = 0;
    const channel = await openOutputChannel({
      target: () => targets[turn++ % 2]!,
      read: (bytes) => {
        assert.ok(targets.some((target) => target.buffer === bytes.buffer && bytes.byteOffset === target.byteOffset), 'read into a target, at its start');
        received.push(Buffer.from(bytes));
      },
    });
    const data = randomBytes(3 * 1024 * 1024);
    const closed = new Promise((resolve) => channel.reader.once('close', resolve));
    channel.writer.end(data);
    await closed;
    const all = Buffer.concat(received);
    assert.equal(all.length, data.length);
    assert.equal(createHash('sha256').update(all).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('reads a writer as fast as yes in large pieces, not one read per write, and loses nothing', async () => {
    // `head -c` writes 8 KiB at a time: read at once, that was one read (and one wake-up of the server) per 8 KiB.
    // The pacing is told the send buffer the init gets where net.core.wmem_max allows it; on a host that grants
    // less, the writer waits more during a rest, and the reads are as few.
    const target = Buffer.alloc(4 * 1024 * 1024);
    const total = 20_000_000;
    let reads = 0;
    let bytes = 0;
    const hash = createHash('sha256');
    const sink = {
      target: () => target,
      read: (chunk: Buffer) => {
        reads++;
        bytes += chunk.length;
        hash.update(chunk);
      },
    };
    const channel = await openOutputChannel(sink, WRITE_AHEAD_BYTES);
    const script = `yes 'EnderCompute 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c ${total}`;
    const child = spawn('perl', ['-e', `${GROW_OUTPUT_BUFFER} exec @ARGV`, 'bash', '-c', script], { stdio: ['ignore', channel.writer, 'inherit'] });
    channel.writer.destroy();
    await Promise.all([once(child, 'close'), once(channel.reader, 'close')]);
    const line = 'EnderCompute 0123456789 abcdefghijklmnopqrstuvwxyz\n';
    const expected = createHash('sha256').update(Buffer.from(line.repeat(Math.ceil(total / line.length))).subarray(0, total)).digest('hex');
    assert.equal(bytes, total);
    assert.equal(hash.digest('hex'), expected);
    assert.ok(reads < total / 8192 / 5, `${reads} reads for ${total / 8192} writes of 8 KiB`);
  });

  it('holds reading while its owner says so, and reads everything once released', async () => {
    let bytes = 0;
    // With rests possible: a rest's end must not undo the hold.
    const sink = { target: () => Buffer.alloc(64 * 1024), read: (chunk: Buffer) => void (bytes += chunk.length) };
    const channel = await openOutputChannel(sink, WRITE_AHEAD_BYTES);
    channel.hold(true);
    channel.writer.write(Buffer.alloc(100_000));
    await delay(50);
    assert.equal(bytes, 0, 'nothing is read while held');
    channel.hold(false);
    const closed = once(channel.reader, 'close');
    channel.writer.end(Buffer.alloc(50_000));
    await closed;
    assert.equal(bytes, 150_000);
  });

  it('pairs with the connection that sends its token, refuses others, and leaves no path to connect to', async () => {
    const path = join(dir, 'own.sock');
    const token = randomBytes(16);
    const listener = await listenForOwn(path, token);
    const wrong = stranger(path, randomBytes(16));
    const silent = connect(path);
    silent.on('error', () => undefined);
    silent.end();
    await delay(20);
    const ours: Socket = connect(path);
    ours.write(token);
    const accepted = await listener.accepted;
    assert.equal((await wrong.received).length, 0, 'a stranger is closed, and hears nothing');
    assert.equal(existsSync(path), false, 'the listener is gone once ours was accepted');
    const heard = new Promise<string>((resolve) => ours.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    accepted.write('for ours');
    assert.equal(await heard, 'for ours', 'the accepted end is the other end of ours');
    accepted.destroy();
    ours.destroy();
  });

  it('gives up after too many strangers', async () => {
    const path = join(dir, 'crowded.sock');
    const listener = await listenForOwn(path, randomBytes(16));
    for (let i = 0; i < 8; i++) stranger(path, Buffer.alloc(16, i));
    await assert.rejects(listener.accepted, /8 connections to the output channel's listener were not this server's/);
    assert.equal(existsSync(path), false);
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
