import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request } from 'express';
import type multer from 'multer';

/** What the spool adds to a multer file: where its bytes wait, and their hash. */
export interface SpooledPart extends Express.Multer.File {
  /** Hex SHA-256 of the bytes, computed while they were written. */
  sha256: string;
}

/**
 * A multer storage engine that writes each uploaded file to its own file in the
 * spool folder (`<data>/spool/`), hashing it on the way, so an upload of any
 * size costs a few buffers of memory and nothing is stored in the log until the
 * whole request was accepted. The request's owner removes the spool files when
 * the request is over ({@link removeSpooled}); multer removes those of a request
 * it refuses while reading.
 */
export class UploadSpool implements multer.StorageEngine {
  /**
   * @param folder created if missing; files another process left in it (a
   *   server that stopped mid-upload) are removed. Files are named after the
   *   process that spools them, so those of this process's requests stay.
   */
  constructor(readonly folder: string) {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(folder)) {
      if (!name.startsWith(`${process.pid}-`)) rmSync(join(folder, name), { recursive: true, force: true });
    }
  }

  _handleFile(_request: Request, file: Express.Multer.File, callback: (error?: unknown, info?: Partial<SpooledPart>) => void): void {
    const path = join(this.folder, `${process.pid}-${randomBytes(12).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, next) {
        hash.update(chunk);
        size += chunk.length;
        next(null, chunk);
      },
    });
    pipeline(file.stream, measure, createWriteStream(path, { mode: 0o600 })).then(
      () => callback(null, { path, size, sha256: hash.digest('hex') }),
      (error: unknown) => {
        // A part cut short (the client went away, the disk is full): its partial file goes.
        unlink(path).catch(() => undefined);
        callback(error);
      },
    );
  }

  _removeFile(_request: Request, file: Express.Multer.File, callback: (error: Error | null) => void): void {
    removeSpooled([file]).then(() => callback(null));
  }
}

/** Removes the spool files of a request (files already gone are fine). */
export async function removeSpooled(files: ReadonlyArray<Pick<Express.Multer.File, 'path'>>): Promise<void> {
  await Promise.all(files.map((file) => (file.path ? unlink(file.path).catch(() => undefined) : undefined)));
}
