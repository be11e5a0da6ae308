/**
 * Stored frames shared by API viewers behind the live window: the same cuts whoever
 * reads first, each stored batch read once however many viewers ask at the same time,
 * and a bounded memory that never drops what a viewer just asked for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FILL_BYTES, STORED_FRAME_BYTES, STORED_WINDOW_BYTES, StoredFrames, type ReadStored } from '../../src/live/stored-frames';
import type { OutputChunkRef } from '../../src/runs/runs.read-model';

const MIB = 1024 * 1024;

/** A stored output of `batches` (their lengths, in order), whose byte at offset n is n % 251; counts the reads. */
function storedOutput(batches: number[]): { chunks: OutputChunkRef[]; end: number; read: ReadStored; reads: Array<[number, number]> } {
  const chunks: OutputChunkRef[] = [];
  let end = 0;
  for (const [index, length] of batches.entries()) {
    chunks.push({ stream: 'output-r', revision: BigInt(index), offset: end, length });
    end += length;
  }
  const reads: Array<[number, number]> = [];
  const read: ReadStored = async function* (from, to) {
    reads.push([from, to]);
    for (const chunk of chunks) {
      const start = Math.max(from, chunk.offset);
      const stop = Math.min(to, chunk.offset + chunk.length);
      if (start >= stop) continue;
      await Promise.resolve();
      const bytes = Buffer.allocUnsafe(stop - start);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (start + i) % 251;
      yield bytes;
    }
  };
  return { chunks, end, read, reads };
}

function expectBytes(frames: StoredFrames, from: number, to: number): void {
  for (let at = from; at < to; ) {
    const frame = frames.frameAt(at);
    assert.ok(frame, `a frame at ${at}`);
    assert.equal(frame.bytes.length, frame.to - frame.from);
    for (let i = at; i < frame.to; i += 4099) assert.equal(frame.bytes[i - frame.from], i % 251, `byte ${i}`);
    at = frame.to;
  }
}

describe('stored frames', () => {
  it('cuts at every multiple of the frame size and at the end of every batch, whoever asks first', async () => {
    const output = storedOutput([300_000, 100_000, 2 * MIB, 50_000]);
    const early = new StoredFrames();
    await early.fill(0, output.chunks, output.end, output.read);
    const late = new StoredFrames();
    await late.fill(700_000, output.chunks, output.end, output.read);
    const cuts = (frames: StoredFrames, from: number): number[] => {
      const found: number[] = [];
      for (let frame = frames.frameAt(from); frame; frame = frames.frameAt(frame.to)) found.push(frame.from);
      return found;
    };
    // Multiples of 256 KiB (262144, 524288, …) and batch ends (300000, 400000, 2497152).
    assert.deepEqual(cuts(early, 0).slice(0, 6), [0, STORED_FRAME_BYTES, 300_000, 400_000, 2 * STORED_FRAME_BYTES, 3 * STORED_FRAME_BYTES]);
    const lateCuts = cuts(late, 2 * STORED_FRAME_BYTES);
    assert.deepEqual(lateCuts, cuts(early, 2 * STORED_FRAME_BYTES).slice(0, lateCuts.length), 'the same frames for a viewer that came later');
    expectBytes(early, 0, output.end);
  });

  it('reads each stored batch once when several viewers ask at the same time', async () => {
    const output = storedOutput([MIB, MIB, MIB, MIB, MIB, MIB]);
    const frames = new StoredFrames();
    await Promise.all([0, 10, 5000, 300_000].map((offset) => frames.fill(offset, output.chunks, output.end, output.read)));
    assert.deepEqual(output.reads, [[0, FILL_BYTES]], 'one read, ending where a batch ends');
    expectBytes(frames, 0, FILL_BYTES);
    await frames.fill(FILL_BYTES, output.chunks, output.end, output.read);
    assert.deepEqual(output.reads[1], [FILL_BYTES, output.end]);
  });

  it('reads from the cut before the offset up to the end of the batch holding the fill\'s last byte', async () => {
    const output = storedOutput([3 * MIB, 3 * MIB]);
    const frames = new StoredFrames();
    await frames.fill(STORED_FRAME_BYTES + 5, output.chunks, output.end, output.read);
    assert.deepEqual(output.reads, [[STORED_FRAME_BYTES, 6 * MIB]]);
    assert.equal(frames.frameAt(STORED_FRAME_BYTES - 1), undefined);
    expectBytes(frames, STORED_FRAME_BYTES, 6 * MIB);
  });

  it('keeps at most its window, dropping the lowest offsets first but never what was just read', async () => {
    const batches = Array.from({ length: 12 }, () => 4 * MIB);
    const output = storedOutput(batches);
    const frames = new StoredFrames();
    for (let at = 0; at < output.end; at += 4 * MIB) await frames.fill(at, output.chunks, output.end, output.read);
    assert.equal(frames.frameAt(0), undefined, 'the oldest are gone');
    expectBytes(frames, output.end - STORED_WINDOW_BYTES, output.end);
    // A viewer far behind asks again: what it gets survives however full the window is.
    await frames.fill(0, output.chunks, output.end, output.read);
    expectBytes(frames, 0, FILL_BYTES);
  });

  it('lets a viewer waiting for another one\'s read read for itself when that read fails', async () => {
    const output = storedOutput([MIB, MIB]);
    let failures = 1;
    const flaky: ReadStored = (from, to) => {
      if (failures-- > 0) return (async function* () { throw new Error('the store went away'); })();
      return output.read(from, to);
    };
    const frames = new StoredFrames();
    const [first, second] = await Promise.allSettled([frames.fill(0, output.chunks, output.end, flaky), frames.fill(5, output.chunks, output.end, flaky)]);
    assert.equal(first.status, 'rejected', 'the viewer whose read failed learns of it');
    assert.equal(second.status, 'fulfilled');
    expectBytes(frames, 0, output.end);
  });

  it('reads nothing at or past the stored end', async () => {
    const output = storedOutput([1000]);
    const frames = new StoredFrames();
    await frames.fill(1000, output.chunks, output.end, output.read);
    assert.deepEqual(output.reads, []);
    assert.equal(frames.frameAt(1000), undefined);
  });
});
