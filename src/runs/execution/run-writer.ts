import { EventStore, StreamConflictError, type Position } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { metadataFor, type CommandContext } from '../../shared/command-context';
import { ConflictError } from '../../shared/domain-errors';
import type { IdGenerator } from '../../shared/ids';
import { Mutex } from '../../shared/mutex';
import { decideRun, evolveRun, type RunCommand, type RunState } from '../run.decider';
import { RUN_EVENT_TYPES, runStream, type RunEvent } from '../run.events';

/** How often one command is re-decided after others appended to the stream first. */
const MAX_CATCH_UPS = 5;

/**
 * The runner's handle on one run's stream while it executes: it keeps the
 * folded state and revision in memory (output events are never re-read),
 * decides each command with the pure decider, and appends with the expected
 * revision, one command at a time.
 *
 * Others append to the same stream too: a person's cancel, pause or resume.
 * When an append finds the stream moved on, the writer reads just the new
 * events, folds them in and decides the command again against the new state
 * (output is still accepted while a run is paused or being cancelled; a second
 * finish is refused).
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
    return this.recordAll([command]);
  }

  /**
   * Decides the commands in turn (each against the state the ones before it leave)
   * and appends all their events in one append: one transaction, one fsync, for
   * consecutive output batches. All or nothing, like one command.
   */
  recordAll(commands: readonly RunCommand[]): Promise<Position | null> {
    return this.lock.run(async () => {
      for (let attempt = 0; ; attempt++) {
        let decidedState = this.state;
        const events: RunEvent[] = [];
        for (const command of commands) {
          const decided = decideRun(command, decidedState);
          decidedState = decided.reduce(evolveRun, decidedState);
          events.push(...decided);
        }
        if (events.length === 0) return null;
        const metadata = metadataFor(this.context, this.deps.clock.now());
        try {
          const result = await this.deps.store.append(
            runStream(this.runId),
            events.map((event) => ({ id: this.deps.ids.newEventId(), type: event.type, data: event.data, metadata })),
            this.revision,
          );
          this.state = decidedState;
          this.revision = result.nextRevision;
          return result.position;
        } catch (error) {
          if (!(error instanceof StreamConflictError)) throw error;
          if (attempt >= MAX_CATCH_UPS) throw new ConflictError(`Run ${this.runId} keeps changing under the runner: giving up on ${commands.map((command) => command.type).join(', ')}`);
          await this.catchUp();
        }
      }
    });
  }

  /** Folds in what others appended since this writer's revision. */
  private async catchUp(): Promise<void> {
    const events = await this.deps.store.readStream(runStream(this.runId), { fromRevision: this.revision + 1n });
    for (const recorded of events) {
      if ((RUN_EVENT_TYPES as readonly string[]).includes(recorded.type)) {
        this.state = evolveRun(this.state, { type: recorded.type, data: recorded.data } as RunEvent);
      }
      this.revision = recorded.revision;
    }
  }
}
