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
import { deflateRaw, inflateRaw, inflateRawSync, constants as zlibConstants } from 'node:zlib';

const deflate = promisify(deflateRaw);
/** zlib's output buffer when compressing: the encoded size a part is cut for, as bytes. */
const DEFLATE_CHUNK_BYTES = 256 * 1024;
const inflate = promisify(inflateRaw);

/** How the bytes of a batch are encoded in the event. */
export type OutputEncoding = 'deflate-raw' | 'none';

/**
 * How deflate looks for savings: `default` finds repeated strings and then codes
 * symbols by frequency; `huffman-only` does the second alone. Both are raw deflate,
 * read the same way.
 */
export type DeflateStrategy = 'default' | 'huffman-only';
/**
 * Deflated size per raw byte from which repeated strings are not worth looking for:
 * text that barely repeats (random base64 deflates to 0.75 either way) cost level 1
 * four times the time of frequency coding alone (96 ms against 25 ms a 4 MiB batch
 * here), for the same size.
 */
const HUFFMAN_ONLY_FROM_RATIO = 0.7;
/** While frequency coding alone is used, every this many batches are deflated fully again, in case the output changed character. */
export const FULL_DEFLATE_EVERY = 8;

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
export async function encodeOutput(bytes: Buffer, strategy: DeflateStrategy = 'default'): Promise<EncodedOutput> {
  const lines = countNewlines(bytes);
  // One output buffer that holds what a part is cut to shrink to: zlib's default (16 KiB) costs a
  // round trip between the thread pool and the event loop for every 16 KiB it produces.
  const compressed = await deflate(bytes, {
    level: zlibConstants.Z_BEST_SPEED,
    chunkSize: DEFLATE_CHUNK_BYTES,
    strategy: strategy === 'huffman-only' ? zlibConstants.Z_HUFFMAN_ONLY : zlibConstants.Z_DEFAULT_STRATEGY,
  });
  if (compressed.length < bytes.length) return { length: bytes.length, lines, encoding: 'deflate-raw', data: compressed.toString('base64') };
  return { length: bytes.length, lines, encoding: 'none', data: bytes.toString('base64') };
}

/**
 * Largest base64 payload of one append (all its events): with the envelopes it
 * stays well inside EventStoreDB's 1 MiB append limit, which counts per append.
 */
export const MAX_APPEND_PAYLOAD_CHARS = 700 * 1024;
/**
 * Largest base64 payload of one append to the embedded log, which has no append limit:
 * every append there is a fsync'd commit that holds up the event loop, so the batches of
 * one delivery go in one. (Its events stay within {@link MAX_EVENT_CHARS}, so
 * `log:transfer` can move each to EventStoreDB.)
 */
export const EMBEDDED_APPEND_PAYLOAD_CHARS = 16 * 1024 * 1024;
/** Largest base64 payload of one event; a part that encodes larger is split into {@link MIN_PART_BYTES} parts. */
export const MAX_EVENT_CHARS = 512 * 1024;
/** Raw bytes per event at least: 256 KiB is 342 KiB as base64 when it does not compress at all. */
export const MIN_PART_BYTES = 256 * 1024;
/** Raw bytes per event at most, so that reading from any offset inflates at most this much. */
export const MAX_PART_BYTES = 4 * 1024 * 1024;
/** The encoded size a part is cut for, by the compression seen so far. */
const TARGET_EVENT_CHARS = 256 * 1024;

/** A part of a batch, encoded, with its position in the batch. */
export type EncodedPart = EncodedOutput & { start: number };

/**
 * Encodes one run's batches as events, each as large as the compression lets
 * it be: what counts against the store's limit is the encoded size, and every
 * event (and every append) has a fixed cost — a row, a fsync'd commit, a read
 * by the projections, a compressor set up on the thread pool. So a part holds
 * as many raw bytes as the run's last batch says fit {@link TARGET_EVENT_CHARS}
 * encoded (from {@link MIN_PART_BYTES} for bytes that do not shrink, to
 * {@link MAX_PART_BYTES} for text that shrinks a hundredfold); a part that
 * turns out too large after all is encoded again in small parts. One encoder
 * per run: the ratio is the run's own.
 */
export class OutputEncoder {
  /** Encoded characters per raw byte in the last batch; 1 (small parts) until a batch was seen. */
  private ratio = 1;
  /** How the next batch is deflated: frequency coding alone once repeated strings stopped paying (see {@link HUFFMAN_ONLY_FROM_RATIO}). */
  private huffmanOnly = false;
  private batches = 0;

  /** How the next batch will be deflated. */
  get strategy(): DeflateStrategy {
    return this.huffmanOnly && this.batches % FULL_DEFLATE_EVERY !== 0 ? 'huffman-only' : 'default';
  }

