/**
 * Base64 (RFC 4648, standard alphabet, padded: what `Buffer#toString('base64')` gives)
 * written into a buffer, for the API's output stream, which encodes every byte a run
 * writes. Node's encoder is fast, but the string it returns is not: a string of
 * 128 KiB to 1 MiB is placed in V8's large-object space, on fresh pages, and building
 * one cost more than encoding it (a 256 KiB frame's event: 116–145 MB/s, in 48 KiB
 * pieces 1.6 GB/s). Strings of 1 MiB and more are kept outside V8's heap, so they are fast
 * again (about 1 GB/s), but frames are smaller.
 */

/**
 * Bytes encoded at a time: a multiple of 3, so that the pieces' base64 joins into the
 * whole's exactly, and small enough that each piece's string (64 KiB) is an ordinary one.
 */
const PIECE_BYTES = 48 * 1024;

/** How many characters the base64 of `length` bytes has. */
export function base64Length(length: number): number {
  return Math.ceil(length / 3) * 4;
}

/**
 * Writes the base64 of `bytes` into `target` from `offset` and answers the offset after it.
 * @throws RangeError when `target` has fewer than {@link base64Length} bytes of room there.
 */
export function writeBase64(bytes: Buffer, target: Buffer, offset: number): number {
  const room = target.length - offset;
  if (room < base64Length(bytes.length)) throw new RangeError(`the base64 of ${bytes.length} bytes needs ${base64Length(bytes.length)} bytes of room, not ${room}`);
  let at = offset;
  for (let from = 0; from < bytes.length; from += PIECE_BYTES) {
    at += target.write(bytes.subarray(from, from + PIECE_BYTES).toString('base64'), at, 'latin1');
  }
  return at;
}
