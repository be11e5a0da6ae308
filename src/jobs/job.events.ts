/** Events of the `job-<id>` stream. Type names are stable strings: never rename them. */
export interface JobDefinition {
  name: string;
  description: string;
  scriptId: string;
  args: string[];
  env: Record<string, string>;
  tags: string[];
  /** Seconds a run may take before it is stopped; null: no limit. */
  timeoutSeconds: number | null;
  /**
   * How many of its runs may execute at once (1 serialises the job); null: only
   * the server's limit. Absent in events recorded before it existed: null.
   */
  maxConcurrent?: number | null;
  /**
   * Retention ("discard old builds"): the output of its finished runs is kept for the
   * newest this many by run number, and expires for older ones; null or absent: all kept.
   */
  keepRuns?: number | null;
  /** Recurring schedules; each firing requests a run as the actor `schedule`. Absent in older events: none. */
  schedules?: JobSchedule[];
  /**
   * Keep its runs' work directories after they end, for debugging (at most
   * `ENDERCOMPUTE_KEEP_WORKDIRS` kept in all). Absent in older events: false.
   */
  keepWorkdir?: boolean;
  /**
   * Glob patterns, relative to the work directory, of the files kept as the run's
   * artifacts (see `src/artifacts/`). Absent in older events: none.
   */
  artifacts?: string[];
  /**
   * Labels a runner must all have to take its runs (see `runners/placement.ts`), lower
   * case; empty: any runner. Absent in events recorded before it existed: [].
   */
  runsOn?: string[];
}

/** A recurring schedule: a cron expression read in an IANA time zone. */
export interface JobSchedule {
  /** Five fields (`0 3 * * 1-5`), or six with seconds first, or `@daily` and friends. */
  cron: string;
  timeZone: string;
}

export interface JobFile {
  name: string;
  size: number;
  sha256: string;
}

export interface JobCreated {
  type: 'JobCreated';
  data: { jobId: string } & JobDefinition;
}

export interface JobUpdated {
  type: 'JobUpdated';
  /** Only the fields that changed. */
  data: { jobId: string } & Partial<JobDefinition>;
}

export interface JobFileAttached {
  type: 'JobFileAttached';
  /** Attaching a name that exists replaces that file. The bytes live in the `blob-<sha256>` stream. */
  data: { jobId: string; file: JobFile };
}

export interface JobFileRemoved {
  type: 'JobFileRemoved';
  data: { jobId: string; name: string };
}

export interface JobRemoved {
  type: 'JobRemoved';
  data: { jobId: string };
}

/**
 * The job admitted a run: appended to the job's stream, with the expected revision,
 * before the run's `RunRequested`. It serialises run requests with the job's removal
 * (a removal that has not seen it conflicts; one that has, checks the run), and it
 * numbers the run. Bookkeeping, not a change of the job: its version stays.
 */
export interface JobRunAdmitted {
  type: 'JobRunAdmitted';
  data: { jobId: string; runId: string; number: number };
}

/**
 * A template's removal fenced off a change of this job that was under way (one that
 * declared use of the template but had not landed): appended expecting the revision
 * that change expects — no stream, for a creation — so the change conflicts and is
 * decided again, finding the template gone. Bookkeeping, not a change of the job.
 */
export interface JobChangeFenced {
  type: 'JobChangeFenced';
  data: { jobId: string; reason: string };
}

export type JobEvent = JobCreated | JobUpdated | JobFileAttached | JobFileRemoved | JobRemoved | JobRunAdmitted | JobChangeFenced;

export const JOB_EVENT_TYPES: readonly JobEvent['type'][] = [
  'JobCreated',
  'JobUpdated',
  'JobFileAttached',
  'JobFileRemoved',
  'JobRemoved',
  'JobRunAdmitted',
  'JobChangeFenced',
];

/** Whether a job event changes the job as people edit it (its version): all but the bookkeeping ones. */
export const changesJobVersion = (type: string): boolean => type !== 'JobRunAdmitted' && type !== 'JobChangeFenced';

export const jobStream = (jobId: string): string => `job-${jobId}`;

export const JOB_DEFINITION_FIELDS = [
  'name', 'description', 'scriptId', 'args', 'env', 'tags', 'timeoutSeconds', 'maxConcurrent', 'schedules',
  'keepWorkdir', 'keepRuns', 'artifacts', 'runsOn',
] as const;

/** A definition as recorded, read with today's defaults for fields added later (the upcast of old `JobCreated` events). */
export function withDefinitionDefaults<T extends Partial<JobDefinition>>(
  definition: T,
): T & Required<Pick<JobDefinition, 'maxConcurrent' | 'schedules' | 'keepWorkdir' | 'keepRuns' | 'artifacts' | 'runsOn'>> {
  return {
    ...definition,
    maxConcurrent: definition.maxConcurrent ?? null,
    schedules: definition.schedules ?? [],
    keepWorkdir: definition.keepWorkdir ?? false,
    keepRuns: definition.keepRuns ?? null,
    artifacts: definition.artifacts ?? [],
    runsOn: definition.runsOn ?? [],
  };
}
