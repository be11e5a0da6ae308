import { statfs } from 'node:fs/promises';
import { Injectable } from '@nestjs/common';
import { nextMondayMidnight } from '../auth/key-schedule';
import { KeyService } from '../auth/key-service';
import { AppConfig } from '../config/app-config';
import { ProjectionLag } from '../metrics/projection-lag';
import { RunnerPresence } from '../runners/runner-presence';
import { Clock } from '../shared/clock';

/** What `GET /api/health?details=1` adds for a caller with the key. */
export interface HealthDetails {
  /** Events in the log the read models have not applied yet (0: caught up). */
  projectionLagEvents: number;
  /** Space on the file system holding the data directory, in bytes: free for this server's user, and in all. */
  disk: { path: string; freeBytes: number; totalBytes: number };
  /** Job servers connected to this server (`RunnerPresence.connectedHere`, as the metrics gauge). */
  jobServersConnected: number;
  /** When the generated shared key is renewed next (ISO-8601 UTC); null for a key set in `ENDERCOMPUTE_KEY`, which is never renewed. */
  keyRenewsAt: string | null;
}

/** Gathers {@link HealthDetails}; each part is cheap (a stat of the file system, the log's head). */
@Injectable()
export class HealthDetailsReader {
  constructor(
    private readonly config: AppConfig,
    private readonly lag: ProjectionLag,
    private readonly keys: KeyService,
    private readonly clock: Clock,
    private readonly presence: RunnerPresence,
  ) {}

  async read(): Promise<HealthDetails> {
    const fs = await statfs(this.config.dataDir);
    return {
      projectionLagEvents: await this.lag.events(),
      // bavail, not bfree: the blocks reserved for root are no room for this server.
      disk: { path: this.config.dataDir, freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize },
      jobServersConnected: this.presence.connectedHere(),
      keyRenewsAt: this.keys.isGenerated ? nextMondayMidnight(this.clock.now()).toISOString() : null,
    };
  }
}
