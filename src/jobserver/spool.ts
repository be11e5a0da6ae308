import { closeSync, createReadStream, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { dirname } from 'node:path';

/**
 * A run's output on the job server's own disk, written as the process produces it and
 * uploaded from there: what the server has not acknowledged is always still here, so
 * a lost connection or a server restart loses nothing. Append-only; read at any offset.
 */
/** Bytes `[from, to)` of the spool file at `path` (also one an earlier process left), read as they are sent. */
export function spoolRange(path: string, from: number, to: number): Readable {
  if (to <= from) return Readable.from([]);
  return createReadStream(path, { start: from, end: to - 1, highWaterMark: 1024 * 1024 });
}

export class Spool {
  private readonly fd: number;
  private written = 0;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.fd = openSync(path, 'w+', 0o600);
  }

  /** Bytes written so far: the run's output length. */
  get size(): number {
    return this.written;
  }

  /** Appends bytes at the end (synchronously: small, local, and in order). */
  append(bytes: Buffer): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, this.written + done);
    this.written += bytes.length;
  }

  /** Bytes `[from, to)` as a stream, read from the file as it is sent. */
  stream(from: number, to: number): Readable {
    return spoolRange(this.path, from, to);
  }

  /** Closes and deletes the spool (once the server acknowledged the run's end). */
  remove(): void {
    closeSync(this.fd);
    rmSync(this.path, { force: true });
  }
}