  /** Raw bytes the next batch's parts hold each. */
  get partBytes(): number {
    const fitting = Math.floor(TARGET_EVENT_CHARS / Math.max(this.ratio, 1e-6));
    return Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, fitting - (fitting % MIN_PART_BYTES)));
  }

  /**
   * Encodes a batch of any size as parts compressed side by side on libuv's
   * thread pool, grouped into appends that fit the store's limit: a chatty
   * build's megabytes of text are a few kilobytes in one append (one
   * transaction, one fsync); incompressible bytes take two events an append.
   */
  async encode(bytes: Buffer): Promise<EncodedPart[][]> {
    // Decided when the batch arrives: batches are encoded side by side, and each learns from the ones sealed before it.
    const strategy = this.strategy;
    this.batches++;
    const parts = await encodeParts(bytes, 0, bytes.length, this.partBytes, strategy);
    const encoded: EncodedPart[] = [];
    for (const part of parts) {
      if (part.data.length <= MAX_EVENT_CHARS) encoded.push(part);
      else encoded.push(...(await encodeParts(bytes, part.start, part.start + part.length, MIN_PART_BYTES, strategy)));
    }
    if (bytes.length > 0) {
      this.ratio = encoded.reduce((sum, part) => sum + part.data.length, 0) / bytes.length;
      // Base64 holds 3 bytes in 4 characters.
      if (strategy === 'default') this.huffmanOnly = (this.ratio * 3) / 4 >= HUFFMAN_ONLY_FROM_RATIO;
    }
    return groupIntoAppends(encoded);
  }
}

/** Encodes `bytes[from, to)` as parts of `partBytes`, compressed in parallel. */
async function encodeParts(bytes: Buffer, from: number, to: number, partBytes: number, strategy: DeflateStrategy): Promise<EncodedPart[]> {
  const starts: number[] = [];
  for (let start = from; start < to; start += partBytes) starts.push(start);
  return Promise.all(starts.map(async (start) => ({ start, ...(await encodeOutput(bytes.subarray(start, Math.min(to, start + partBytes)), strategy)) })));
}

/**
 * Groups consecutive parts into appends of at most `maxChars` of base64 (a larger part
 * goes alone); by default {@link MAX_APPEND_PAYLOAD_CHARS}, what EventStoreDB takes.
 */
export function groupIntoAppends<Part extends { data: string }>(parts: readonly Part[], maxChars = MAX_APPEND_PAYLOAD_CHARS): Part[][] {
  const appends: Part[][] = [];
  let current: Part[] = [];
  let size = 0;
  for (const part of parts) {
    if (current.length > 0 && size + part.data.length > maxChars) {
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

/** Encodes a batch with a fresh {@link OutputEncoder} (small parts): for one-off batches and tests. */
export function encodeOutputAppends(bytes: Buffer): Promise<EncodedPart[][]> {
  return new OutputEncoder().encode(bytes);
}

/**
 * The raw bytes of a stored batch, whatever its form.
 *
 * @throws Error when a compressed batch does not inflate to its recorded length (a damaged event).
 */
export function decodeOutput(stored: StoredOutputData): Buffer {
  const encoded = Buffer.from(stored.data, 'base64');
  if (stored.encoding !== 'deflate-raw') return encoded;
  const bytes = inflateRawSync(encoded, inflateOptions(stored));
  checkInflated(stored, bytes);
  return bytes;
}

/**
 * Inflates into one buffer of the recorded raw length (one round trip with the thread
 * pool rather than one per 16 KiB); a damaged event claiming more than a part can hold
 * gets no larger buffer than that.
 */
function inflateOptions(stored: StoredOutputData): { chunkSize?: number } {
  const length = stored.length;
  return length !== undefined && length >= 64 ? { chunkSize: Math.min(length, MAX_PART_BYTES) } : {};
}

function checkInflated(stored: StoredOutputData, bytes: Buffer): void {
  if (stored.length !== undefined && bytes.length !== stored.length) {
    throw new Error(`an output batch at offset ${stored.offset} inflates to ${bytes.length} bytes, not the ${stored.length} recorded`);
  }
}

/**
 * {@link decodeOutput} with the inflating done on libuv's thread pool, so the
 * event loop goes on meanwhile (a batch may hold up to 4 MiB).
 *
 * @throws Error (rejects) as {@link decodeOutput} does.
 */
export async function decodeOutputAsync(stored: StoredOutputData): Promise<Buffer> {
  const encoded = Buffer.from(stored.data, 'base64');
  if (stored.encoding !== 'deflate-raw') return encoded;
  const bytes = await inflate(encoded, inflateOptions(stored));
  checkInflated(stored, bytes);
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
