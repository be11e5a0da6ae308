import { Injectable } from '@nestjs/common';
import { EventStore } from '../event-store/event-store.port';
import { jobDecider } from '../jobs/job.handlers';
import type { JobState } from '../jobs/job.decider';
import { JOB_EVENT_TYPES, jobStream, type JobFile } from '../jobs/job.events';
import { JobsReadModel } from '../jobs/jobs.read-model';
import type { ScriptState } from '../scripts/script.decider';
import { SCRIPT_EVENT_TYPES, scriptStream } from '../scripts/script.events';
import { scriptDecider } from '../scripts/script.handlers';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { MAX_MESSAGE_LENGTH } from '../http/error-body';
import { NotFoundError } from '../shared/domain-errors';
import type { Removals } from '../shared/removals';
import { fieldChanges, foldVersions, type FieldChange, type Version } from './versions';

/** What a version holds, as the API shows it: every field of the resource, `status` first. */
export type Content = Record<string, unknown> & { status: 'active' | 'removed'; name: string };

/** A version in a list: who, when, how, and the names of the fields it changed. */
export interface VersionSummary extends Omit<Version<unknown>, 'state'> {
  /** Names of the fields that differ from the version before (every field for the first). */
  fields: string[];
}

/** One version in full: its content and what changed from the version compared with. */
export interface VersionDetail extends Omit<VersionSummary, 'fields'> {
  /** The resource as it was at this version. */
  content: Content;
  /** The version `changes` start from: the one before (null for the first), or the one asked for. */
  comparedTo: number | null;
  changes: FieldChange[];
  /** The current (newest) version. */
  current: number;
}

/** A job at one version: its definition and its input files (by name); `removed` keeps only the name. */
export function jobContent(state: JobState): Content | null {
  if (state.status === 'absent') return null;
  if (state.status === 'removed') return { status: 'removed', name: state.name };
  const { status, jobId: _id, files, ...definition } = state;
  return { status, ...definition, files: sortedFiles(files) };
}

export function scriptContent(state: ScriptState): Content | null {
  if (state.status === 'absent') return null;
  if (state.status === 'removed') return { status: 'removed', name: state.name };
  const { status, scriptId: _id, ...fields } = state;
  return { status, ...fields };
}

