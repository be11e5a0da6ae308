import { Injectable } from '@nestjs/common';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection } from '../projections/projection';
import { decodeOutput, storedOutputLength } from '../runs/output-encoding';
import { OUTPUT_STREAM_PREFIX, type RunOutputAppended } from '../runs/run.events';
import { LiveOutputHub } from './live-output.hub';

/**
 * Feeds stored output to the live hub, for runs executed by another server
 * (or output this server's viewers missed): the projection engine already
 * reads every event, so no viewer needs to poll the store. It also wakes the
 * viewers of a run when the read models changed it (listed after the others,
 * it sees each event once they all applied it). It keeps no state and
 * ignores runs nobody here watches.
 */
const QUEUE_EVENTS = new Set(['RunRequested', 'RunClaimed', 'RunFinished', 'RunRescheduled']);

@Injectable()
export class LiveOutputProjection implements Projection {
  readonly name = 'live-output';
  readonly version = 0;
  /** Still in memory: takes no tables (it moves to the projection database). */
  open(): void {}

  constructor(private readonly hub: LiveOutputHub) {}

  apply(event: RecordedEvent): void {
    // Output batches come from `output-<runId>` (or, in older logs, the run stream).
    if (!event.stream.startsWith('run-') && !event.stream.startsWith(OUTPUT_STREAM_PREFIX)) return;
    const runId = (event.data as { runId?: unknown } | null)?.runId;
    if (typeof runId !== 'string') return;
    if (event.type === 'RunOutputAppended') {
      const data = event.data as RunOutputAppended['data'];
      if (typeof data.offset === 'number' && typeof data.data === 'string') this.hub.stored(runId, data.offset, storedOutputLength(data), () => decodeOutput(data));
      // The read model counts it as stored now: a viewer waiting for it to be readable can go on.
      this.hub.wakeRun(runId);
      return;
    }
    // Requests, claims and finishes move other runs in the queue; the rest concern this run only.
    if (QUEUE_EVENTS.has(event.type)) this.hub.wakeAll();
    else this.hub.wakeRun(runId);
  }
}
