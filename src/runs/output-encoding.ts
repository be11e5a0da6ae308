/**
 * How a batch of run output is kept in a `RunOutputAppended` event, and read back.
 *
 * Build logs are text that compresses 5–20× (and `yes` output far more); storing
 * them raw as base64 inside JSON made every byte cost 1.37 bytes of log, an
 * fsync'd write, and a decode when the read side read it back. A batch is
 * therefore compressed (raw deflate, level 1: the fastest level, which still
 * shrinks text most of the way) unless that does not make it smaller, and the
 * event records the raw length and newline count so that nobody needs to
 * decompress to know them.
 *
 * Forms, all readable forever:
 * - `{offset, data, pieces}`: the first form, `data` the raw bytes in base64, with
 *   stdout/stderr pieces.
 * - `{offset, length, lines, encoding: 'deflate-raw' | 'none', data}`: since one pipe
 *   carries stdout and stderr; `data` is base64 of the bytes as `encoding` says.
 */
import { promisify } from 'node:util';
import { deflateRaw, inflateRawSync, constants as zlibConstants } from 'node:zlib';

const deflate = promisify(deflateRaw);

/** How the bytes of a batch are encoded in the event. */
export type OutputEncoding = 'deflate-raw' | 'none';

/** What an output event's data holds about its bytes, in any form. */
export interface StoredOutputData {
  offset: number;
  data: string;
  /** Raw byte count (absent in the first form: then it is the decoded length of `data`). */
  length?: number;
  /** Newlines in the raw bytes (absent in the first form). */
  lines?: number;
  /** Absent in the first form: raw base64. */
  encoding?: OutputEncoding;
  /** The first form's stdout/stderr pieces. */
  pieces?: Array<{ stream: 'stdout' | 'stderr'; length: number }>;
}

/** A batch ready to be recorded. */
export interface EncodedOutput {
  length: number;
  lines: number;
  encoding: OutputEncoding;
  data: string;
}

/**
 * Encodes one batch: compressed when that makes it smaller (random bytes do not
 * shrink, and are then kept as they are). Compression runs on libuv's thread pool,
 * so the pipe keeps being read meanwhile.
 */
export async function encodeOutput(bytes: Buffer): Promise<EncodedOutput> {
  const lines = countNewlines(bytes);
  const compressed = await deflate(bytes, { level: zlibConstants.Z_BEST_SPEED });
  if (compressed.length < bytes.length) return { length: bytes.length, lines, encoding: 'deflate-raw', data: compressed.toString('base64') };
  return { length: bytes.length, lines, encoding: 'none', data: bytes.toString('base64') };
}

/**
 * Largest base64 payload of one append (all its events): with the envelopes it
 * stays well inside EventStoreDB's 1 MiB append limit, which counts per append.
 */
export const MAX_APPEND_PAYLOAD_CHARS = 700 * 1024;
/** Raw bytes per event: 256 KiB is 342 KiB as base64 when it does not compress at all. */
const PART_BYTES = 256 * 1024;

/** A part of a batch, encoded, with its position in the batch. */
export type EncodedPart = EncodedOutput & { start: number };

/**
 * Encodes a batch of any size as events of at most 256 KiB of raw bytes each,
 * compressed side by side on libuv's thread pool, and groups consecutive ones
 * into appends that fit the store's limit: a chatty build's megabyte of text is a
 * few kilobytes in one append (one transaction, one fsync); incompressible bytes
 * take two events an append.
 */
export async function encodeOutputAppends(bytes: Buffer): Promise<EncodedPart[][]> {
  const starts: number[] = [];
  for (let start = 0; start < bytes.length; start += PART_BYTES) starts.push(start);
  const parts = await Promise.all(starts.map(async (start) => ({ start, ...(await encodeOutput(bytes.subarray(start, start + PART_BYTES))) })));
  const appends: EncodedPart[][] = [];
  let current: EncodedPart[] = [];
  let size = 0;
  for (const part of parts) {
    if (current.length > 0 && size + part.data.length > MAX_APPEND_PAYLOAD_CHARS) {
      appends.push(current);
      current = [];
      size = 0;
    }
    current.push(part);
    size += part.data.length;
  }
  if (current.length > 0) appends.push(current);
  return appends;
}

/**
 * The raw bytes of a stored batch, whatever its form.
 *
 * @throws Error when a compressed batch does not inflate to its recorded length (a damaged event).
 */
export function decodeOutput(stored: StoredOutputData): Buffer {
  const encoded = Buffer.from(stored.data, 'base64');
  if (stored.encoding !== 'deflate-raw') return encoded;
  const bytes = inflateRawSync(encoded);
  if (stored.length !== undefined && bytes.length !== stored.length) {
    throw new Error(`an output batch at offset ${stored.offset} inflates to ${bytes.length} bytes, not the ${stored.length} recorded`);
  }
  return bytes;
}

/** The raw byte count of a stored batch, without decoding it. */
export function storedOutputLength(stored: StoredOutputData): number {
  return stored.length ?? Buffer.byteLength(stored.data, 'base64');
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(10); at >= 0; at = bytes.indexOf(10, at + 1)) count++;
  return count;
}
