/**
 * Issue 11: the batcher hands output over in few, large deliveries (each one is a
 * commit in the store) without holding any byte longer than the flush interval.
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { BatchBufferPool } from '../../src/runs/runner/batch-buffers';
import { OutputBatcher, type OutputBatcherOptions, SPARE_BUFFERS } from '../../src/runs/runner/output-batcher';
import type { OutputBatch } from '../../src/runs/runner/runner.types';

function batcher(flushIntervalMs: number, maxBatchBytes: number, store: (batches: OutputBatch[]) => Promise<void> = async () => undefined) {
  const deliveries: Array<{ at: number; sizes: number[] }> = [];
  const started = Date.now();
  const instance = new OutputBatcher({
    flushIntervalMs,
    maxBatchBytes,
    maxOutputBytes: null,
    deliver: async (batches) => {
      deliveries.push({ at: Date.now() - started, sizes: batches.map((batch) => batch.bytes.length) });
      await store(batches);
    },
    onPressure: () => undefined,
    onFailure: () => undefined,
  });
  instance.release();
  return { instance, deliveries };
}

/**
 * A batcher of 1000-byte batches whose delivery keeps a copy of each batch (as a
 * transport that holds bytes after its delivery must) and notes the buffer it came in.
 */
function copyingBatcher(options: Pick<OutputBatcherOptions, 'prepare' | 'buffers'> = {}) {
  const buffers: ArrayBufferLike[] = [];
  const stored: Buffer[] = [];
  const instance = new OutputBatcher({
    ...options,
    flushIntervalMs: 10_000,
    maxBatchBytes: 1000,
    maxOutputBytes: null,
    deliver: async (batches) => {
      for (const batch of batches) {
        buffers.push(batch.bytes.buffer);
        stored.push(Buffer.from(batch.bytes));
      }
    },
    onPressure: () => undefined,
    onFailure: () => undefined,
  });
  instance.release();
  return { instance, buffers, stored };
}

