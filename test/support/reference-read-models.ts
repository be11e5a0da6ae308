/**
 * The read models as they were before they moved to SQL (in memory, scanning), kept as
 * the straightforward reference the SQL ones must agree with: same events in, same
 * answers out (test/unit/read-models-sql.unit.spec.ts).
 */
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import { withDefinitionDefaults, type JobEvent } from '../../src/jobs/job.events';
import { readableJobEvent } from '../../src/jobs/job.upcast';
import type { JobRecord } from '../../src/jobs/jobs.read-model';
import { storedOutputLength } from '../../src/runs/output-encoding';
import { OUTPUT_STREAM_PREFIX, type RunEvent, type RunOutputAppended, type RunRequested } from '../../src/runs/run.events';
import type { RunFilter, RunRecord, RunStatus } from '../../src/runs/runs.read-model';
import { nameKey } from '../../src/shared/names';
import type { Removal, Removals } from '../../src/shared/removals';

/** Runs, projected from their events, with the queue order the scheduler follows. */
export class ReferenceRuns {
  /**
   * Every run in request order; `seq` is the index. A run's place is taken when its job
   * admits it (`JobRunAdmitted`, serialised per job), not when its `RunRequested` lands
   * a moment later, so a job's runs keep the order of their numbers even when two
   * requests' second appends cross. A place whose request was voided stays empty.
   */
  private readonly ordered: Array<RunRecord | undefined> = [];
  /** Places taken by admissions whose `RunRequested` has not been seen: the index and the time of the admission. */
  private readonly admitted = new Map<string, { seq: number; at: string }>();
  /** Finished runs in the order they finished; `finishSeq` is the index. */
  private readonly finished: RunRecord[] = [];
  private readonly byId = new Map<string, RunRecord>();
  private readonly byJob = new Map<string, RunRecord[]>();
  /** Runs waiting for a runner (queued or scheduled), in request order. */
  private readonly waiting = new Set<RunRecord>();
  /** Runs claimed or running, by any runner. */
  private readonly executing = new Set<RunRecord>();
  /** How many runs finished since start: retention sweeps when it moves. */
  private finishes = 0;

  apply(recorded: RecordedEvent): void {
    if (recorded.type === 'JobRunAdmitted' && recorded.stream.startsWith('job-')) {
      this.admitted.set((recorded.data as { runId: string }).runId, { seq: this.ordered.length, at: recorded.metadata.at });
      this.ordered.push(undefined);
      return;
    }
    if (recorded.stream.startsWith(OUTPUT_STREAM_PREFIX)) {
      // Bulk: indexed, but not a change of the run (its version counts the run stream's facts).
      if (recorded.type === 'RunOutputAppended') this.indexOutput(recorded);
      return;
    }
    if (!recorded.stream.startsWith('run-')) return;
    const event = { type: recorded.type, data: recorded.data } as RunEvent;
    const { at, actor } = recorded.metadata;
    if (event.type === 'RunRequested') {
      this.addRequested(event.data, recorded);
      return;
    }
    const run = this.byId.get((event.data as { runId: string }).runId);
    if (!run) return;
    run.version = Number(recorded.revision);
    switch (event.type) {
      case 'RunClaimed':
        run.phase = 'claimed';
        run.runner = event.data.runner;
        run.workdir = event.data.workdir;
        this.waiting.delete(run);
        this.executing.add(run);
        return;
      case 'RunStarted':
        run.phase = 'running';
        run.pid = event.data.pid;
        run.processStartTicks = event.data.processStartTicks;
        run.startedAt = at;
        return;
      case 'RunOutputAppended':
        // A log from before output had a stream of its own.
        this.indexOutput(recorded);
        return;
      case 'RunOutputExpired':
        run.outputExpiredAt = at;
        run.outputExpiredBy = event.data.by;
        // The index points at deleted events now: drop it (and its memory).
        run.outputChunks = [];
        return;
      case 'RunCancelRequested':
        run.cancelRequestedBy = actor;
        run.cancelRequestedAt = at;
        if (run.phase === 'paused') this.endPause(run, at);
        return;
      case 'RunPaused':
        if (run.phase !== 'running') return;
        run.phase = 'paused';
        run.pausedAt = at;
        return;
      case 'RunResumed':
        if (run.phase === 'paused') this.endPause(run, at);
        return;
      case 'RunRescheduled':
        run.scheduledFor = event.data.scheduledFor;
        return;
      case 'RunFinished':
        if (run.phase === 'paused') this.endPause(run, at);
        run.phase = 'finished';
        run.finishedAt = at;
        if (run.finishSeq === null) {
          run.finishSeq = this.finished.length;
          this.finished.push(run);
        }
        run.finishedStatus = event.data.status;
        run.exitCode = event.data.exitCode;
        run.signal = event.data.signal;
        run.reason = event.data.reason;
        run.outputBytes = event.data.outputBytes;
        run.droppedBytes = event.data.droppedBytes;
        this.finishes++;
        this.waiting.delete(run);
        this.executing.delete(run);
        return;
      default:
        return;
    }
  }

