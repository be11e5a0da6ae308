import type { MulterOptions } from '@nestjs/platform-express/multer/interfaces/multer-options.interface';
import { loadConfig } from '../config/app-config';

/**
 * Multer settings for input files: kept in memory (they go into the log
 * straight away), names read as UTF-8, sizes capped by
 * ENDERCOMPUTE_MAX_FILE_BYTES (a larger file is a 413).
 */
export function uploadOptions(): MulterOptions {
  const { maxFileBytes } = loadConfig();
  return { limits: { fileSize: maxFileBytes, files: 50, fields: 200, fieldSize: 1024 * 1024 }, defParamCharset: 'utf8' } as MulterOptions;
}
