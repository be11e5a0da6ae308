import { EventStore, type Position } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import type { CommandContext } from '../../shared/command-context';
import { appendEvents } from '../../shared/decide-and-append';
import type { IdGenerator } from '../../shared/ids';
import { Mutex } from '../../shared/mutex';
import { decideRun, evolveRun, type RunCommand, type RunState } from '../run.decider';
import { runStream } from '../run.events';

/**
 * The runner's handle on one run's stream while it executes: it keeps the
 * folded state and revision in memory (output events are never re-read),
 * decides each command with the pure decider, and appends with the expected
 * revision, one command at a time.
 */
export class RunWriter {
  private readonly lock = new Mutex();

  constructor(
    private readonly deps: { store: EventStore; clock: Clock; ids: IdGenerator },
    readonly runId: string,
    private state: RunState,
    private revision: bigint,
    private readonly context: CommandContext,
  ) {}

  get current(): RunState {
    return this.state;
  }

  /** Decides and appends; resolves with the position of the last event (null when nothing changed). */
  record(command: RunCommand): Promise<Position | null> {
    return this.lock.run(async () => {
      const events = decideRun(command, this.state);
      if (events.length === 0) return null;
      const result = await appendEvents(this.deps, runStream(this.runId), events, this.revision, this.context);
      this.state = events.reduce(evolveRun, this.state);
      this.revision = result.nextRevision;
      return result.position;
    });
  }
}
