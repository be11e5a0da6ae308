import { Injectable } from '@nestjs/common';
import type { Statement } from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection, ProjectionDb } from '../projections/projection';
import type { ScriptEvent } from './script.events';
import { readableScriptEvent } from './script.upcast';
import type { NameHolder } from './script.decider';
import { nameKey } from '../shared/names';

/** A script template as the API shows it. */
export interface ScriptView {
  id: string;
  name: string;
  interpreter: string;
  body: string;
  version: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

const COLUMNS = 'id, name, interpreter, body, version, created_at AS createdAt, created_by AS createdBy, updated_at AS updatedAt, updated_by AS updatedBy';

/**
 * Script templates, projected from their events into the projection database; removed
 * ones are forgotten, their ids remembered. Tables: `scripts` (by id), `script_names`
 * (name key → the template holding it) and `script_issued_ids` (every id ever created).
 */
@Injectable()
export class ScriptsReadModel implements Projection {
  readonly name = 'scripts';
  readonly version = 1;
  private q!: ReturnType<typeof prepare>;

  open(db: ProjectionDb): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS scripts (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, interpreter TEXT NOT NULL, body TEXT NOT NULL, version INTEGER NOT NULL,
        created_at TEXT NOT NULL, created_by TEXT NOT NULL, updated_at TEXT NOT NULL, updated_by TEXT NOT NULL
      ) STRICT;
      CREATE TABLE IF NOT EXISTS script_names (name_key TEXT PRIMARY KEY, id TEXT NOT NULL) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS script_issued_ids (id TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
    `);
    this.q = prepare(db);
  }

  apply(recorded: RecordedEvent): void {
    if (!recorded.stream.startsWith('script-')) return;
    // Read through the upcast: a value a template can never hold is not applied (see script.upcast.ts).
    const event = readableScriptEvent({ type: recorded.type, data: recorded.data } as ScriptEvent);
    const { at, actor } = recorded.metadata;
    const version = Number(recorded.revision);
    switch (event.type) {
      case 'ScriptCreated': {
        const { scriptId, name, interpreter, body } = event.data;
        this.q.upsert.run(scriptId, name, interpreter, body, version, at, actor, at, actor);
        this.q.setName.run(nameKey(name), scriptId);
        this.q.issue.run(scriptId);
        return;
      }
      case 'ScriptUpdated': {
        const view = this.get(event.data.scriptId);
        if (!view) return;
        if (event.data.name !== undefined) {
          this.q.forgetName.run(nameKey(view.name), view.id);
          this.q.setName.run(nameKey(event.data.name), view.id);
        }
        const { scriptId: _id, ...changes } = event.data;
        const next = { ...view, ...changes };
        this.q.upsert.run(view.id, next.name, next.interpreter, next.body, version, view.createdAt, view.createdBy, at, actor);
        return;
      }
      case 'ScriptRemoved': {
        const view = this.get(event.data.scriptId);
        if (!view) return;
        this.q.remove.run(view.id);
        // Drops the name from the index, unless another template holds that key (two old look-alike names).
        this.q.forgetName.run(nameKey(view.name), view.id);
        return;
      }
      default:
        // Other script-stream events are not this read model's concern.
        return;
    }
  }

  get(id: string): ScriptView | undefined {
    return this.q.byId.get(id) as ScriptView | undefined;
  }

  /**
   * By id, or else by name (NFC, case-insensitive). An id this log ever issued means
   * that template only: a removed template's id finds nothing, forever.
   */
  find(idOrName: string): ScriptView | undefined {
    if (this.q.issued.get(idOrName)) return this.get(idOrName);
    return this.q.byNameKey.get(nameKey(idOrName)) as ScriptView | undefined;
  }

  /** Whether `value` is (or was) a template's id or is a template's name: a new id must be neither. */
  isTaken(value: string): boolean {
    return this.q.issued.get(value) !== undefined || this.q.nameTaken.get(nameKey(value)) !== undefined;
  }

  nameHolder(name: string): NameHolder | null {
    const view = this.q.byNameKey.get(nameKey(name)) as ScriptView | undefined;
    return view ? { id: view.id, name: view.name } : null;
  }

  /** Every template, by name (templates are few: sorted here, by the same rule as always). */
  list(): ScriptView[] {
    return (this.q.all.all() as ScriptView[]).sort((a, b) => a.name.localeCompare(b.name));
  }

  get size(): number {
    return (this.q.count.get() as { n: number }).n;
  }
}

function prepare(db: ProjectionDb): Record<string, Statement> {
  return {
    upsert: db.prepare(
      `INSERT INTO scripts (id, name, interpreter, body, version, created_at, created_by, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, interpreter = excluded.interpreter, body = excluded.body, version = excluded.version,
         created_at = excluded.created_at, created_by = excluded.created_by, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    ),
    setName: db.prepare('INSERT INTO script_names (name_key, id) VALUES (?, ?) ON CONFLICT (name_key) DO UPDATE SET id = excluded.id'),
    forgetName: db.prepare('DELETE FROM script_names WHERE name_key = ? AND id = ?'),
    issue: db.prepare('INSERT OR IGNORE INTO script_issued_ids (id) VALUES (?)'),
    remove: db.prepare('DELETE FROM scripts WHERE id = ?'),
    byId: db.prepare(`SELECT ${COLUMNS} FROM scripts WHERE id = ?`),
    byNameKey: db.prepare(`SELECT ${COLUMNS.replace(/(^|, )(\w+)/g, '$1s.$2')} FROM script_names n JOIN scripts s ON s.id = n.id WHERE n.name_key = ?`),
    issued: db.prepare('SELECT 1 AS x FROM script_issued_ids WHERE id = ?'),
    nameTaken: db.prepare('SELECT 1 AS x FROM script_names WHERE name_key = ?'),
    all: db.prepare(`SELECT ${COLUMNS} FROM scripts`),
    count: db.prepare('SELECT count(*) AS n FROM scripts'),
  };
}