  /** Adds a stored batch to its run's index (from whichever stream holds it). */
  private indexOutput(recorded: RecordedEvent): void {
    const data = recorded.data as RunOutputAppended['data'];
    const run = this.byId.get(data.runId);
    // An expired run's batches can still pass by on EventStoreDB until a scavenge: not indexed again.
    if (!run || run.outputExpiredAt !== null) return;
    const length = storedOutputLength(data);
    run.outputChunks.push({ stream: recorded.stream, revision: recorded.revision, offset: data.offset, length });
    run.outputBytes = data.offset + length;
  }

  get(id: string): RunRecord | undefined {
    return this.byId.get(id);
  }

  /** The status a person sees now: a scheduled run whose time has come is queued. */
  statusOf(run: RunRecord, now: Date): RunStatus {
    switch (run.phase) {
      case 'absent':
      case 'waiting':
        return run.scheduledFor !== null && Date.parse(run.scheduledFor) > now.getTime() ? 'scheduled' : 'queued';
      case 'claimed':
        return 'queued';
      case 'running':
        return 'running';
      case 'paused':
        return 'paused';
      case 'finished':
        return run.finishedStatus ?? 'failed';
    }
  }

  /**
   * Runs waiting for a runner whose time has come, first in first out: a run joins
   * the queue when it is requested, or when its scheduled time comes.
   */
  queued(now: Date): RunRecord[] {
    return [...this.waiting].filter((run) => this.statusOf(run, now) === 'queued').sort(byQueueOrder);
  }

  /** 1 for the next run to start, or null when the run is not queued. */
  queuePosition(run: RunRecord, now: Date): number | null {
    if (run.phase !== 'waiting' || this.statusOf(run, now) !== 'queued') return null;
    const position = this.queued(now).indexOf(run);
    return position < 0 ? null : position + 1;
  }

  /** The earliest future `scheduledFor` among waiting runs, for the scheduler's timer. */
  nextScheduledTime(now: Date): number | null {
    let earliest: number | null = null;
    for (const run of this.waiting) {
      if (run.scheduledFor === null) continue;
      const time = Date.parse(run.scheduledFor);
      if (time > now.getTime() && (earliest === null || time < earliest)) earliest = time;
    }
    return earliest;
  }

  /** Runs claimed, running or paused on any runner. */
  executingRuns(): RunRecord[] {
    return [...this.executing];
  }

  /** Ids of a job's runs claimed, running or paused on any runner (for its `maxConcurrent`). */
  executingRunIdsForJob(jobId: string): string[] {
    const ids: string[] = [];
    for (const run of this.executing) if (run.jobId === jobId) ids.push(run.id);
    return ids;
  }

  forJob(jobId: string): readonly RunRecord[] {
    return this.byJob.get(jobId) ?? [];
  }

  latestForJob(jobId: string): RunRecord | undefined {
    const runs = this.byJob.get(jobId);
    return runs?.[runs.length - 1];
  }

