import { Injectable } from '@nestjs/common';
import type { Statement } from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection, ProjectionDb } from '../projections/projection';
import type { ScriptEvent } from './script.events';
import { readableScriptEvent } from './script.upcast';
import type { NameHolder } from './script.decider';
import { nameKey } from '../shared/names';
import type { Removal, Removals } from '../shared/removals';

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
 * (name key → the template holding it), `script_issued_ids` (every id ever created) and
 * `removed_scripts` (each removed template's id under the name it had then, in the order
 * of the removals, so a removed template's former name can be answered with its id).
 */
@Injectable()
export class ScriptsReadModel implements Projection {
  readonly name = 'scripts';
  /** 2: added `removed_scripts` (the rebuild this causes fills it with the removals already in the log). */
  readonly version = 2;
  private q!: ReturnType<typeof prepare>;

  open(db: ProjectionDb): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS scripts (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, interpreter TEXT NOT NULL, body TEXT NOT NULL, version INTEGER NOT NULL,
        created_at TEXT NOT NULL, created_by TEXT NOT NULL, updated_at TEXT NOT NULL, updated_by TEXT NOT NULL
      ) STRICT;
      CREATE TABLE IF NOT EXISTS script_names (name_key TEXT PRIMARY KEY, id TEXT NOT NULL) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS script_issued_ids (id TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS removed_scripts (
        seq INTEGER PRIMARY KEY, script_id TEXT NOT NULL UNIQUE, name_key TEXT NOT NULL, name TEXT NOT NULL, removed_at TEXT NOT NULL, removed_by TEXT NOT NULL
      ) STRICT;
      CREATE INDEX IF NOT EXISTS removed_scripts_by_name ON removed_scripts (name_key, seq);
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
        this.q.rememberRemoval.run(view.id, nameKey(view.name), view.name, at, actor);
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

  /**
   * The removed templates whose name, when they were removed, was `name` (compared as
   * name keys): the newest `limit` removals first, and how many there are in all.
   */
  removedNamed(name: string, limit: number): Removals {
    const key = nameKey(name);
    const items = this.q.removedNamed.all(key, limit) as Removal[];
    // Counted only when there may be more than the page.
    return { items, total: items.length < limit ? items.length : (this.q.countRemovedNamed.get(key) as { n: number }).n };
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
    // OR IGNORE: a template is removed once; its removal applied again leaves the first row.
    rememberRemoval: db.prepare('INSERT OR IGNORE INTO removed_scripts (script_id, name_key, name, removed_at, removed_by) VALUES (?, ?, ?, ?, ?)'),
    removedNamed: db.prepare('SELECT script_id AS id, name, removed_at AS removedAt, removed_by AS removedBy FROM removed_scripts WHERE name_key = ? ORDER BY seq DESC LIMIT ?'),
    countRemovedNamed: db.prepare('SELECT count(*) AS n FROM removed_scripts WHERE name_key = ?'),
    byId: db.prepare(`SELECT ${COLUMNS} FROM scripts WHERE id = ?`),
    byNameKey: db.prepare(`SELECT ${COLUMNS.replace(/(^|, )(\w+)/g, '$1s.$2')} FROM script_names n JOIN scripts s ON s.id = n.id WHERE n.name_key = ?`),
    issued: db.prepare('SELECT 1 AS x FROM script_issued_ids WHERE id = ?'),
    nameTaken: db.prepare('SELECT 1 AS x FROM script_names WHERE name_key = ?'),
    all: db.prepare(`SELECT ${COLUMNS} FROM scripts`),
    count: db.prepare('SELECT count(*) AS n FROM scripts'),
  };
}
