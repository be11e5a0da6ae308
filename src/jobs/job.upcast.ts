import { labelProblems } from '../runners/placement';
import type { JobDefinition, JobEvent } from './job.events';

/**
 * Which values each definition field may hold, as the API has always promised
 * to store them. Versions before the API refused `null` stored, for instance,
 * `JobUpdated {tags: null}`, which made every reader of the job fail.
 */
const VALID: { [K in keyof JobDefinition]-?: (value: unknown) => boolean } = {
  name: (value) => typeof value === 'string' && value !== '',
  description: (value) => typeof value === 'string',
  scriptId: (value) => typeof value === 'string' && value !== '',
  args: isStringList,
  env: (value) => typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string'),
  tags: isStringList,
  timeoutSeconds: (value) => value === null || (typeof value === 'number' && Number.isFinite(value)),
  maxConcurrent: (value) => value === null || (typeof value === 'number' && Number.isFinite(value)),
  keepRuns: (value) => value === null || (typeof value === 'number' && Number.isInteger(value) && value >= 1),
  schedules: (value) =>
    Array.isArray(value) &&
    value.every((s) => typeof s === 'object' && s !== null && typeof (s as { cron?: unknown }).cron === 'string' && typeof (s as { timeZone?: unknown }).timeZone === 'string'),
  keepWorkdir: (value) => typeof value === 'boolean',
  artifacts: isStringList,
  runsOn: (value) => labelProblems(value).length === 0,
};

/** What a field reads as in a `JobCreated` that recorded an impossible value. */
const DEFAULTS: { [K in keyof JobDefinition]-?: JobDefinition[K] } = {
  name: '(unnamed)',
  description: '',
  scriptId: '',
  args: [],
  env: {},
  tags: [],
  timeoutSeconds: null,
  maxConcurrent: null,
  keepRuns: null,
  schedules: [],
  keepWorkdir: false,
  artifacts: [],
  runsOn: [],
};

function isStringList(value: unknown): boolean {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/**
 * A job event as every reader (the decider, the read models) takes it: a
 * definition field recorded with a value it can never hold is read as "not
 * changed" in `JobUpdated`, and as its default in `JobCreated`. Valid events
 * pass unchanged. This is the upcast for logs written before `null` was refused
 * at the API (see docs/DESIGN.md, "Events a reader cannot apply").
 */
export function readableJobEvent(event: JobEvent): JobEvent {
  if (event.type !== 'JobCreated' && event.type !== 'JobUpdated') return event;
  const data = event.data as Record<string, unknown>;
  const invalid = (Object.keys(VALID) as (keyof JobDefinition)[]).filter((field) => data[field] !== undefined && !VALID[field](data[field]));
  if (invalid.length === 0) return event;
  const cleaned: Record<string, unknown> = { ...data };
  for (const field of invalid) {
    if (event.type === 'JobUpdated') delete cleaned[field];
    else cleaned[field] = DEFAULTS[field];
  }
  return { type: event.type, data: cleaned } as JobEvent;
}
