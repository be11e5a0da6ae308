/**
 * The API stream's `output` event, built straight into one buffer with the base64
 * written in pieces: byte for byte what `sseMessage` makes of the same event, for
 * sizes around the pieces' edges, from a slice of a larger buffer; and base64 written
 * anywhere in a buffer, refused where it would not fit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { outputEvent } from '../../src/live/api-output-stream';
import { sseMessage } from '../../src/live/sse-connection';
import { base64Length, writeBase64 } from '../../src/shared/base64';

const PIECE = 48 * 1024;
const SIZES = [0, 1, 2, 3, 4, PIECE - 1, PIECE, PIECE + 1, PIECE + 2, 2 * PIECE + 1, 256 * 1024, 1024 * 1024 + 5];

describe('the output event and its base64', () => {
  it('writes base64 equal to Node’s, at any offset, from a slice', () => {
    const source = randomBytes(1024 * 1024 + 20);
    for (const size of SIZES) {
      const bytes = source.subarray(7, 7 + size);
      const target = Buffer.alloc(base64Length(size) + 9, '#');
      const end = writeBase64(bytes, target, 5);
      assert.equal(end, 5 + base64Length(size), `size ${size}`);
      assert.equal(target.toString('latin1', 5, end), bytes.toString('base64'), `size ${size}`);
      assert.equal(target.toString('latin1', 0, 5) + target.toString('latin1', end), '#########', `size ${size}: nothing written outside`);
    }
  });

  it('is the event sseMessage makes of the same bytes', () => {
    const source = randomBytes(300 * 1024);
    for (const size of SIZES.filter((n) => n <= source.length)) {
      const bytes = source.subarray(0, size);
      const expected = sseMessage({ id: 1000 + size, event: 'output', data: JSON.stringify({ offset: 1000, data: bytes.toString('base64') }) });
      assert.equal(outputEvent(1000, bytes).toString('latin1'), expected, `size ${size}`);
    }
  });

  it('refuses a target without room for the whole base64', () => {
    assert.throws(() => writeBase64(Buffer.alloc(6), Buffer.alloc(10), 3), /the base64 of 6 bytes needs 8 bytes of room, not 7/);
  });
});
