/**
 * Issue 11: how output batches become events. Parts are as large as the run's
 * compression lets them be (fewer events, fewer appends), never larger than the
 * store takes, and every part decodes back to exactly its bytes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  decodeOutput,
  decodeOutputAsync,
  type EncodedPart,
  FULL_DEFLATE_EVERY,
  MAX_APPEND_PAYLOAD_CHARS,
  MAX_EVENT_CHARS,
  MAX_PART_BYTES,
  MIN_PART_BYTES,
  OutputEncoder,
} from '../../src/runs/output-encoding';

const text = (bytes: number): Buffer => {
  const line = (i: number): string => `${String(i).padStart(9, '0')} INFO tests::module_${i % 977} passed in ${i % 1000} ms\n`;
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    lines.push(line(i));
    size += lines[lines.length - 1].length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
};

/** What `yes` prints: compresses a hundredfold. */
const repeated = (bytes: number): Buffer => Buffer.alloc(bytes, 'EnderCompute 0123456789 abcdefghijklmnopqrstuvwxyz\n');

/** Checks the appends of one batch: within the limits, contiguous, and decoding to `bytes`. */
async function expectExact(appends: EncodedPart[][], bytes: Buffer): Promise<EncodedPart[]> {
  const parts = appends.flat();
  let at = 0;
  for (const append of appends) {
    const chars = append.reduce((sum, part) => sum + part.data.length, 0);
    assert.ok(append.length === 1 || chars <= MAX_APPEND_PAYLOAD_CHARS, `an append of ${chars} chars`);
  }
  for (const part of parts) {
    assert.equal(part.start, at, 'parts are contiguous');
    assert.ok(part.data.length <= MAX_EVENT_CHARS, `a part of ${part.data.length} chars`);
    assert.ok(part.length <= MAX_PART_BYTES, `a part of ${part.length} bytes`);
    const slice = bytes.subarray(part.start, part.start + part.length);
    const stored = { offset: part.start, ...part };
    assert.deepEqual(decodeOutput(stored), slice);
    assert.deepEqual(await decodeOutputAsync(stored), slice);
    assert.equal(part.lines, slice.filter((byte) => byte === 10).length, 'newlines counted');
    at += part.length;
  }
  assert.equal(at, bytes.length, 'the parts cover the batch');
  return parts;
}

describe('OutputEncoder', () => {
  it('starts with small parts, then puts megabytes of text that compresses well in one event', async () => {
    const encoder = new OutputEncoder();
    const first = repeated(4 * 1024 * 1024);
    const firstParts = await expectExact(await encoder.encode(first), first);
    assert.equal(firstParts.length, first.length / MIN_PART_BYTES, 'no ratio known yet: small parts');
    const second = repeated(4 * 1024 * 1024);
    const appends = await encoder.encode(second);
    const parts = await expectExact(appends, second);
    assert.equal(parts.length, 1, 'one event for 4 MiB of text');
    assert.equal(parts[0].encoding, 'deflate-raw');
    assert.equal(appends.length, 1);
  });

  it('cuts log lines (which shrink about fivefold) into parts between the smallest and the largest', async () => {
    const encoder = new OutputEncoder();
    await encoder.encode(text(2 * 1024 * 1024));
    const batch = text(4 * 1024 * 1024);
    const parts = await expectExact(await encoder.encode(batch), batch);
    assert.ok(parts.length > 1 && parts.length < batch.length / MIN_PART_BYTES, `${parts.length} parts`);
  });

  it('keeps bytes that do not compress in small parts, two to an append, and shrinks parts again after text', async () => {
    const encoder = new OutputEncoder();
    await encoder.encode(text(2 * 1024 * 1024));
    assert.ok(encoder.partBytes > MIN_PART_BYTES, 'text: large parts');
    // The ratio says large parts, but random bytes do not shrink: the oversized part is cut again.
    const random = randomBytes(3 * 1024 * 1024 + 17);
    const appends = await encoder.encode(random);
    const parts = await expectExact(appends, random);
    assert.ok(parts.every((part) => part.encoding === 'none' && part.length <= MIN_PART_BYTES));
    assert.ok(appends.every((append) => append.filter((part) => part.length === MIN_PART_BYTES).length <= 2), 'two full parts an append');
    assert.equal(encoder.partBytes, MIN_PART_BYTES, 'random bytes: small parts from now on');
  });

  it('codes text that barely repeats by frequency alone, and deflates fully again every few batches to see whether it repeats now', async () => {
    const encoder = new OutputEncoder();
    const base64Text = (bytes: number): Buffer => Buffer.from(randomBytes((bytes * 3) / 4).toString('base64'));
    assert.equal(encoder.strategy, 'default');
    const first = base64Text(1024 * 1024);
    const firstParts = await expectExact(await encoder.encode(first), first);
    assert.equal(encoder.strategy, 'huffman-only', 'repeated strings did not pay');
    const second = base64Text(1024 * 1024);
    const parts = await expectExact(await encoder.encode(second), second);
    const size = (encoded: EncodedPart[]): number => encoded.reduce((sum, part) => sum + part.data.length, 0);
    assert.ok(parts.every((part) => part.encoding === 'deflate-raw'));
    assert.ok(size(parts) <= size(firstParts) * 1.01, `as small as when deflated fully: ${size(parts)} against ${size(firstParts)}`);
    // The run starts printing text that repeats: within FULL_DEFLATE_EVERY batches it is deflated fully again.
    let batches = 0;
    while (encoder.strategy === 'huffman-only') {
      const text = repeated(256 * 1024);
      await expectExact(await encoder.encode(text), text);
      batches++;
      assert.ok(batches < FULL_DEFLATE_EVERY, `still frequency coding alone after ${batches} batches`);
    }
    const text = repeated(4 * 1024 * 1024);
    const fully = await expectExact(await encoder.encode(text), text);
    assert.ok(size(fully) < text.length / 50, `text that repeats shrinks fiftyfold again: ${size(fully)} chars`);
    assert.equal(encoder.strategy, 'default');
  });

  it('encodes an empty and a one-byte batch', async () => {
    const encoder = new OutputEncoder();
    assert.deepEqual(await encoder.encode(Buffer.alloc(0)), []);
    await expectExact(await encoder.encode(Buffer.from('\n')), Buffer.from('\n'));
  });

  it('refuses a compressed part that does not inflate to its recorded length', async () => {
    const [[part]] = await new OutputEncoder().encode(text(1000));
    const stored = { offset: 0, ...part, length: part.length + 1 };
    assert.throws(() => decodeOutput(stored), /inflates to 1000 bytes, not the 1001 recorded/);
    await assert.rejects(decodeOutputAsync(stored), /inflates to 1000 bytes, not the 1001 recorded/);
  });
});
