import { Injectable } from '@nestjs/common';
import { EventStore, type EventFilter, type Position, type RecordedEvent } from '../event-store/event-store.port';
import { publicVersion } from '../http/etag';
import type { JobState } from '../jobs/job.decider';
import { changesJobVersion, JOB_EVENT_TYPES, jobStream } from '../jobs/job.events';
import { jobDecider } from '../jobs/job.handlers';
import { JobsReadModel } from '../jobs/jobs.read-model';
import type { ScriptState } from '../scripts/script.decider';
import { changesScriptVersion, SCRIPT_EVENT_TYPES } from '../scripts/script.events';
import type { ScriptView } from '../scripts/scripts.read-model';
import { scriptDecider } from '../scripts/script.handlers';
import { Clock } from '../shared/clock';
import { NotFoundError, ValidationError } from '../shared/domain-errors';
import { nameKey } from '../shared/names';
import { jobContent, scriptContent } from './histories';
import type { Folding } from './versions';

/**
 * How far past the time asked for the log is still read: servers sharing a log, and
 * commands handled at once, can record times slightly out of log order, so an event
 * recorded just before the time may sit a little after one recorded just after it.
 */
export const AS_OF_READ_BEYOND_MS = 60_000;
/** Events fetched per read of the log while rebuilding. */
const EVENTS_PER_READ = 500;

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * The time an `asOf` parameter names: an ISO 8601 time with seconds optional and a time
 * zone required (`2026-03-01T12:00:00Z`, `2026-03-01T13:00+01:00`), not in the future.
 * A time written to the second (or the minute) stands for the end of that second (or
 * minute), at most now: lists show times to the second, so a time copied from a history
 * list takes in what happened within it. Undefined when the parameter is absent.
 *
 * @throws ValidationError naming the problem: not such a time, no such date, in the future.
 */
export function parseAsOf(text: string | undefined, now: Date): Date | undefined {
  if (text === undefined) return undefined;
  const shown = JSON.stringify(text.slice(0, 60));
  const match = ISO_TIME.exec(text);
  if (!match) {
    const hint = /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?$/.test(text) ? ' (add a time zone: Z or an offset such as +01:00)' : '';
    throw new ValidationError([`asOf: ${shown} is not an ISO 8601 time such as 2026-03-01T12:00:00Z${hint}`]);
  }
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0));
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    throw new ValidationError([`asOf: ${shown} is not a real date and time`]);
  }
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) throw new ValidationError([`asOf: ${shown} is not a real date and time`]);
  if (time.getTime() > now.getTime()) {
    throw new ValidationError([`asOf: ${shown} is in the future (it is now ${now.toISOString()}): leave asOf out for the current state`]);
  }
  const writtenToMs = match[6] === undefined ? 60_000 : /:\d{2}\.\d/.test(text) ? 1 : 1_000;
  return new Date(Math.min(time.getTime() + writtenToMs - 1, now.getTime()));
}

/** An aggregate as it stood at a time, with the stamps the API shows. */
export interface Stood<State> {
  state: State;
  /** Revision of its last version-changing event (counted from 0). */
  revision: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

/** Applies one event to what an aggregate was; a bookkeeping event changes neither its version nor its stamps. */
function advance<State>(stood: Stood<State> | undefined, folding: Folding<State, never>, changes: (type: string) => boolean, event: RecordedEvent): Stood<State> {
  const state = folding.evolve(stood?.state ?? folding.initial, { type: event.type, data: event.data } as never);
  if (stood && !changes(event.type)) return { ...stood, state };
  const { at, actor } = event.metadata;
  return {
    state,
    revision: Number(event.revision),
    createdAt: stood?.createdAt ?? at,
    createdBy: stood?.createdBy ?? actor,
    updatedAt: at,
    updatedBy: actor,
  };
}

/** A job as it stood at a time (API.md *As of a time*): its definition, files and version; no run fields. */
export interface JobAsOf extends Record<string, unknown> {
  id: string;
  name: string;
  scriptId: string;
  scriptName: string | null;
  version: number;
  asOf: string;
}

/** A template as `GET /api/scripts` shows it, as it stood at `asOf`. */
export interface ScriptAsOf extends ScriptView {
  asOf: string;
}

/** What the jobs list filters by as of a time: the definition's search fields (runs describe now). */
export interface JobAsOfFilter {
  q?: string;
  tag?: string;
}

/**
 * Jobs and templates as they stood at a time, rebuilt from the log by the events'
 * recorded times (`metadata.at`) with the aggregates' own `evolve`. The log is read a
 * page at a time and folded as it goes: memory holds one page and the state of each
 * job and template, never the log.
 */
@Injectable()
export class AsOfQueries {
  constructor(
    private readonly store: EventStore,
    private readonly jobs: JobsReadModel,
    private readonly clock: Clock,
  ) {}

  /** Parses `asOf` against this server's clock (see {@link parseAsOf}). */
  parse(text: string | undefined): Date | undefined {
    return parseAsOf(text, this.clock.now());
  }

  /** Every template that existed at `asOf`, by name. */
  async scripts(asOf: Date): Promise<ScriptAsOf[]> {
    const { scripts } = await this.rebuild(asOf, ['script-']);
    return [...scripts.entries()]
      .map(([id, stood]) => scriptView(id, stood, asOf))
      .filter((script): script is ScriptAsOf => script !== null)
      .sort(byName);
  }

