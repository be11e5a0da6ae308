import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A run's output on the job server's own disk, written as the process produces it and
 * uploaded from there: what the server has not acknowledged is always still here, so
 * a lost connection or a server restart loses nothing. Append-only; read at any offset.
 */
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

  /** Up to `max` bytes from `offset` (fewer at the end). */
  read(offset: number, max: number): Buffer {
    const length = Math.max(0, Math.min(max, this.written - offset));
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const read = readSync(this.fd, buffer, done, length - done, offset + done);
      if (read === 0) break;
      done += read;
    }
    return buffer.subarray(0, done);
  }

  /** Closes and deletes the spool (once the server acknowledged the run's end). */
  remove(): void {
    closeSync(this.fd);
    rmSync(this.path, { force: true });
  }
}
