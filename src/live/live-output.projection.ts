import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { RecordedEvent } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';
import { decodeOutput, storedOutputLength } from '../runs/output-encoding';
import { OUTPUT_STREAM_PREFIX, type RunFinished, type RunOutputAppended } from '../runs/run.events';
import { RunsReadModel } from '../runs/runs.read-model';
import { LiveOutputHub } from './live-output.hub';

/**
 * Feeds stored output to the live hub, for runs executed by another server
 * (or output this server's viewers missed): the projection engine already
 * reads every event, so no viewer needs to poll the store. It also wakes the
 * viewers of a run when the read models changed it. It keeps no state and
 * ignores runs nobody here watches, so it is not a projection: it listens to
 * batches once their transaction committed (a batch rolled back never reached
 * a viewer, and a viewer woken reads the change it was woken for).
 */
const QUEUE_EVENTS = new Set(['RunRequested', 'RunClaimed', 'RunFinished', 'RunRescheduled']);

@Injectable()
export class LiveOutputProjection implements OnModuleInit, OnApplicationShutdown {
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly hub: LiveOutputHub,
    private readonly engine: ProjectionEngine,
    private readonly runs: RunsReadModel,
  ) {}

  onModuleInit(): void {
    this.unsubscribe = this.engine.onCommitted((events) => {
      for (const event of events) this.apply(event);
    });
  }

  /** After the HTTP server has closed: while the server stops, viewers still learn how the runs it ends ended (see `RunShutdown`). */
  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }

  apply(event: RecordedEvent): void {
    // Output batches come from `output-<runId>` (or, in older logs, the run stream).
    if (!event.stream.startsWith('run-') && !event.stream.startsWith(OUTPUT_STREAM_PREFIX)) return;
    const runId = (event.data as { runId?: unknown } | null)?.runId;
    if (typeof runId !== 'string') return;
    if (event.type === 'RunOutputAppended') {
      const data = event.data as RunOutputAppended['data'];
      if (typeof data.offset === 'number' && typeof data.data === 'string' && this.hub.feed(runId) && !this.storedAfterEnd(runId, data.offset, storedOutputLength(data))) {
        this.hub.stored(runId, data.offset, storedOutputLength(data), () => decodeOutput(data));
      }
      // The read model counts it as stored now: a viewer waiting for it to be readable can go on.
      this.hub.wakeRun(runId);
      return;
    }
    if (event.type === 'RunFinished') this.hub.ended(runId, (event.data as RunFinished['data']).outputBytes);
    // Requests, claims and finishes move other runs in the queue; the rest concern this run only.
    if (QUEUE_EVENTS.has(event.type)) this.hub.wakeAll();
    else this.hub.wakeRun(runId);
  }

  /** A batch beyond the output `RunFinished` recorded (an upload in flight when the run was ended): not the run's output, as the read model says. */
  private storedAfterEnd(runId: string, offset: number, length: number): boolean {
    const run = this.runs.get(runId);
    return run?.phase === 'finished' && offset + length > run.outputBytes;
  }
}
