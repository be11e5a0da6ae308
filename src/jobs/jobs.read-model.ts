import { Injectable } from '@nestjs/common';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection } from '../projections/projection';
import type { NameHolder } from '../scripts/script.decider';
import { withDefinitionDefaults, type JobEvent, type JobFile, type JobSchedule } from './job.events';

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
  private readonly byId = new Map<string, JobRecord>();
  private readonly idByLowerName = new Map<string, string>();

  apply(recorded: RecordedEvent): void {
    if (!recorded.stream.startsWith('job-')) return;
    const event = { type: recorded.type, data: recorded.data } as JobEvent;
    const { at, actor } = recorded.metadata;
    const stamp = { version: Number(recorded.revision), updatedAt: at, updatedBy: actor };
    switch (event.type) {
      case 'JobCreated': {
        const { jobId, ...definition } = event.data;
        const job: JobRecord = { id: jobId, ...withDefinitionDefaults(definition), files: [], createdAt: at, createdBy: actor, ...stamp, searchText: '' };
        job.searchText = searchTextOf(job);
        this.byId.set(jobId, job);
        this.idByLowerName.set(job.name.toLowerCase(), jobId);
        return;
      }
      case 'JobUpdated': {
        const job = this.byId.get(event.data.jobId);
        if (!job) return;
        if (event.data.name !== undefined) {
          this.idByLowerName.delete(job.name.toLowerCase());
          this.idByLowerName.set(event.data.name.toLowerCase(), job.id);
        }
        const { jobId: _id, ...changes } = event.data;
        Object.assign(job, changes, stamp);
        job.searchText = searchTextOf(job);
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
        this.idByLowerName.delete(job.name.toLowerCase());
        return;
      }
      default:
        return;
    }
  }

  get(id: string): JobRecord | undefined {
    return this.byId.get(id);
  }

  /** By id, or else by name (case-insensitive): wherever a job id is accepted, its name is too. */
  find(idOrName: string): JobRecord | undefined {
    return this.byId.get(idOrName) ?? this.byId.get(this.idByLowerName.get(idOrName.toLowerCase()) ?? '');
  }

  nameHolder(name: string): NameHolder | null {
    const id = this.idByLowerName.get(name.toLowerCase());
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
  return [job.name, job.description, ...job.tags].join('\n').toLowerCase();
}
