import { EventStore, StreamConflictError, type Position } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { metadataFor, type CommandContext } from '../../shared/command-context';
import { loadAggregate } from '../../shared/decide-and-append';
import { ConflictError } from '../../shared/domain-errors';
import type { IdGenerator } from '../../shared/ids';
import { Mutex } from '../../shared/mutex';
import { storedOutputLength } from '../output-encoding';
import { decideRun, evolveRun, initialRunState, type RunCommand, type RunState } from '../run.decider';
import { outputStream, RUN_EVENT_TYPES, runStream, type RunEvent, type RunOutputAppended } from '../run.events';

/** How often one command is re-decided after others appended to the stream first. */
const MAX_CATCH_UPS = 5;

type WriterDeps = { store: EventStore; clock: Clock; ids: IdGenerator };

/**
 * The runner's handle on one run's streams while it executes: it keeps the
 * folded state and revisions in memory (output events are never re-read),
 * decides each command with the pure decider, and appends with the expected
 * revision, one command at a time.
 *
 * Two streams: output batches go to `output-<runId>` (bulk that retention deletes),
 * everything else to `run-<runId>` (the facts). Commands are recorded one after the
 * other, so `RunFinished` lands only after every batch before it is stored.
 *
 * Others append to the run stream too: a person's cancel, pause or resume.
 * When an append finds the stream moved on, the writer reads just the new
 * events, folds them in and decides the command again against the new state
 * (output is still accepted while a run is paused or being cancelled; a second
 * finish is refused). Nobody else writes the output stream: a conflict there
 * means another runner writes this run's output, which is refused.
 */
export class RunWriter {
  private readonly lock = new Mutex();

  constructor(
    private readonly deps: WriterDeps,
    readonly runId: string,
    private state: RunState,
    private revision: bigint,
    private readonly context: CommandContext,
    /** The output stream's last revision, or null while it has no events. */
    private outputRevision: bigint | null = null,
  ) {}

  /**
   * Loads a run's facts and where its output stream ends (the run stream's fold knows
   * the output length only once the run finished), or null when the run does not exist.
   */
  static async load(deps: WriterDeps, runId: string, context: CommandContext): Promise<RunWriter | null> {
    const loaded = await loadAggregate(deps.store, runStream(runId), { initial: initialRunState, evolve: evolveRun }, RUN_EVENT_TYPES);
    if (loaded.revision === null) return null;
    const [last] = await deps.store.readStream(outputStream(runId), { direction: 'backwards', maxCount: 1 });
    let state = loaded.state;
    if (last && last.type === 'RunOutputAppended') {
      const data = last.data as RunOutputAppended['data'];
      state = { ...state, outputBytes: Math.max(state.outputBytes, data.offset + storedOutputLength(data)) };
    }
    return new RunWriter(deps, runId, state, loaded.revision, context, last ? last.revision : null);
  }

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
   * consecutive output batches. All or nothing, like one command. Output batches
   * go together to the output stream; they are not mixed with other commands.
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
        const toAppend = events.map((event) => ({ id: this.deps.ids.newEventId(), type: event.type, data: event.data, metadata }));
        const outputs = commands.filter((command) => command.type === 'AppendOutput').length;
        if (outputs > 0 && outputs < commands.length) throw new Error('output batches are recorded on their own, not with other commands');
        if (outputs > 0) return this.appendOutput(decidedState, toAppend);
        try {
          const result = await this.deps.store.append(runStream(this.runId), toAppend, this.revision);
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

  private async appendOutput(decidedState: RunState, toAppend: Parameters<EventStore['append']>[1]): Promise<Position> {
    try {
      const result = await this.deps.store.append(outputStream(this.runId), toAppend, this.outputRevision ?? 'no_stream');
      this.state = decidedState;
      this.outputRevision = result.nextRevision;
      return result.position;
    } catch (error) {
      if (!(error instanceof StreamConflictError)) throw error;
      throw new ConflictError(`The output of run ${this.runId} is being written by someone else: this runner stops writing it`);
    }
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
