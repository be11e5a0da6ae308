import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import type { EventMetadata } from '../event-store/event-store.port';
import { AppendFeed, type AppendNotice } from '../metrics/observed-event-store';
import type { RunEvent, RunFinished, RunRequested, RunStarted } from '../runs/run.events';
import { RunsReadModel } from '../runs/runs.read-model';
import { RootLogger } from './root-logger.provider';

/** A run changed state: what the log line and the run metrics are made of. */
export type RunLifecycleNote =
  | { kind: 'requested'; runId: string; job: string; actor: string; scheduledFor: string | null }
  | { kind: 'started'; runId: string; job: string; runner: string; pid: number }
  | { kind: 'paused' | 'resumed' | 'cancel requested'; runId: string; job: string; actor: string }
  | {
      kind: 'finished';
      runId: string;
      job: string;
      status: RunFinished['data']['status'];
      /** From `RunStarted` to `RunFinished` by their recorded times; null for a run that never started. */
      durationSeconds: number | null;
      exitCode: number | null;
      signal: string | null;
      outputBytes: number;
      reason: string | null;
    };

/** Runs this server has seen requested or started and not yet finished, at most this many (the oldest are forgotten). */
const MAX_TRACKED_RUNS = 10_000;

/**
 * Turns the run events this server appends (see {@link AppendFeed}) into lifecycle
 * notes, logs each as one line carrying the run id and job, and hands them to
 * listeners (the run metrics). One place for every state change, whichever code path
 * made it: the request handler, the executor, control commands, recovery (which ends
 * runs cut short by the last stop as `lost`), schedules.
 *
 * A run's job and start time come from its own `RunRequested`/`RunStarted` when this
 * process appended them, else from the runs read model (a run requested before a
 * restart, or on another server).
 */
@Injectable()
export class RunLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly log: Logger;
  private readonly tracked = new Map<string, { job: string; startedAtMs: number | null }>();
  private readonly listeners = new Set<(note: RunLifecycleNote) => void>();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly feed: AppendFeed,
    private readonly runs: RunsReadModel,
    root: RootLogger,
  ) {
    this.log = root.logger.child({ context: 'Runs' });
  }

  onModuleInit(): void {
    this.unsubscribe = this.feed.listen((notice) => this.observe(notice));
  }

  /**
   * Last, not at module destruction: Nest destroys modules before the graceful stop
   * (`beforeApplicationShutdown`), whose runs' ends must still be logged and counted.
   */
  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }

  /** Calls `listener` with every note from now on; returns the unsubscribe function. */
  onNote(listener: (note: RunLifecycleNote) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private observe(notice: AppendNotice): void {
    if (notice.result === null) return;
    for (const event of notice.events) {
      const note = this.noteOf(event as unknown as RunEvent, event.metadata);
      if (note === null) continue;
      this.write(note);
      for (const listener of this.listeners) listener(note);
    }
  }

  private noteOf(event: RunEvent, metadata: EventMetadata): RunLifecycleNote | null {
    const at = Date.parse(metadata.at);
    switch (event.type) {
      case 'RunRequested':
        return this.requested(event.data, metadata.actor);
      case 'RunStarted':
        return this.started(event.data, at);
      case 'RunPaused':
      case 'RunResumed':
      case 'RunCancelRequested': {
        const kind = event.type === 'RunPaused' ? 'paused' : event.type === 'RunResumed' ? 'resumed' : 'cancel requested';
        return { kind, runId: event.data.runId, job: this.jobOf(event.data.runId), actor: metadata.actor };
      }
      case 'RunFinished':
        return this.finished(event.data, at);
      default:
        // Claims, reschedules, output batches and expiries are not lifecycle lines.
        return null;
    }
  }

  private requested(data: RunRequested['data'], actor: string): RunLifecycleNote {
    this.track(data.runId, { job: data.jobName, startedAtMs: null });
    return { kind: 'requested', runId: data.runId, job: data.jobName, actor, scheduledFor: data.scheduledFor };
  }

  private started(data: RunStarted['data'], at: number): RunLifecycleNote {
    const job = this.jobOf(data.runId);
    this.track(data.runId, { job, startedAtMs: at });
    return { kind: 'started', runId: data.runId, job, runner: data.runner, pid: data.pid };
  }

  private finished(data: RunFinished['data'], at: number): RunLifecycleNote {
    const known = this.tracked.get(data.runId);
    const record = this.runs.get(data.runId);
    this.tracked.delete(data.runId);
    const startedAtMs = known?.startedAtMs ?? (record?.startedAt ? Date.parse(record.startedAt) : null);
    return {
      kind: 'finished',
      runId: data.runId,
      job: known?.job ?? record?.jobName ?? 'unknown',
      status: data.status,
      durationSeconds: startedAtMs === null ? null : Math.max(0, (at - startedAtMs) / 1000),
      exitCode: data.exitCode,
      signal: data.signal,
      outputBytes: data.outputBytes,
      reason: data.reason,
    };
  }

  private jobOf(runId: string): string {
    return this.tracked.get(runId)?.job ?? this.runs.get(runId)?.jobName ?? 'unknown';
  }

  private track(runId: string, entry: { job: string; startedAtMs: number | null }): void {
    this.tracked.delete(runId);
    this.tracked.set(runId, entry);
    if (this.tracked.size > MAX_TRACKED_RUNS) this.tracked.delete(this.tracked.keys().next().value as string);
  }

  private write(note: RunLifecycleNote): void {
    const { kind, ...fields } = note;
    const line = { event: `run ${kind}`, ...fields };
    const name = `${note.job} (${note.runId})`;
    switch (note.kind) {
      case 'requested':
        return this.log.info(line, `Run ${name} requested by ${note.actor}${note.scheduledFor ? ` for ${note.scheduledFor}` : ''}`);
      case 'started':
        return this.log.info(line, `Run ${name} started (pid ${note.pid})`);
      case 'paused':
      case 'resumed':
      case 'cancel requested':
        return this.log.info(line, `Run ${name} ${note.kind} by ${note.actor}`);
      case 'finished': {
        const took = note.durationSeconds === null ? 'never started' : `after ${note.durationSeconds.toFixed(1)} s`;
        const message = `Run ${name} ${note.status === 'lost' ? 'lost' : `finished: ${note.status}`}, ${took}${note.reason ? `: ${note.reason}` : ''}`;
        return note.status === 'lost' ? this.log.warn(line, message) : this.log.info(line, message);
      }
    }
  }
}
