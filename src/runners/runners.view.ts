import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { RunsReadModel } from '../runs/runs.read-model';
import { RunnerPresence } from './runner-presence';
import { RunnerTokens } from './runner-tokens';
import type { RunnerKind } from './runner.events';
import { RunnersReadModel } from './runners.read-model';

/** One runner as `GET /api/runners` and the Runners page show it. */
export interface RunnerView {
  name: string;
  kind: RunnerKind;
  labels: string[];
  status: 'online' | 'offline';
  /** Its latest contact (ISO 8601), or null if it never connected. */
  lastSeenAt: string | null;
  /** The version it last reported, or null if it never connected. */
  softwareVersion: string | null;
  /** Ids of the runs it is executing, as the log records them (claimed, running or paused). */
  running: string[];
  /**
   * How it may connect: `api` (registered with `POST /api/runners`, revocable), `environment`
   * (`ENDERCOMPUTE_RUNNER_TOKENS` on this server), or null (a server's local runner, or a
   * runner another server's environment configures).
   */
  registration: 'api' | 'environment' | null;
}

/**
 * Every runner worth listing: registered ones (not revoked), those configured by this
 * server's environment, and any whose presence the log records (local runners of every
 * server sharing the store, job servers configured by other servers' environments), by name.
 */
@Injectable()
export class RunnersView {
  constructor(
    private readonly config: AppConfig,
    private readonly runners: RunnersReadModel,
    private readonly presence: RunnerPresence,
    private readonly tokens: RunnerTokens,
    private readonly runs: RunsReadModel,
  ) {}

  list(): RunnerView[] {
    const online = new Set(this.presence.online().map((runner) => runner.name));
    const views = new Map<string, RunnerView>();
    for (const record of this.runners.list()) {
      if (record.revokedAt !== null && !record.registered) continue;
      // This server's own local runner from earlier starts, now turned off: not a runner any more (unless it still has runs to end).
      if (record.name === this.config.runnerId && !this.config.localRunner && this.running(record.name).length === 0) continue;
      const lastSeen = this.presence.lastContactAt(record.name);
      views.set(record.name, {
        name: record.name,
        kind: record.kind ?? 'remote',
        labels: record.labels,
        status: online.has(record.name) ? 'online' : 'offline',
        lastSeenAt: lastSeen?.toISOString() ?? null,
        softwareVersion: record.softwareVersion,
        running: this.running(record.name),
        registration: record.registered ? 'api' : this.tokens.isConfigured(record.name) ? 'environment' : null,
      });
    }
    for (const name of this.tokens.configuredNames()) {
      if (views.has(name)) continue;
      views.set(name, { name, kind: 'remote', labels: [], status: 'offline', lastSeenAt: null, softwareVersion: null, running: this.running(name), registration: 'environment' });
    }
    return [...views.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private running(name: string): string[] {
    return this.runs.executingRuns(name).map((run) => run.id);
  }
}
