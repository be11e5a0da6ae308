import { normalizeLabels } from './placement';
import type { RunnerRecord } from './runners.read-model';
import type { RunnerConnected, RunnerDisconnected, RunnerKind, RunnerSeen } from './runner.events';

/** What a runner reports on each request (the protocol passes it to `RunnerPresence.contact`). */
export interface ContactReport {
  labels: string[];
  softwareVersion: string;
  maxConcurrent: number;
  /** Run ids it is executing. */
  running: string[];
}

/** How often presence is recorded, and when silence means offline; milliseconds. */
export interface PresenceTiming {
  /** A runner in steady contact gets a `RunnerSeen` at most this often. */
  leaseMs: number;
  /** Without contact for this long a runner is offline (and its runs are lost). */
  lostMs: number;
}

/**
 * The lease is a minute (the "at most one event per runner per minute while
 * idle"), or half the lost time when that is shorter (tests set it to seconds), so that
 * every server sharing the store sees a runner in steady contact renew its lease at least
 * once before it would count as lost.
 */
export function presenceTiming(lostSeconds: number): PresenceTiming {
  const lostMs = lostSeconds * 1000;
  return { leaseMs: Math.min(60_000, Math.floor(lostMs / 2)), lostMs };
}

/**
 * What one contact records, if anything: `RunnerConnected` when the runner is not
 * connected in the log (first seen, or back after a goodbye or a time-out) or reports
 * other labels, version, capacity or kind; `RunnerSeen` once its lease is due; else nothing.
 * `now`: the server's clock; `record`: the read model's view of the runner (null: never seen).
 */
export function decideContact(
  record: RunnerRecord | null,
  name: string,
  kind: RunnerKind,
  report: ContactReport,
  now: Date,
  timing: PresenceTiming,
): RunnerConnected | RunnerSeen | null {
  const labels = runnerLabels(report.labels);
  const changed =
    record === null ||
    !record.connected ||
    record.kind !== kind ||
    record.softwareVersion !== report.softwareVersion ||
    record.maxConcurrent !== report.maxConcurrent ||
    !sameSet(runnerLabels(record.labels), labels);
  if (changed) {
    return {
      type: 'RunnerConnected',
      data: { name, kind, labels, softwareVersion: report.softwareVersion, maxConcurrent: report.maxConcurrent, running: [...report.running] },
    };
  }
  const last = record.lastContactAt === null ? Number.NEGATIVE_INFINITY : Date.parse(record.lastContactAt);
  if (now.getTime() - last >= timing.leaseMs) return { type: 'RunnerSeen', data: { name, running: [...report.running] } };
  return null;
}

/**
 * Whether a runner counts as online: connected in the log, and heard from (`lastContactMs`,
 * the latest of the log's and this server's own knowledge) within the lost time.
 */
export function isOnline(record: RunnerRecord, lastContactMs: number | null, now: Date, timing: PresenceTiming): boolean {
  return record.connected && lastContactMs !== null && now.getTime() - lastContactMs < timing.lostMs;
}

/** Whether the sweep should record a connected runner as timed out. */
export function decideTimeout(record: RunnerRecord, lastContactMs: number | null, now: Date, timing: PresenceTiming): RunnerDisconnected | null {
  if (!record.connected || isOnline(record, lastContactMs, now, timing)) return null;
  return { type: 'RunnerDisconnected', data: { name: record.name, reason: 'timed out' } };
}

/** Labels as placement stores them (lower case, each once, in the order given), blanks left out. */
function runnerLabels(labels: readonly string[]): string[] {
  return normalizeLabels(labels.map((label) => label.trim()).filter((label) => label !== ''));
}

/** Whether two label lists hold the same labels, whatever their order. */
function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((label) => b.includes(label));
}