  /** A job's latest finished run (its last outcome), or undefined. */
  latestFinishedForJob(jobId: string): RunRecord | undefined {
    const runs = this.byJob.get(jobId) ?? [];
    let latest: RunRecord | undefined;
    // Runs finish out of request order: the latest to finish, not the latest requested.
    for (let i = runs.length - 1; i >= 0; i--) {
      const run = runs[i];
      if (run.finishedAt !== null && (latest === undefined || run.finishedAt > (latest.finishedAt ?? ''))) latest = run;
    }
    return latest;
  }

  /** The number the next run of a job should get (a hint: the append decides). */
  nextNumber(jobId: string): number {
    const runs = this.byJob.get(jobId);
    return runs && runs.length > 0 ? Math.max(...runs.slice(-5).map((r) => r.number)) + 1 : 1;
  }

  /** Newest first (by request, or by finish: {@link RunFilter.order}), filtered; `next` is the cursor for the following page. */
  list(filter: RunFilter, now: Date): { items: RunRecord[]; next: number | null } {
    const items: RunRecord[] = [];
    const byFinish = filter.order === 'finished';
    const source = byFinish ? this.finished : filter.jobId !== undefined ? (this.byJob.get(filter.jobId) ?? []) : this.ordered;
    const cursorOf = (run: RunRecord): number => (byFinish ? (run.finishSeq ?? 0) : run.seq);
    const q = filter.q !== undefined ? nameKey(filter.q) : undefined;
    const by = filter.by !== undefined ? nameKey(filter.by) : undefined;
    for (let i = source.length - 1; i >= 0; i--) {
      const run = source[i];
      if (run === undefined) continue;
      if (filter.before !== undefined && cursorOf(run) >= filter.before) continue;
      if (byFinish && filter.jobId !== undefined && run.jobId !== filter.jobId) continue;
      if (filter.statuses && !filter.statuses.includes(this.statusOf(run, now))) continue;
      if (by !== undefined && nameKey(run.requestedBy) !== by) continue;
      if (q !== undefined && !searchTextOf(run).includes(q)) continue;
      if (items.length === filter.limit) return { items, next: cursorOf(items[items.length - 1]) };
      items.push(run);
    }
    return { items, next: null };
  }

  /**
   * Whether an event is output that retention expired: a batch of a run whose output
   * expired. SQLite removed it from `$all`; EventStoreDB keeps it there until its next
   * scavenge; a log from before output had a stream of its own keeps it in the run stream
   * (which is never deleted). Readers of `$all` for people (the audit) skip such events so
   * every store and every log shows the same.
   */
  isExpiredOutput(event: Pick<RecordedEvent, 'stream' | 'type' | 'data'>): boolean {
    if (event.type !== 'RunOutputAppended') return false;
    const runId = (event.data as { runId?: unknown } | null)?.runId;
    return typeof runId === 'string' && (this.byId.get(runId)?.outputExpiredAt ?? null) !== null;
  }

  /** How many `RunFinished` were applied: changes whenever a run finished (here or on another server). */
  get finishedCount(): number {
    return this.finishes;
  }

  /** Every run, in request order. */
  all(): RunRecord[] {
    return [...this.byId.values()];
  }

  get size(): number {
    return this.byId.size;
  }

