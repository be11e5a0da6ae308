import type { RunRecord, RunsReadModel } from '../runs/runs.read-model';
import type { LiveOutputHub } from './live-output.hub';

/**
 * A stream viewer's copy of its run: read from the read models again only when
 * they changed since ({@link LiveOutputHub.readModelChanges}), not on every
 * wake-up for new output. What depends on the clock (a scheduled run falling
 * due) is still worked out from the copy at each wake-up.
 */
export class ViewedRun {
  private record: RunRecord | undefined;
  private seen = -1;

  constructor(
    private readonly runs: RunsReadModel,
    private readonly hub: LiveOutputHub,
    private readonly runId: string,
  ) {}

  /** The run as the read models have it now, or undefined once it is gone. */
  current(): RunRecord | undefined {
    const changes = this.hub.readModelChanges;
    if (changes !== this.seen) {
      this.record = this.runs.get(this.runId);
      this.seen = changes;
    }
    return this.record;
  }

  /** Reads the run again at the next {@link current}, whatever the read models told. */
  forget(): void {
    this.seen = -1;
  }
}