  /** Every job that existed at `asOf` and matches the filter, by name. */
  async jobList(asOf: Date, filter: JobAsOfFilter): Promise<JobAsOf[]> {
    const { jobs, scripts } = await this.rebuild(asOf, ['job-', 'script-']);
    const q = filter.q !== undefined ? nameKey(filter.q) : undefined;
    const tag = filter.tag !== undefined ? nameKey(filter.tag) : undefined;
    const items: JobAsOf[] = [];
    for (const [id, stood] of jobs) {
      const job = jobView(id, stood, scripts, asOf);
      if (!job) continue;
      const tags = (job.tags as string[]).map(nameKey);
      if (tag !== undefined && !tags.includes(tag)) continue;
      if (q !== undefined && ![nameKey(job.name), nameKey(String(job.description ?? '')), ...tags].some((text) => text.includes(q))) continue;
      items.push(job);
    }
    return items.sort(byName);
  }

  /**
   * One job as it stood at `asOf`, by id, or by the name it had then.
   * @throws NotFoundError when it did not exist then (not yet created, or removed).
   */
  async job(idOrName: string, asOf: Date): Promise<JobAsOf> {
    let found: JobAsOf | null = null;
    const id = this.idOf(idOrName);
    if (id !== null) {
      const { scripts } = await this.rebuild(asOf, ['script-']);
      let stood: Stood<JobState> | undefined;
      for (const event of await this.store.readStream(jobStream(id))) {
        if (Date.parse(event.metadata.at) > asOf.getTime()) continue;
        if (JOB_EVENT_TYPES.includes(event.type as never)) stood = advance(stood, jobDecider as never, changesJobVersion, event);
      }
      found = stood ? jobView(id, stood, scripts, asOf) : null;
    } else {
      // A name means the job that had it then: it may since have been renamed, or the name given to another job.
      const key = nameKey(idOrName);
      found = (await this.jobList(asOf, {})).find((job) => nameKey(job.name) === key) ?? null;
    }
    if (!found) throw new NotFoundError(`No job "${idOrName}" existed at ${asOf.toISOString()}`);
    return found;
  }

  /** The job id `value` is (a job's id now, or a removed job's), or null when it is a name or unknown. */
  private idOf(value: string): string | null {
    if (this.jobs.get(value)) return value;
    // Issued once but not found by id or name now: a removed job's id.
    return this.jobs.find(value) === undefined && this.jobs.isTaken(value) ? value : null;
  }

  /** Folds the version-changing events of jobs and templates recorded up to `asOf`. */
  private async rebuild(asOf: Date, prefixes: string[]): Promise<{ jobs: Map<string, Stood<JobState>>; scripts: Map<string, Stood<ScriptState>> }> {
    const jobs = new Map<string, Stood<JobState>>();
    const scripts = new Map<string, Stood<ScriptState>>();
    const eventTypes = [...JOB_EVENT_TYPES.filter(changesJobVersion), ...SCRIPT_EVENT_TYPES.filter(changesScriptVersion)];
    for await (const event of eventsUpTo(this.store, { streamPrefixes: prefixes, eventTypes }, asOf)) {
      if (event.stream.startsWith('job-')) {
        const id = event.stream.slice('job-'.length);
        jobs.set(id, advance(jobs.get(id), jobDecider as never, changesJobVersion, event));
      } else if (event.stream.startsWith('script-')) {
        const id = event.stream.slice('script-'.length);
        scripts.set(id, advance(scripts.get(id), scriptDecider as never, changesScriptVersion, event));
      }
    }
    return { jobs, scripts };
  }
}

/**
 * The events passing `filter` recorded at or before `asOf`, in log order, a page at a
 * time. Reading stops once the log is {@link AS_OF_READ_BEYOND_MS} past `asOf`.
 */
export async function* eventsUpTo(store: EventStore, filter: EventFilter, asOf: Date): AsyncGenerator<RecordedEvent> {
  const until = asOf.getTime();
  let after: Position | undefined;
  for (;;) {
    const page = await store.readAll({ after, maxCount: EVENTS_PER_READ, filter });
    for (const event of page) {
      after = event.position;
      const at = Date.parse(event.metadata.at);
      if (at > until + AS_OF_READ_BEYOND_MS) return;
      if (at <= until) yield event;
    }
    if (page.length < EVENTS_PER_READ) return;
  }
}

function jobView(id: string, stood: Stood<JobState>, scripts: Map<string, Stood<ScriptState>>, asOf: Date): JobAsOf | null {
  const content = jobContent(stood.state);
  if (!content || content.status !== 'active') return null;
  const { status: _status, ...fields } = content;
  const script = scripts.get(String(fields.scriptId))?.state;
  return {
    id,
    ...(fields as { name: string; scriptId: string }),
    scriptName: script?.status === 'active' ? script.name : null,
    version: publicVersion(stood.revision),
    createdAt: stood.createdAt,
    createdBy: stood.createdBy,
    updatedAt: stood.updatedAt,
    updatedBy: stood.updatedBy,
    asOf: asOf.toISOString(),
  };
}

function scriptView(id: string, stood: Stood<ScriptState>, asOf: Date): ScriptAsOf | null {
  const content = scriptContent(stood.state);
  if (!content || content.status !== 'active') return null;
  const { name, interpreter, body } = content as unknown as { name: string; interpreter: string; body: string };
  const { revision, state: _state, ...stamps } = stood;
  return { id, name, interpreter, body, version: publicVersion(revision), ...stamps, asOf: asOf.toISOString() };
}

const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);