  private addRequested(data: RunRequested['data'], recorded: RecordedEvent): void {
    if (this.byId.has(data.runId)) return;
    // Its place and request time are the admission's (logs from before admissions: the request's own).
    const admission = this.admitted.get(data.runId);
    this.admitted.delete(data.runId);
    const run: RunRecord = {
      id: data.runId,
      seq: admission?.seq ?? this.ordered.length,
      jobId: data.jobId,
      jobName: data.jobName,
      number: data.number,
      phase: 'waiting',
      snapshot: data.snapshot,
      extra: data.extra,
      requestedAt: admission?.at ?? recorded.metadata.at,
      requestedBy: recorded.metadata.actor,
      correlationId: recorded.metadata.correlationId,
      requestEventId: recorded.id,
      scheduledFor: data.scheduledFor,
      rerunOf: data.rerunOf,
      trigger: data.trigger ?? null,
      runsOn: data.runsOn ?? [],
      runner: null,
      pid: null,
      processStartTicks: null,
      workdir: null,
      startedAt: null,
      finishedAt: null,
      finishSeq: null,
      cancelRequestedBy: null,
      cancelRequestedAt: null,
      pausedAt: null,
      pausedMs: 0,
      finishedStatus: null,
      exitCode: null,
      signal: null,
      reason: null,
      outputBytes: 0,
      droppedBytes: 0,
      outputChunks: [],
      outputExpiredAt: null,
      outputExpiredBy: null,
      version: Number(recorded.revision),
    };
    if (admission) this.ordered[admission.seq] = run;
    else this.ordered.push(run);
    this.byId.set(run.id, run);
    const jobRuns = this.byJob.get(run.jobId) ?? [];
    // In `seq` order: usually at the end; before later places whose requests landed first.
    let at = jobRuns.length;
    while (at > 0 && jobRuns[at - 1].seq > run.seq) at--;
    jobRuns.splice(at, 0, run);
    this.byJob.set(run.jobId, jobRuns);
    this.waiting.add(run);
  }

  private endPause(run: RunRecord, at: string): void {
    if (run.pausedAt !== null) run.pausedMs += Math.max(0, Date.parse(at) - Date.parse(run.pausedAt));
    run.pausedAt = null;
    if (run.phase === 'paused') run.phase = 'running';
  }
}

/** When a waiting run joined the queue: its scheduled time, or else its request. */
function queuedSince(run: RunRecord): string {
  return run.scheduledFor !== null && run.scheduledFor > run.requestedAt ? run.scheduledFor : run.requestedAt;
}

function byQueueOrder(a: RunRecord, b: RunRecord): number {
  const x = queuedSince(a);
  const y = queuedSince(b);
  return x < y ? -1 : x > y ? 1 : a.seq - b.seq;
}

function searchTextOf(run: RunRecord): string {
  return nameKey(`${run.jobName}\n#${run.number}\n${run.requestedBy}\n${run.snapshot.args.join(' ')}\n${run.reason ?? ''}`);
}

/** Jobs, projected from their events; removed ones are forgotten. */
export class ReferenceJobs {
  private readonly byId = new Map<string, JobRecord>();
  private readonly idByNameKey = new Map<string, string>();
  /** Every id a job was created with, removed ones included. */
  private readonly issuedIds = new Set<string>();
  /** Every removal, oldest first, under the name the job had then. */
  private readonly removals: Array<Removal & { key: string }> = [];
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
        job.searchText = jobSearchTextOf(job);
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
        const next: JobRecord = { ...job, ...changes, ...stamp, searchText: jobSearchTextOf({ ...job, ...changes }) };
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
        this.removals.push({ id: job.id, name: job.name, removedAt: at, removedBy: actor, key: nameKey(job.name) });
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

  /** The removed jobs that had `name` when they were removed: the newest `limit` first, and how many in all. */
  removedNamed(name: string, limit: number): Removals {
    const all = this.removals.filter((removal) => removal.key === nameKey(name)).reverse();
    return { items: all.slice(0, limit).map(({ key: _key, ...removal }) => removal), total: all.length };
  }

  /** The name of each removed job when it was removed, in the order of the removals. */
  formerNames(): string[] {
    return this.removals.map((removal) => removal.name);
  }

  /** Drops the job's name from the index, unless another job holds that key (two old look-alike names). */
  private forgetName(job: JobRecord): void {
    const key = nameKey(job.name);
    if (this.idByNameKey.get(key) === job.id) this.idByNameKey.delete(key);
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

function jobSearchTextOf(job: Pick<JobRecord, 'name' | 'description' | 'tags'>): string {
  return nameKey([job.name, job.description, ...job.tags].join('\n'));
}
