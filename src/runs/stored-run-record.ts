/**
 * A run record as the runs read model answers it from a row of `runs`: every column
 * but the bulky request as a plain field, and the request's snapshot and extras and
 * the output index read from the database when first looked at (lists show none of
 * them).
 *
 * A class, so that every record has one shape: the lazy fields are getters on its
 * prototype. Defined per record (`Object.defineProperty` with closures), they made
 * each record a slow dictionary object of about 4.4 KB, and building 10,000 of them
 * (a list of 10,000 jobs) took 115–145 ms against 4–8 ms as a class. The getters are
 * not own properties: a copy made with `{...record}` holds the columns only.
 */
import type { Statement } from './runs.statements';
import type { OutputChunkRef, RunRecord } from './runs.read-model';
import type { RunRequested, RunSnapshot, RunTrigger } from './run.events';
import type { RunRow } from './runs.schema';

/** Where a record reads what it holds lazily: `requestOf` (snapshot, extra by seq) and `chunks` (the output index by seq). */
export interface RunRecordSources {
  requestOf: Statement;
  chunks: Statement;
}

/** The columns' fields, as {@link RunRecord} declares them (merged into the class, so they are listed once). */
export interface StoredRunRecord extends Omit<RunRecord, 'snapshot' | 'extra' | 'outputChunks'> {}

export class StoredRunRecord implements RunRecord {
  readonly #sources: RunRecordSources;
  #request: { snapshot: string; extra: string } | undefined;
  #snapshot: RunSnapshot | undefined;
  #extra: RunRequested['data']['extra'] | undefined;
  #chunks: OutputChunkRef[] | undefined;

  constructor(row: RunRow, sources: RunRecordSources) {
    this.id = row.id;
    this.seq = row.seq;
    this.jobId = row.job_id;
    this.jobName = row.job_name;
    this.number = row.number;
    this.phase = row.phase;
    this.requestedAt = row.requested_at;
    this.requestedBy = row.requested_by;
    this.correlationId = row.correlation_id;
    this.requestEventId = row.request_event_id;
    this.scheduledFor = row.scheduled_for;
    this.rerunOf = row.rerun_of;
    this.trigger = row.run_trigger === null ? null : (JSON.parse(row.run_trigger) as RunTrigger);
    this.runsOn = row.runs_on === null ? [] : (JSON.parse(row.runs_on) as string[]);
    this.runner = row.runner;
    this.pid = row.pid;
    this.processStartTicks = row.process_start_ticks;
    this.workdir = row.workdir;
    this.startedAt = row.started_at;
    this.finishedAt = row.finished_at;
    this.finishSeq = row.finish_seq;
    this.cancelRequestedBy = row.cancel_requested_by;
    this.cancelRequestedAt = row.cancel_requested_at;
    this.pausedAt = row.paused_at;
    this.pausedMs = row.paused_ms;
    this.finishedStatus = row.finished_status;
    this.exitCode = row.exit_code;
    this.signal = row.signal;
    this.reason = row.reason;
    this.outputBytes = row.output_bytes;
    this.droppedBytes = row.dropped_bytes;
    this.outputExpiredAt = row.output_expired_at;
    this.outputExpiredBy = row.output_expired_by;
    this.version = row.version;
    this.#sources = sources;
  }

  /** The job's snapshot the run was requested with (parsed when first read; settable like a field). */
  get snapshot(): RunSnapshot {
    return (this.#snapshot ??= JSON.parse(this.#stored().snapshot) as RunSnapshot);
  }

  set snapshot(value: RunSnapshot) {
    this.#snapshot = value;
  }

  /** The request's extras (parsed when first read; settable like a field). */
  get extra(): RunRequested['data']['extra'] {
    return (this.#extra ??= JSON.parse(this.#stored().extra) as RunRequested['data']['extra']);
  }

  set extra(value: RunRequested['data']['extra']) {
    this.#extra = value;
  }

  /** Its stored output batches in order (read when first looked at; settable like a field). */
  get outputChunks(): OutputChunkRef[] {
    this.#chunks ??= (this.#sources.chunks.all(this.seq) as Array<{ stream: string; revision: number; byte_offset: number; length: number }>).map((chunk) => ({
      stream: chunk.stream,
      revision: BigInt(chunk.revision),
      offset: chunk.byte_offset,
      length: chunk.length,
    }));
    return this.#chunks;
  }

  set outputChunks(value: OutputChunkRef[]) {
    this.#chunks = value;
  }

  /** The request's stored snapshot and extras, read once. */
  #stored(): { snapshot: string; extra: string } {
    return (this.#request ??= this.#sources.requestOf.get(this.seq) as { snapshot: string; extra: string });
  }
}
