import type { RunStatus } from '../runs/runs.read-model';

/**
 * Text helpers the templates call as `it.h.*`. They return plain text: the
 * templates escape it on output (`<%= %>`), so nothing here needs to escape.
 */

const STATUS_LABELS: Record<RunStatus | 'never', string> = {
  scheduled: 'Scheduled',
  queued: 'Queued',
  running: 'Running',
  paused: 'Paused',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
  timed_out: 'Timed out',
  lost: 'Lost',
  never: 'Never run',
};

/** The word shown beside a status colour (never colour alone). */
export function statusLabel(status: RunStatus | 'never'): string {
  return STATUS_LABELS[status] ?? status;
}

/** `2026-01-05 14:03:12 UTC`: the server's rendering; the browser localises it. */
export function absoluteTime(iso: string | null): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** `3 min ago`, `in 2 h`, `just now`: relative to `now`; the browser keeps it current. */
export function relativeTime(iso: string | null, now: Date): string {
  if (!iso) return '—';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((then - now.getTime()) / 1000);
  const magnitude = Math.abs(seconds);
  if (magnitude < 5) return 'just now';
  let text: string;
  if (magnitude < 60) text = `${magnitude} s`;
  else if (magnitude < 3600) text = `${Math.floor(magnitude / 60)} min`;
  else if (magnitude < 86_400) text = `${Math.floor(magnitude / 3600)} h`;
  else if (magnitude < 86_400 * 45) text = `${Math.floor(magnitude / 86_400)} d`;
  else if (magnitude < 86_400 * 365) text = `${Math.floor(magnitude / (86_400 * 30))} mo`;
  else text = `${Math.floor(magnitude / (86_400 * 365))} y`;
  return seconds < 0 ? `${text} ago` : `in ${text}`;
}

/** `1.2 s`, `3m 05s`, `2h 14m`: a run's duration. */
export function duration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 60) return `${totalSeconds} s`;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, '0')}m`;
  return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
}

/** `512 B`, `3.4 KiB`, `12 MiB`. */
export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = count / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A path segment for a URL: ids are URL-safe already, names may not be. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

/** A query string from the non-empty values, starting with `?` (or empty). */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** `exit 0`, `exit 1`, `signal SIGKILL`, or a dash. */
export function exitText(exitCode: number | null, signal: string | null): string {
  if (signal) return `signal ${signal}`;
  if (exitCode !== null) return `exit ${exitCode}`;
  return '—';
}

/** Plurals for counts in sentences: `1 job`, `3 jobs`. */
export function plural(count: number, word: string, pluralWord = `${word}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? word : pluralWord}`;
}

/** The number of a run from its id (`<jobId>-<number>`), for "re-run of #3". */
export function runNumber(runId: string): string {
  const match = /-(\d+)$/.exec(runId);
  return match ? match[1] : runId;
}

/** `1 at a time`, `3 at once`, or `No limit of its own`: a job's `maxConcurrent`. */
export function limitText(maxConcurrent: number | null): string {
  if (maxConcurrent === null) return 'No limit of its own';
  return maxConcurrent === 1 ? '1 at a time' : `${maxConcurrent} at once`;
}

/** The IANA time zones this server knows, UTC first: the schedules' suggestions. */
export const TIME_ZONES: readonly string[] = ['UTC', ...Intl.supportedValuesOf('timeZone').filter((zone) => zone !== 'UTC')];

export const viewHelpers = { statusLabel, absoluteTime, relativeTime, duration, bytes, seg, query, exitText, plural, runNumber, limitText, timeZones: TIME_ZONES };
export type ViewHelpers = typeof viewHelpers;
