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

export type JobEvent = JobCreated | JobUpdated | JobFileAttached | JobFileRemoved | JobRemoved;

export const JOB_EVENT_TYPES: readonly JobEvent['type'][] = ['JobCreated', 'JobUpdated', 'JobFileAttached', 'JobFileRemoved', 'JobRemoved'];

export const jobStream = (jobId: string): string => `job-${jobId}`;

export const JOB_DEFINITION_FIELDS = ['name', 'description', 'scriptId', 'args', 'env', 'tags', 'timeoutSeconds'] as const;
