import { Injectable } from '@nestjs/common';
import { ValidationError } from '../shared/domain-errors';
import { wholeNumberFromText, wholeNumberWanted } from '../shared/whole-number';
import { batchAt, OutputLineIndex } from './output-line-index';
import { RunOutputReader, storedOutputEnd } from './run-output.reader';
import type { RunRecord } from './runs.read-model';

/** Longest search text, in characters. */
export const MAX_SEARCH_CHARS = 200;
/** Matches one answer holds by default, and at most. */
export const DEFAULT_SEARCH_LIMIT = 100;
export const MAX_SEARCH_LIMIT = 1000;

/** One occurrence of the search text. */
export interface OutputMatch {
  /** The line it is on (1-based; lines end at `\n`). */
  line: number;
  /** Byte offset of the occurrence's first byte. */
  offset: number;
  /** Byte offset where its line starts. */
  lineOffset: number;
}

export interface OutputSearchResult {
  matches: OutputMatch[];
  /** Give as `from` to continue after these matches; null when the stored output holds no more. */
  next: number | null;
  /** The stored output searched ends here (a running run's output may grow further). */
  searchedTo: number;
}

/** A search request, checked: see {@link parseSearchQuery}. */
export interface OutputSearchQuery {
  q: string;
  from: number;
  limit: number;
}

/**
 * Checks `q`, `from` and `limit` of an output search.
 *
 * @throws ValidationError naming each bad parameter: `q` missing, empty or
 *   longer than {@link MAX_SEARCH_CHARS}; `from` not a byte offset; `limit` not 1–1000.
 */
export function parseSearchQuery(query: Record<string, unknown>): OutputSearchQuery {
  const problems: string[] = [];
  const { q, from, limit } = query;
  if (typeof q !== 'string' || q === '') problems.push('q: give the text to search for');
  else if ([...q].length > MAX_SEARCH_CHARS) problems.push(`q: at most ${MAX_SEARCH_CHARS} characters`);
  const fromValue = from === undefined ? 0 : wholeNumberFromText(from, { min: 0 });
  if (fromValue === undefined) problems.push('from: must be a byte offset (the next of an earlier answer)');
  const limits = { min: 1, max: MAX_SEARCH_LIMIT };
  const limitValue = limit === undefined ? DEFAULT_SEARCH_LIMIT : wholeNumberFromText(limit, limits);
  if (limitValue === undefined) problems.push(`limit: must be ${wholeNumberWanted(limits)}`);
  if (problems.length > 0) throw new ValidationError(problems);
  return { q: q as string, from: fromValue as number, limit: limitValue as number };
}

/**
 * Searches a run's stored output for a text, the way a person looks for a word
 * in a log: ASCII letters match either case, everything else byte for byte
 * (colour codes are part of the bytes, so a word printed in colour is found,
 * a text spanning a colour change is not). Batches are decompressed one at a
 * time as they are read, and reading stops as soon as `limit` matches (plus
 * one, to know whether there are more) are found.
 */
@Injectable()
export class OutputSearch {
  constructor(
    private readonly reader: RunOutputReader,
    private readonly lines: OutputLineIndex,
  ) {}

  async search(run: RunRecord, query: OutputSearchQuery): Promise<OutputSearchResult> {
    const end = storedOutputEnd(run);
    const raw = Buffer.from(query.q, 'utf8');
    const hasLetters = raw.some((byte) => (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122));
    const needle = foldCase(raw);
    const batches = await this.lines.batches(run);
    const matches: OutputMatch[] = [];
    const first = batchAt(batches, query.from);
    if (first < 0) return { matches, next: null, searchedTo: end };
    // Read from the start of the batch holding `from`: line counts are known at batch starts.
    let batchIndex = first;
    let at = batches[first].offset;
    /** The end of the previous batch (up to a needle's length), for a match across two batches. */
    let carry = Buffer.alloc(0);
    let carryLine = batches[first].linesBefore + 1;
    let carryLineOffset: number | null = null;
    for await (const bytes of this.reader.read(run, at, end)) {
      while (batchIndex + 1 < batches.length && batches[batchIndex + 1].offset <= at) batchIndex++;
      const batch = batches[batchIndex];
      // The line at `at`: 1 + newlines before it (the batch's count, plus any newlines of it read before).
      const lineAtStart = at === batch.offset ? batch.linesBefore + 1 : carryLine;
      const haystack = carry.length > 0 ? Buffer.concat([carry, bytes]) : bytes;
      const base = at - carry.length;
      const folded = hasLetters ? foldCase(haystack) : haystack;
      const carriedNewlines = countNewlinesIn(haystack, 0, carry.length);
      // Where the line at the haystack's start begins is known unless the carry crosses a line end.
      let counted: LineCount = { index: 0, line: carry.length > 0 ? carryLine - carriedNewlines : lineAtStart, lineOffset: carriedNewlines > 0 ? null : carryLineOffset };
      for (let hit = folded.indexOf(needle); hit >= 0; hit = folded.indexOf(needle, hit + needle.length)) {
        const offset = base + hit;
        if (offset < query.from) continue;
        if (matches.length === query.limit) return { matches, next: matches[matches.length - 1].offset + needle.length, searchedTo: end };
        counted = advance(haystack, base, counted, hit);
        const lineOffset = counted.lineOffset ?? (await this.lines.lineStart(run, counted.line)) ?? 0;
        counted.lineOffset = lineOffset;
        matches.push({ line: counted.line, offset, lineOffset });
      }
      // What the next batch continues from: the line at its start and where that line starts.
      counted = advance(haystack, base, counted, haystack.length);
      carryLine = counted.line;
      carryLineOffset = counted.lineOffset;
      const keep = Math.min(haystack.length, needle.length - 1);
      carry = keep > 0 ? Buffer.from(haystack.subarray(haystack.length - keep)) : Buffer.alloc(0);
      at += bytes.length;
    }
    return { matches, next: null, searchedTo: end };
  }
}

/** A line count at `index` of a haystack: the line there, and the offset where it starts when known. */
interface LineCount {
  index: number;
  line: number;
  lineOffset: number | null;
}

/** Moves a line count forward over `haystack[from.index, to)`: the line number at `to`, and where it starts when known. */
function advance(haystack: Buffer, base: number, from: LineCount, to: number): LineCount {
  let line = from.line;
  let lineOffset = from.lineOffset;
  for (let newline = haystack.indexOf(10, from.index); newline >= 0 && newline < to; newline = haystack.indexOf(10, newline + 1)) {
    line++;
    lineOffset = base + newline + 1;
  }
  return { index: to, line, lineOffset };
}

function countNewlinesIn(bytes: Buffer, from: number, to: number): number {
  let count = 0;
  for (let at = bytes.indexOf(10, from); at >= 0 && at < to; at = bytes.indexOf(10, at + 1)) count++;
  return count;
}

/** A copy with ASCII capitals made small (other bytes, UTF-8 included, unchanged): one byte stays one byte. */
function foldCase(bytes: Buffer): Buffer {
  const folded = Buffer.allocUnsafe(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    folded[i] = byte >= 65 && byte <= 90 ? byte + 32 : byte;
  }
  return folded;
}