describe('OutputBatcher deliveries', () => {
  it('hands two full batches over at once, without waiting for the interval', async () => {
    const { instance, deliveries } = batcher(10_000, 1000);
    instance.push('stdout', Buffer.alloc(2500, 'a'));
    await delay(20);
    assert.deepEqual(deliveries.map((d) => d.sizes), [[1000, 1000]]);
    await instance.finish();
    assert.deepEqual(deliveries.map((d) => d.sizes), [[1000, 1000], [500]]);
  });

  it('hands a lone full batch (and nothing after it) over once the flush interval passed', async () => {
    const { instance, deliveries } = batcher(100, 1000);
    instance.push('stdout', Buffer.alloc(1000, 'a'));
    await delay(30);
    assert.equal(deliveries.length, 0, 'not before the interval');
    await delay(300);
    assert.deepEqual(deliveries.map((d) => d.sizes), [[1000]], 'within the interval, not at the end');
    await instance.finish();
  });

  it('joins what arrived while a delivery was being stored into the next one, in order', async () => {
    let release: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const stored: Buffer[] = [];
    const { instance, deliveries } = batcher(20, 1000, async (batches) => {
      stored.push(...batches.map((batch) => batch.bytes));
      if (stored.length === 1) await slow;
    });
    instance.push('stdout', Buffer.from('first'));
    await delay(60);
    assert.equal(deliveries.length, 1);
    for (let i = 0; i < 5; i++) {
      instance.push('stdout', Buffer.from(`-${i}`));
      await delay(30);
    }
    assert.equal(deliveries.length, 1, 'nothing is handed over while a delivery is on its way');
    release();
    const totals = await instance.finish();
    assert.equal(Buffer.concat(stored).toString(), 'first-0-1-2-3-4');
    assert.equal(deliveries.length, 2, 'the bytes that waited went in one delivery');
    assert.equal(totals.outputBytes, 15);
  });

  it('reuses the buffers of stored full batches, never while a batch is being read', async () => {
    const input = Buffer.from(Array.from({ length: 40 }, (_, n) => `line ${String(n).padStart(3, '0')} `.repeat(25)).join(''));
    const overwritten: number[] = [];
    const reads: Array<Promise<void>> = [];
    const { instance, buffers: seen, stored } = copyingBatcher({
      // Reads each batch a while after it was sealed (as compressing on the thread pool does) and checks it still holds what it held.
      prepare: (bytes) => {
        const copy = Buffer.from(bytes);
        const read = delay(30).then(() => {
          if (!bytes.equals(copy)) overwritten.push(seen.length);
        });
        reads.push(read);
        return read;
      },
    });
    for (let at = 0; at < input.length; at += 100) {
      instance.push('stdout', input.subarray(at, at + 100));
      if (at % 1000 === 900) await delay(5);
    }
    await instance.finish();
    await Promise.all(reads);
    assert.ok(Buffer.concat(stored).equals(input), 'every byte stored, in order');
    assert.deepEqual(overwritten, [], 'no batch was overwritten while it was being read');
    assert.ok(new Set(seen).size < seen.length, `${seen.length} batches in ${new Set(seen).size} buffers: full batches reuse buffers`);
  });

  it('hands the buffers of one run\'s batches to the next run, which starts with buffers written before', async () => {
    const pool = new BatchBufferPool(1000, SPARE_BUFFERS);
    const runOnce = async (fill: string): Promise<{ buffers: ArrayBufferLike[]; stored: Buffer }> => {
      const { instance, buffers, stored } = copyingBatcher({ buffers: pool });
      // Reads of 100 bytes, as a pipe gives them: each batch is joined into a buffer of the pool.
      for (let at = 0; at < 8000; at += 100) instance.push('stdout', Buffer.alloc(100, fill));
      await instance.finish();
      // The buffers go back once each delivery's (absent) preparation settled.
      await delay(5);
      return { buffers, stored: Buffer.concat(stored) };
    };
    const first = await runOnce('a');
    assert.ok(pool.kept > 0 && pool.kept <= SPARE_BUFFERS, `kept ${pool.kept}, at most ${SPARE_BUFFERS}`);
    const second = await runOnce('b');
    assert.ok(second.stored.equals(Buffer.alloc(8000, 'b')), 'the second run stored its own bytes, not what the buffers held before');
    assert.ok(first.stored.equals(Buffer.alloc(8000, 'a')));
    assert.ok(first.buffers.includes(second.buffers[0]), 'the second run\'s first batch went into a buffer the first run had used');
  });
});

describe('BatchBufferPool', () => {
  it('keeps whole buffers of its size up to its capacity, and lets them go once idle', async () => {
    const pool = new BatchBufferPool(64, 2, 50);
    const a = pool.take();
    const b = pool.take();
    const c = pool.take();
    assert.equal(a.length, 64);
    pool.give(Buffer.alloc(32));
    pool.give(a.subarray(0, 32));
    assert.equal(pool.kept, 0, 'a buffer of another size, or a part of one, is not kept');
    pool.give(a);
    pool.give(b);
    pool.give(c);
    assert.equal(pool.kept, 2, 'at most its capacity');
    assert.equal(pool.take(), b, 'the last one given comes back first');
    pool.give(b);
    await delay(120);
    assert.equal(pool.kept, 0, 'let go once nothing was given back for the idle time');
    assert.notEqual(pool.take(), b);
  });

  it('hands a buffer someone may still read out only once it is ready, and lets the oldest waiting one make room', () => {
    const pool = new BatchBufferPool(64, 2);
    const held = pool.take();
    let released = false;
    pool.give(held, () => released);
    assert.equal(pool.kept, 0);
    assert.equal(pool.waitingCount, 1);
    assert.notEqual(pool.take(), held, 'not while it is read elsewhere');
    released = true;
    assert.equal(pool.take(), held, 'once nobody reads it');
    const never = pool.take();
    pool.give(never, () => false);
    const a = pool.take();
    const b = pool.take();
    pool.give(a);
    pool.give(b);
    assert.equal(pool.kept, 2, 'a ready buffer took the place of one that never got ready');
    assert.equal(pool.waitingCount, 0);
  });
});
