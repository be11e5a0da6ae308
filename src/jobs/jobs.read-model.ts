import { Injectable } from '@nestjs/common';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection } from '../projections/projection';
import type { NameHolder } from '../scripts/script.decider';
import { nameKey } from '../shared/names';
import { withDefinitionDefaults, type JobEvent, type JobFile, type JobSchedule } from './job.events';
import { readableJobEvent } from './job.upcast';

/** A job as stored in the read model (the API adds `lastRun` from the runs read model). */
export interface JobRecord {
  id: string;
  name: string;
  description: string;
  scriptId: string;
  args: string[];
  env: Record<string, string>;
  files: JobFile[];
  tags: string[];
  timeoutSeconds: number | null;
  /** Runs of this job that may execute at once; null: only the server's limit. */
  maxConcurrent: number | null;
  schedules: JobSchedule[];
  /** Its runs' work directories are kept after they end (see `WorkdirRetention`). */
  keepWorkdir: boolean;
  /** Output of finished runs kept for the newest this many; null: all kept. */
  keepRuns: number | null;
  version: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
  /** Lowercased name, description and tags, for the search bar. */
  searchText: string;
}

/** Jobs, projected from their events; removed ones are forgotten. */
@Injectable()
export class JobsReadModel implements Projection {
  readonly name = 'jobs';
  readonly version = 0;
  /** Still in memory: takes no tables (it moves to the projection database). */
  open(): void {}
  private readonly byId = new Map<string, JobRecord>();
  private readonly idByNameKey = new Map<string, string>();
  /** Every id a job was created with, removed ones included. */
  private readonly issuedIds = new Set<string>();
  /** Bumped when a job is created or changed with a `keepRuns`: retention sweeps when it moves. */
  private keepRunsEpoch = 0;

  apply(recorded: RecordedEvent): void {
    if (!recorded.stream.startsWith('job-')) return;
    // Read through the upcast: a value a job can never hold is not applied (see job.upcast.ts).
    const event = readableJobEvent({ type: recorded.type, data: recorded.data } as JobEvent);
    const { at, actor } = recorded.metadata;
    const stamp = { version: Number(recorded.revision), updatedAt: at, updatedBy: actor };
    if ((event.type === 'JobCreated' || event.type === 'JobUpdated') && (event.data as { keepRuns?: unknown }).keepRuns !== undefined) this.keepRunsEpoch++;
    switch (event.type) {
      case 'JobCreated': {
        const { jobId, ...definition } = event.data;
        const job: JobRecord = { id: jobId, ...withDefinitionDefaults(definition), files: [], createdAt: at, createdBy: actor, ...stamp, searchText: '' };
        job.searchText = searchTextOf(job);
        this.byId.set(jobId, job);
        this.idByNameKey.set(nameKey(job.name), jobId);
        this.issuedIds.add(jobId);
        return;
      }
      case 'JobUpdated': {
        const job = this.byId.get(event.data.jobId);
        if (!job) return;
        // All or nothing: the new record is built (the step that can fail) before anything changes.
        const { jobId: _id, ...changes } = event.data;
        const next: JobRecord = { ...job, ...changes, ...stamp, searchText: searchTextOf({ ...job, ...changes }) };
        if (event.data.name !== undefined) {
          this.forgetName(job);
          this.idByNameKey.set(nameKey(event.data.name), job.id);
        }
        this.byId.set(job.id, next);
        return;
      }
      case 'JobFileAttached': {
        const job = this.byId.get(event.data.jobId);
        if (!job) return;
        const file = event.data.file;
        job.files = [...job.files.filter((f) => f.name !== file.name), file].sort((a, b) => a.name.localeCompare(b.name));
        Object.assign(job, stamp);
        return;
      }
      case 'JobFileRemoved': {
        const job = this.byId.get(event.data.jobId);
        if (!job) return;
        job.files = job.files.filter((f) => f.name !== event.data.name);
        Object.assign(job, stamp);
        return;
      }
      case 'JobRemoved': {
        const job = this.byId.get(event.data.jobId);
        if (!job) return;
        this.byId.delete(job.id);
        this.forgetName(job);
        return;
      }
      default:
        return;
    }
  }

  /** Changes whenever a job's `keepRuns` may have changed. */
  get retentionEpoch(): number {
    return this.keepRunsEpoch;
  }

  get(id: string): JobRecord | undefined {
    return this.byId.get(id);
  }

  /**
   * By id, or else by name (NFC, case-insensitive): wherever a job id is accepted, its
   * name is too. An id this log ever issued means that job only, so a removed job's id
   * finds nothing, forever — never a job that is named like it (old logs may hold one).
   */
  find(idOrName: string): JobRecord | undefined {
    if (this.issuedIds.has(idOrName)) return this.byId.get(idOrName);
    return this.byId.get(this.idByNameKey.get(nameKey(idOrName)) ?? '');
  }

  /** Whether `value` is (or was) a job's id or is a job's name: a new id must be neither. */
  isTaken(value: string): boolean {
    return this.issuedIds.has(value) || this.idByNameKey.has(nameKey(value));
  }

  /** Drops the job's name from the index, unless another job holds that key (two old look-alike names). */
  private forgetName(job: JobRecord): void {
    const key = nameKey(job.name);
    if (this.idByNameKey.get(key) === job.id) this.idByNameKey.delete(key);
  }

  nameHolder(name: string): NameHolder | null {
    const id = this.idByNameKey.get(nameKey(name));
    const job = id ? this.byId.get(id) : undefined;
    return job ? { id: job.id, name: job.name } : null;
  }

  usingScript(scriptId: string): JobRecord[] {
    return this.all().filter((job) => job.scriptId === scriptId);
  }

  /** Every job, by name. */
  all(): JobRecord[] {
    return [...this.byId.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get size(): number {
    return this.byId.size;
  }
}

function searchTextOf(job: Pick<JobRecord, 'name' | 'description' | 'tags'>): string {
  return nameKey([job.name, job.description, ...job.tags].join('\n'));
}
