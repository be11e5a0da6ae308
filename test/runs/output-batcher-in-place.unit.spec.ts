/**
 * Issue 11: a process's output is read straight into the buffers its batches are
 * made of (`OutputBatcher.readTarget` / `pushRead`): no copy, no allocation per read,
 * and no buffer reused while a batch of it is being stored or live viewers may still
 * hold its bytes.
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { BatchBufferPool } from '../../src/runs/runner/batch-buffers';
import { OutputBatcher, type OutputBatcherOptions, SMALL_AREA_BYTES, SPARE_BUFFERS } from '../../src/runs/runner/output-batcher';

const BATCH = 4 * SMALL_AREA_BYTES;

/** Output whose every byte tells its position apart from its neighbours'. */
function pattern(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let at = 0; at < size; at++) bytes[at] = (at * 7 + (at >> 9)) & 0xff;
  return bytes;
}

function inPlaceBatcher(options: Partial<OutputBatcherOptions> = {}) {
  const pool = options.buffers ?? new BatchBufferPool(BATCH, SPARE_BUFFERS);
  const stored: Buffer[] = [];
  const batchBuffers: ArrayBufferLike[] = [];
  const instance = new OutputBatcher({
    flushIntervalMs: 1_000,
    maxBatchBytes: BATCH,
    maxOutputBytes: null,
    deliver: async (batches) => {
      for (const batch of batches) {
        batchBuffers.push(batch.bytes.buffer);
        stored.push(Buffer.from(batch.bytes));
      }
    },
    onPressure: () => undefined,
    onFailure: () => undefined,
    ...options,
    buffers: pool,
  });
  instance.release();
  return { instance, pool, stored, batchBuffers };
}

/** Reads `input` the way the output channel does: into each target, `sizes()` bytes at a time. */
async function readInto(instance: OutputBatcher, input: Buffer, size: () => number, between: () => Promise<void> = async () => undefined): Promise<ArrayBufferLike[]> {
  const targets: ArrayBufferLike[] = [];
  for (let at = 0; at < input.length; ) {
    const target = instance.readTarget();
    targets.push(target.buffer);
    const length = Math.min(target.length, size(), input.length - at);
    input.copy(target, 0, at, at + length);
    instance.pushRead(target.subarray(0, length));
    at += length;
    await between();
  }
  return targets;
}

describe('OutputBatcher reading in place', () => {
  it('makes a fast writer\'s batches views of the buffers read into, from the pool, none spanning two', async () => {
    const { instance, stored, batchBuffers } = inPlaceBatcher();
    const input = pattern(10 * BATCH + 12_345);
    let turn = 0;
    const targets = await readInto(instance, input, () => 1000 + ((turn++ * 7919) % 30_000), () => (turn % 50 === 0 ? delay(1) : Promise.resolve()));
    await instance.finish();
    assert.ok(Buffer.concat(stored).equals(input), 'every byte stored, in order');
    const readInto_ = new Set(targets);
    assert.ok(batchBuffers.every((buffer) => readInto_.has(buffer)), 'every batch is a view of a buffer read into: nothing was copied');
    assert.equal(targets[0]!.byteLength, SMALL_AREA_BYTES, 'reads begin in a small area');
    const later = batchBuffers.slice(1);
    assert.ok(later.length > 0 && later.every((buffer) => buffer.byteLength === BATCH), 'once the writer proved fast, batch-sized buffers from the pool');
    assert.ok(stored.every((batch) => batch.length <= BATCH));
  });

  it('keeps a slow writer in small areas, and takes nothing from the pool', async () => {
    const pool = new BatchBufferPool(BATCH, SPARE_BUFFERS);
    let taken = 0;
    const take = pool.take.bind(pool);
    pool.take = () => {
      taken++;
      return take();
    };
    const { instance, stored } = inPlaceBatcher({ buffers: pool, flushIntervalMs: 5 });
    const input = pattern(3 * SMALL_AREA_BYTES);
    const targets = await readInto(instance, input, () => 8 * 1024, () => delay(2));
    await instance.finish();
    assert.ok(Buffer.concat(stored).equals(input));
    assert.equal(taken, 0, 'no batch-sized buffer held by a writer this slow');
    assert.ok(targets.every((buffer) => buffer.byteLength === SMALL_AREA_BYTES));
  });

  it('reuses a buffer only once its batches were stored and the live window passed it, and live chunks never change', async () => {
    let heldFrom = 0;
    const live: Array<{ chunk: Buffer; copy: Buffer }> = [];
    const { instance, pool, stored } = inPlaceBatcher({
      onLiveChunk: (_stream, chunk) => live.push({ chunk, copy: Buffer.from(chunk) }),
      liveHeldFrom: () => heldFrom,
    });
    const first = pattern(6 * BATCH);
    const firstList = await readInto(instance, first, () => 50_000);
    const firstTargets = new Set(firstList);
    // Reads go on into the rest of the area they were in.
    const current = firstList[firstList.length - 1];
    // Everything so far was delivered and its buffers went back; the window still holds all of it.
    await delay(10);
    assert.equal(pool.kept, 0, 'while the live window may hold their bytes, no buffer is ready in the pool');
    assert.ok(pool.waitingCount > 0, 'they wait in it');
    const second = Buffer.alloc(2 * BATCH, 'x');
    const held = await readInto(instance, second, () => 50_000);
    assert.ok(held.every((buffer) => buffer === current || !firstTargets.has(buffer)), 'new reads went into new buffers');
    assert.ok(live.every(({ chunk, copy }) => chunk.equals(copy)), 'no chunk a live viewer may hold was written over');
    await delay(10);
    heldFrom = Number.POSITIVE_INFINITY;
    const third = Buffer.alloc(2 * BATCH, 'y');
    const reused = await readInto(instance, third, () => 50_000);
    assert.ok(reused.some((buffer) => firstTargets.has(buffer)), 'once the window moved on, the first buffers are read into again');
    await instance.finish();
    assert.ok(Buffer.concat(stored).equals(Buffer.concat([first, second, third])), 'every byte stored, in order');
  });

  it('reads on beyond maxOutputBytes, and drops what is beyond it', async () => {
    const { instance, stored } = inPlaceBatcher({ maxOutputBytes: 1000 });
    const input = pattern(5000);
    await readInto(instance, input, () => 700);
    const totals = await instance.finish();
    assert.equal(totals.droppedBytes, 4000);
    assert.ok(stored[0]!.equals(input.subarray(0, 1000)));
    assert.match(Buffer.concat(stored.slice(1)).toString(), /output truncated, 4000 bytes dropped/);
  });
});
