import { Injectable } from '@nestjs/common';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection } from '../projections/projection';
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

/** Script templates, projected from their events; removed ones are forgotten. */
@Injectable()
export class ScriptsReadModel implements Projection {
  readonly name = 'scripts';
  readonly version = 0;
  /** Still in memory: takes no tables (it moves to the projection database). */
  open(): void {}
  private readonly byId = new Map<string, ScriptView>();
  private readonly idByNameKey = new Map<string, string>();
  /** Every id a template was created with, removed ones included. */
  private readonly issuedIds = new Set<string>();

  apply(recorded: RecordedEvent): void {
    if (!recorded.stream.startsWith('script-')) return;
    // Read through the upcast: a value a template can never hold is not applied (see script.upcast.ts).
    const event = readableScriptEvent({ type: recorded.type, data: recorded.data } as ScriptEvent);
    const { at, actor } = recorded.metadata;
    const version = Number(recorded.revision);
    switch (event.type) {
      case 'ScriptCreated': {
        const { scriptId, name, interpreter, body } = event.data;
        this.byId.set(scriptId, { id: scriptId, name, interpreter, body, version, createdAt: at, createdBy: actor, updatedAt: at, updatedBy: actor });
        this.idByNameKey.set(nameKey(name), scriptId);
        this.issuedIds.add(scriptId);
        return;
      }
      case 'ScriptUpdated': {
        const view = this.byId.get(event.data.scriptId);
        if (!view) return;
        if (event.data.name !== undefined) {
          this.forgetName(view);
          this.idByNameKey.set(nameKey(event.data.name), view.id);
        }
        const { scriptId: _id, ...changes } = event.data;
        // A new view rather than a change in place: a reader holding the old one sees a consistent record.
        this.byId.set(view.id, { ...view, ...changes, version, updatedAt: at, updatedBy: actor });
        return;
      }
      case 'ScriptRemoved': {
        const view = this.byId.get(event.data.scriptId);
        if (!view) return;
        this.byId.delete(view.id);
        this.forgetName(view);
        return;
      }
      default:
        // Other script-stream events are not this read model's concern.
        return;
    }
  }

  get(id: string): ScriptView | undefined {
    return this.byId.get(id);
  }

  /**
   * By id, or else by name (NFC, case-insensitive). An id this log ever issued means
   * that template only: a removed template's id finds nothing, forever.
   */
  find(idOrName: string): ScriptView | undefined {
    if (this.issuedIds.has(idOrName)) return this.byId.get(idOrName);
    return this.byId.get(this.idByNameKey.get(nameKey(idOrName)) ?? '');
  }

  /** Whether `value` is (or was) a template's id or is a template's name: a new id must be neither. */
  isTaken(value: string): boolean {
    return this.issuedIds.has(value) || this.idByNameKey.has(nameKey(value));
  }

  /** Drops the template's name from the index, unless another one holds that key (two old look-alike names). */
  private forgetName(view: ScriptView): void {
    const key = nameKey(view.name);
    if (this.idByNameKey.get(key) === view.id) this.idByNameKey.delete(key);
  }

  nameHolder(name: string): NameHolder | null {
    const id = this.idByNameKey.get(nameKey(name));
    const view = id ? this.byId.get(id) : undefined;
    return view ? { id: view.id, name: view.name } : null;
  }

  /** Every template, by name. */
  list(): ScriptView[] {
    return [...this.byId.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get size(): number {
    return this.byId.size;
  }
}
