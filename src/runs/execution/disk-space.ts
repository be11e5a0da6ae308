/**
 * Free space on the disk that holds the work directories, checked before a run starts:
 * below `ENDERCOMPUTE_MIN_FREE_BYTES` new runs stay queued (saying why) instead of
 * starting and filling the disk halfway through. `fs.statfs` is one system call, and
 * the answer is kept for a few seconds, so a burst of starts costs one check.
 */
import { Injectable } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { AppConfig } from '../../config/app-config';
import { bytes } from '../../web/view-helpers';
import { workRootOf } from './workdir-removal';

/** How long one statfs answer is trusted, in ms. */
export const DISK_CHECK_INTERVAL_MS = 3_000;

/** What the scheduler learns from a check. */
export interface DiskSpace {
  /** Bytes an unprivileged process may still write on that disk (statfs `bavail × bsize`). */
  freeBytes: number;
  /** The configured minimum. */
  minFreeBytes: number;
  /** The directory measured: `<data>/work`, or the data dir before the first run made it. */
  path: string;
}

/** Whether runs may start with this much space, and if not, the reason a person reads in `waitingFor`. Pure. */
export function diskShortage(space: DiskSpace): string | null {
  if (space.freeBytes >= space.minFreeBytes) return null;
  return `disk space: ${bytes(space.freeBytes)} free on the disk holding ${space.path}, below ENDERCOMPUTE_MIN_FREE_BYTES (${bytes(space.minFreeBytes)}); runs start again when space is freed`;
}

/** Measures the work directories' disk, at most once per {@link DISK_CHECK_INTERVAL_MS}. */
@Injectable()
export class DiskSpaceCheck {
  private last: { at: number; space: DiskSpace } | null = null;

  constructor(private readonly config: AppConfig) {}

  /** The space now (or as measured less than a few seconds ago). Rejects when statfs fails. */
  async measure(now = Date.now()): Promise<DiskSpace> {
    if (this.last !== null && now - this.last.at < DISK_CHECK_INTERVAL_MS) return this.last.space;
    const workRoot = workRootOf(this.config.dataDir);
    const path = existsSync(workRoot) ? workRoot : this.config.dataDir;
    const stats = await statfs(path);
    const space = { freeBytes: stats.bavail * stats.bsize, minFreeBytes: this.config.minFreeBytes, path };
    this.last = { at: now, space };
    return space;
  }
}
