import { join } from 'node:path';
import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import multer from 'multer';
import { finalize, type Observable } from 'rxjs';
import { AppConfig } from '../config/app-config';
import type { UploadedInput } from '../jobs/job.commands';
import { TooLargeError, ValidationError } from '../shared/domain-errors';
import { isDiskFull, storageFull } from '../shared/storage-full';
import { removeSpooled, type SpooledPart, UploadSpool } from './upload-spool';
import { MultipartPartCounter, multipartProblems } from './multipart-parts';
import { routeShape } from './request-shape';

/** How many files one request may carry. */
export const MAX_FILES_PER_REQUEST = 50;

/**
 * Reads the `file` parts of a multipart request into spool files on disk
 * (`<data>/spool/`, see {@link UploadSpool}): nothing reaches the log until the
 * handler has accepted the whole request, memory stays small whatever the
 * size, and the spool files are removed when the request is over, whatever
 * its answer. Sizes are capped by ENDERCOMPUTE_MAX_FILE_BYTES (a 413), names
 * are read as UTF-8 and kept as sent (`preservePath`), so a path-like name is
 * refused with a 400 rather than silently cut to its last part. A request that
 * is not multipart passes through untouched.
 */
@Injectable()
export class InputFilesInterceptor implements NestInterceptor {
  private readonly parse: ReturnType<multer.Multer['array']>;

  constructor(private readonly config: AppConfig) {
    this.parse = multer({
      storage: new UploadSpool(join(config.dataDir, 'spool')),
      limits: { fileSize: config.maxFileBytes, files: MAX_FILES_PER_REQUEST, fields: 200, fieldSize: 1024 * 1024 },
      preservePath: true,
      defParamCharset: 'utf8',
    }).array('file', MAX_FILES_PER_REQUEST);
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const parts = MultipartPartCounter.attach(request);
    await new Promise<void>((resolve, reject) => {
      this.parse(request, http.getResponse<Response>(), (error: unknown) => (error ? reject(this.describe(error)) : resolve()));
    });
    const spooled = (request.files ?? []) as Express.Multer.File[];
    if (parts) {
      // Nothing of the form may be lost or ignored: dropped parts, undecodable names, fields on a files-only route.
      const problems = multipartProblems(request, parts, routeShape(context).body);
      if (problems.length > 0) {
        // Refused: the spooled files go now, as they would after the handler.
        await removeSpooled(spooled);
        throw new ValidationError(problems);
      }
    }
    return next.handle().pipe(finalize(() => void removeSpooled(spooled)));
  }

  private describe(error: unknown): Error {
    if (error instanceof multer.MulterError) {
      switch (error.code) {
        case 'LIMIT_FILE_SIZE':
          return new TooLargeError(`file: a file is larger than the limit of ${this.config.maxFileBytes} bytes (ENDERCOMPUTE_MAX_FILE_BYTES)`);
        case 'LIMIT_FILE_COUNT':
        case 'LIMIT_UNEXPECTED_FILE':
          return new ValidationError([`file: at most ${MAX_FILES_PER_REQUEST} files, all in fields named "file" (${error.message})`]);
        default:
          return new ValidationError([`body: ${error.message}`]);
      }
    }
    // Writing a spool file failed: the server's fault (a 507 when the disk is full), not a malformed form.
    if (isDiskFull(error)) return storageFull(error);
    if (typeof (error as { syscall?: unknown }).syscall === 'string') return error as Error;
    return new ValidationError([`body: the multipart form could not be read (${error instanceof Error ? error.message : String(error)})`]);
  }
}

/** The uploaded files of a request as command inputs: their names and where their spooled bytes are. */
export function uploadedInputs(files: Express.Multer.File[] | undefined): UploadedInput[] {
  return (files ?? []).map((file) => ({ name: file.originalname, path: file.path, size: file.size, sha256: (file as SpooledPart).sha256 }));
}
