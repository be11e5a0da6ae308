/**
 * Sending one artifact over HTTP: the headers (ETag, Content-Length, a safe
 * Content-Disposition) and single byte ranges (RFC 9110 §14). Pure helpers and one
 * sender, shared by the run route and the `latest` permalink.
 */
import type { Request, Response } from 'express';
import { sendAll } from '../http/send-all';
import type { ArtifactEntry } from './artifact.events';

/** A byte range `start`…`end` (exclusive), or why none can be served. */
export type RangeAnswer = { kind: 'whole' } | { kind: 'part'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * Reads a `Range` header against a file of `size` bytes. One range of `bytes=a-b`,
 * `bytes=a-` or `bytes=-n`; anything else (several ranges, other units, a malformed
 * header) is ignored and the whole file is sent, as RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'whole' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'whole' };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    return { kind: 'part', start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || last < start) return { kind: 'unsatisfiable' };
  return { kind: 'part', start, end: last + 1 };
}

/**
 * `attachment` with the file's base name: an ASCII `filename` where every character
 * that is not printable ASCII, or is `"`, `\`, `;`, `%` or `/`, becomes `_`, and the
 * exact name as UTF-8 in `filename*` (RFC 6266, RFC 8187). No name can break out of
 * the header or be taken as a path.
 */
export function contentDisposition(path: string): string {
  const base = path.split('/').pop() || 'artifact';
  const ascii = base.replace(/[^\x20-\x7e]|["\\;%/]/g, '_');
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * Answers with an artifact's bytes: `200` whole or `206` for a satisfiable range,
 * `416` with `Content-Range: bytes *\/size` otherwise, `304` when `If-None-Match`
 * names its ETag (the sha256, which never changes for a path of a run).
 */
export async function sendArtifact(
  request: Request,
  response: Response,
  artifact: ArtifactEntry,
  read: (start: number, end: number) => AsyncIterable<Buffer>,
): Promise<void> {
  const etag = `"${artifact.sha256}"`;
  response.setHeader('ETag', etag);
  response.setHeader('Accept-Ranges', 'bytes');
  response.setHeader('Content-Type', 'application/octet-stream');
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Content-Disposition', contentDisposition(artifact.path));
  response.setHeader('X-Artifact-Sha256', artifact.sha256);
  const ifNoneMatch = request.headers['if-none-match'];
  if (typeof ifNoneMatch === 'string' && ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
    response.status(304).end();
    return;
  }
  // A range applies only to the same bytes: an If-Range naming another ETag gets the whole file.
  const ifRange = request.headers['if-range'];
  const range = typeof ifRange === 'string' && ifRange.trim() !== etag ? { kind: 'whole' as const } : parseRange(request.headers.range, artifact.size);
  if (range.kind === 'unsatisfiable') {
    response.status(416);
    response.setHeader('Content-Range', `bytes */${artifact.size}`);
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.end(JSON.stringify({ statusCode: 416, message: `The range ${String(request.headers.range)} is outside ${artifact.path} (${artifact.size} bytes)` }));
    return;
  }
  const [start, end] = range.kind === 'part' ? [range.start, range.end] : [0, artifact.size];
  response.status(range.kind === 'part' ? 206 : 200);
  if (range.kind === 'part') response.setHeader('Content-Range', `bytes ${start}-${end - 1}/${artifact.size}`);
  response.setHeader('Content-Length', String(end - start));
  if (request.method === 'HEAD' || end === start) {
    response.end();
    return;
  }
  await sendAll(response, read(start, end));
}