const sortedFiles = (files: JobFile[]): JobFile[] => [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** Removed ones a not-found answer names at most (newest first): a name reused that often is rare, and the answer stays short. */
export const REMOVALS_NAMED = 5;

/**
 * The message of a `404` for `name`, which no job (or template: `label`) has now: the
 * plain `No job "x" exists`, or, when removed ones had that name, a hint naming them
 * (id, when and by whom removed, and where their versions are: `collection` is the API
 * path, `/api/jobs`), since their ids still answer their history and their name no longer
 * does. `removals` as the read models give them: newest first, with the total. Several
 * are listed while the message fits in an error body (see `MAX_MESSAGE_LENGTH`: a cut
 * message would lose the count of those left out), at least one.
 */
export function notFoundMessage(label: string, collection: string, name: string, removals: Removals): string {
  const { items, total } = removals;
  if (items.length === 0) return `No ${label} "${name}" exists`;
  const now = `No ${label} is named "${name}" now.`;
  if (total === 1) {
    const [only] = items;
    return `${now} A ${label} of that name was removed at ${only.removedAt} by ${only.removedBy}: its id is ${only.id}, and its versions stay readable at GET ${collection}/${only.id}/versions`;
  }
  const head = `${now} ${total} ${label}s of that name were removed, newest first: `;
  const tail = `. Their versions stay readable at GET ${collection}/<id>/versions`;
  const listed = (entries: string[]): string => {
    const more = total - entries.length;
    return `${head}${[...entries, ...(more > 0 ? [`and ${more} more`] : [])].join('; ')}${tail}`;
  };
  const entries: string[] = [];
  for (const removal of items) {
    const entry = `${removal.id} at ${removal.removedAt} by ${removal.removedBy}`;
    if (entries.length > 0 && listed([...entries, entry]).length > MAX_MESSAGE_LENGTH) break;
    entries.push(entry);
  }
  return listed(entries);
}

/**
 * Version history of one kind of aggregate, read from its own stream and folded with its
 * own decider's `evolve`: never from a read model, so it shows exactly what the log says.
 * (Read models resolve a name to an id, and name removed ones when a name finds nothing.)
 */
abstract class History {
  constructor(protected readonly store: EventStore) {}

  protected abstract readonly label: string;
  /** The API path its versions hang from: `/api/jobs`. */
  protected abstract readonly collection: string;
  /** The aggregate's id for an id or current name; an id that was issued but removed still counts. */
  protected abstract resolve(idOrName: string): string | null;
  /** The removed ones whose name was `name` when they were removed (see `notFoundMessage`). */
  protected abstract removedNamed(name: string, limit: number): Removals;
  protected abstract stream(id: string): string;
  protected abstract fold(events: Awaited<ReturnType<EventStore['readStream']>>, visit: (version: Version<Content | null>) => void): void;

  /**
   * Every version, oldest first, each with the fields it changed.
   * @throws NotFoundError for an unknown id or name; for the former name of removed ones, naming their ids (see `notFoundMessage`).
   */
  async versions(idOrName: string): Promise<{ id: string; items: VersionSummary[] }> {
    const { id, items } = await this.changesets(idOrName);
    return { id, items: items.map(({ changes, content: _content, ...meta }) => ({ ...meta, fields: changes.map((change) => change.field) })) };
  }

  /** Every version, oldest first, with its content and its changes from the version before. @throws NotFoundError as {@link versions} does. */
  async changesets(idOrName: string): Promise<{ id: string; items: Array<Omit<VersionSummary, 'fields'> & { content: Content; changes: FieldChange[] }> }> {
    const { id, versions } = await this.load(idOrName);
    let previous: Content | null = null;
    const items = versions.map((version) => {
      const { state, ...meta } = version;
      const changes = fieldChanges(previous, state);
      previous = state;
      return { ...meta, content: state, changes };
    });
    return { id, items };
  }

  /**
   * Version `n` in full, with the changes from `compareTo` (default: the version before).
   * @throws NotFoundError when `n` or `compareTo` is not one of its versions, or as {@link versions} does.
   */
  async version(idOrName: string, n: number, compareTo?: number): Promise<{ id: string; detail: VersionDetail }> {
    const { id, versions } = await this.load(idOrName);
    const index = versions.findIndex((v) => v.version === n);
    if (index < 0) throw this.noSuchVersion(idOrName, n, versions);
    let base: Version<Content> | null = index > 0 ? versions[index - 1] : null;
    if (compareTo !== undefined) {
      base = versions.find((v) => v.version === compareTo) ?? null;
      if (!base) throw this.noSuchVersion(idOrName, compareTo, versions);
    }
    const { state, ...meta } = versions[index];
    const detail: VersionDetail = {
      ...meta,
      content: state,
      comparedTo: base?.version ?? null,
      changes: fieldChanges(base?.state ?? null, state),
      current: versions[versions.length - 1].version,
    };
    return { id, detail };
  }

  private async load(idOrName: string): Promise<{ id: string; versions: Array<Version<Content>> }> {
    const id = this.resolve(idOrName);
    const events = id === null ? [] : await this.store.readStream(this.stream(id));
    const versions: Array<Version<Content>> = [];
    this.fold(events, (version) => {
      if (version.state) versions.push(version as Version<Content>);
    });
    if (id === null) throw this.notFound(idOrName);
    if (versions.length === 0) throw new NotFoundError(`No ${this.label} "${idOrName}" exists`);
    return { id, versions };
  }

  /** Neither an id nor a current name: perhaps the name removed ones had (only then is the removals table read). */
  private notFound(idOrName: string): NotFoundError {
    return new NotFoundError(notFoundMessage(this.label, this.collection, idOrName, this.removedNamed(idOrName, REMOVALS_NAMED)));
  }

  private noSuchVersion(idOrName: string, n: number, versions: Array<Version<Content>>): NotFoundError {
    const numbers = versions.map((v) => v.version);
    const shown = numbers.length > 12 ? `${numbers.slice(0, 5).join(', ')}, …, ${numbers.slice(-5).join(', ')}` : numbers.join(', ');
    return new NotFoundError(`The ${this.label} "${idOrName}" has no version ${n} (its versions: ${shown})`);
  }
}

/** Versions of jobs (`job-<id>` streams). */
@Injectable()
export class JobHistory extends History {
  protected readonly label = 'job';
  protected readonly collection = '/api/jobs';
  constructor(store: EventStore, private readonly jobs: JobsReadModel) {
    super(store);
  }

  protected resolve(idOrName: string): string | null {
    const job = this.jobs.find(idOrName);
    if (job) return job.id;
    // Taken but not found by name: the id of a removed job.
    return this.jobs.isTaken(idOrName) ? idOrName : null;
  }

  protected removedNamed(name: string, limit: number): Removals {
    return this.jobs.removedNamed(name, limit);
  }

  protected stream(id: string): string {
    return jobStream(id);
  }

  protected fold(events: Parameters<History['fold']>[0], visit: Parameters<History['fold']>[1]): void {
    foldVersions(events, jobDecider, JOB_EVENT_TYPES, (v) => visit({ ...v, state: jobContent(v.state) }));
  }
}

/** Versions of script templates (`script-<id>` streams). */
@Injectable()
export class ScriptHistory extends History {
  protected readonly label = 'script template';
  protected readonly collection = '/api/scripts';
  constructor(store: EventStore, private readonly scripts: ScriptsReadModel) {
    super(store);
  }

  protected resolve(idOrName: string): string | null {
    const script = this.scripts.find(idOrName);
    if (script) return script.id;
    return this.scripts.isTaken(idOrName) ? idOrName : null;
  }

  protected removedNamed(name: string, limit: number): Removals {
    return this.scripts.removedNamed(name, limit);
  }

  protected stream(id: string): string {
    return scriptStream(id);
  }

  protected fold(events: Parameters<History['fold']>[0], visit: Parameters<History['fold']>[1]): void {
    foldVersions(events, scriptDecider, SCRIPT_EVENT_TYPES, (v) => visit({ ...v, state: scriptContent(v.state) }));
  }
}
