import { Injectable } from '@nestjs/common';
import { EventStore } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';

/** Beyond this many events, the lag of an EventStoreDB log is reported as this number (counting costs a read). */
export const MAX_COUNTED_LAG = 1000;

/**
 * How many events of the log the read models have not applied yet.
 *
 * - Embedded log: positions are row numbers, so the lag is the head's minus the last
 *   applied one's (output a retention sweep deleted in between counts too, until applied).
 * - EventStoreDB: positions are byte offsets, so the events after the applied position
 *   are counted by reading them, up to {@link MAX_COUNTED_LAG}.
 */
@Injectable()
export class ProjectionLag {
  constructor(
    private readonly store: EventStore,
    private readonly engine: ProjectionEngine,
  ) {}

  /** The lag in events (0 when caught up). */
  async events(): Promise<number> {
    const head = await this.store.headPosition();
    if (head === null) return 0;
    const applied = this.engine.currentPosition;
    if (this.store.kind === 'sqlite') return Math.max(0, Number(head.commit - (applied?.commit ?? 0n)));
    const behind = await this.store.readAll({ ...(applied ? { after: applied } : {}), maxCount: MAX_COUNTED_LAG });
    return behind.length;
  }
}
