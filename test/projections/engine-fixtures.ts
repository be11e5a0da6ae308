/**
 * What the projection engine's tests share: events as the server writes them, and a
 * projection that would show any event applied twice or skipped.
 */
import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/event-store/event-store.port';
import { formatPosition } from '../../src/event-store/event-store.port';
import type { Projection, ProjectionDb } from '../../src/projections/projection';
import type { EngineReporter } from '../../src/projections/projection-engine';
import { SchedulesReadModel } from '../../src/schedules/schedules.read-model';
import { ScriptsReadModel } from '../../src/scripts/scripts.read-model';

export function newEvent(type: string, data: Record<string, unknown>): NewEvent {
  return { id: randomUUID(), type, data, metadata: { actor: 'tester', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'api' } };
}

/** Appends `count` template creations (`t0`, `t1`, …, from `from`), one append each; resolves with the last position. */
export async function createTemplates(store: EventStore, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const scriptId = `script${String(i).padStart(6, '0')}`;
    await store.append(`script-${scriptId}`, [newEvent('ScriptCreated', { scriptId, name: `t${i}`, interpreter: 'bash', body: `echo ${i}` })], 'no_stream');
  }
}

/**
 * Counts every event it applies, and records each position once (a primary key): an
 * event applied twice would break the key (and stop the engine) or double the count;
 * one skipped would leave a gap. Deliberately not idempotent itself, so only the engine
 * (one transaction for the events and the checkpoint) keeps it exact.
 */
export class CountingProjection implements Projection {
  readonly name = 'counting';
  private insert!: Statement<[string, string]>;
  private bump!: Statement<[]>;
  private db!: ProjectionDb;
  /** Throws on events of this type (an event it cannot apply). */
  throwOn: string | null = null;
  /** Fails this many more times as SQLite does on a full disk (`SQLITE_FULL`), whatever the event. */
  diskFullTimes = 0;

  constructor(readonly version = 1) {}

  open(db: ProjectionDb): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS counted (position TEXT PRIMARY KEY, stream TEXT NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL) STRICT;
      INSERT OR IGNORE INTO counter (id, n) VALUES (1, 0);
    `);
    this.db = db;
    this.insert = db.prepare('INSERT INTO counted (position, stream) VALUES (?, ?)');
    this.bump = db.prepare('UPDATE counter SET n = n + 1 WHERE id = 1');
  }

  apply(event: RecordedEvent): void {
    if (this.diskFullTimes > 0) {
      this.diskFullTimes--;
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    }
    this.insert.run(formatPosition(event.position), event.stream);
    this.bump.run();
    if (event.type === this.throwOn) throw new Error(`cannot apply ${event.type}`);
  }

  get count(): number {
    return (this.db.prepare('SELECT n FROM counter').get() as { n: number }).n;
  }

  get distinctPositions(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM counted').get() as { n: number }).n;
  }
}

/** The projections these tests feed: the two real ones converted here, and the counter. */
export function testProjections(version = 1): { scripts: ScriptsReadModel; schedules: SchedulesReadModel; counting: CountingProjection; all: Projection[] } {
  const scripts = new ScriptsReadModel();
  const schedules = new SchedulesReadModel();
  const counting = new CountingProjection(version);
  return { scripts, schedules, counting, all: [scripts, schedules, counting] };
}

/** A reporter that keeps the engine's lines for the test to read. */
export function recordingReporter(): EngineReporter & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info: ${m}`), warn: (m) => lines.push(`warn: ${m}`), error: (m) => lines.push(`error: ${m}`) };
}
