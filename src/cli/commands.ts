import { readFile } from 'node:fs/promises';
import type { ApiClient } from './client';
import type { JobView } from '../jobs/job.view';
import type { RunView } from '../runs/run.view';
import type { ScriptView } from '../scripts/scripts.read-model';
import { duration, table, when } from './format';

/** What a command needs: the client, its options and positional words, and where to write. */
export interface CommandInput {
  api: ApiClient;
  options: Record<string, string | boolean | string[] | undefined>;
  words: string[];
  json: boolean;
  out: (text: string) => void;
}

/** A command's exit code (0 = success). */
export type Command = (input: CommandInput) => Promise<number>;

// The API's own shapes: type-only imports, nothing of the server is loaded by the CLI.
type Script = ScriptView;
type Job = JobView;
type Run = RunView;

const FINISHED = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'lost']);

function need(words: string[], index: number, what: string): string {
  const word = words[index];
  if (word === undefined || word === '') throw new UsageError(`Missing ${what}`);
  return word;
}

export class UsageError extends Error {}

const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)]);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const path = (segment: string): string => encodeURIComponent(segment);

/** `--env K=V` pairs into an object. */
function envOf(values: string[]): Record<string, string> | undefined {
  if (values.length === 0) return undefined;
  const env: Record<string, string> = {};
  for (const pair of values) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--env takes NAME=value, not "${pair}"`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

function print(input: CommandInput, value: unknown, human: () => string): number {
  input.out(input.json ? JSON.stringify(value, null, 2) : human());
  return 0;
}

function runRow(run: Run): Array<string | number | null> {
  const timing = run.status === 'scheduled' ? `at ${when(run.scheduledFor)}` : when(run.startedAt ?? run.requestedAt);
  return [run.id, `${run.jobName} #${run.number}`, run.status, run.requestedBy, timing, duration(run.durationMs)];
}

export const health: Command = async (input) => print(input, await input.api.json('GET', '/api/health'), () => 'ok');

export const scripts: Record<string, Command> = {
  list: async (input) => {
    const { items } = await input.api.json<{ items: Script[] }>('GET', '/api/scripts');
    return print(input, items, () => table(['ID', 'NAME', 'INTERPRETER', 'VERSION', 'UPDATED', 'BY'], items.map((s) => [s.id, s.name, s.interpreter, s.version, when(s.updatedAt), s.updatedBy])));
  },
  show: async (input) => {
    const script = await input.api.json<Script>('GET', `/api/scripts/${path(need(input.words, 0, 'template id or name'))}`);
    return print(input, script, () => `${script.name} (${script.interpreter}, version ${script.version})\n\n${script.body}`);
  },
  create: async (input) => {
    const body = await readFile(need([text(input.options.file) ?? ''], 0, '--file with the script body'), 'utf8');
    const script = await input.api.json<Script>('POST', '/api/scripts', { name: need(input.words, 0, 'template name'), body, interpreter: text(input.options.interpreter) });
    return print(input, script, () => `Created template ${script.name} (${script.id})`);
  },
  update: async (input) => {
    const file = text(input.options.file);
    const changes = { name: text(input.options.name), interpreter: text(input.options.interpreter), body: file ? await readFile(file, 'utf8') : undefined };
    const script = await input.api.json<Script>('PUT', `/api/scripts/${path(need(input.words, 0, 'template id or name'))}`, changes);
    return print(input, script, () => `Updated template ${script.name} (version ${script.version})`);
  },
  remove: async (input) => {
    await input.api.json('DELETE', `/api/scripts/${path(need(input.words, 0, 'template id or name'))}`);
    return print(input, { removed: input.words[0] }, () => `Removed template ${input.words[0]}`);
  },
};

/**
 * A whole number typed on the command line, or the text itself, for the
 * server to refuse by name: never `Number('abc')`, which JSON sends as `null`
 * (and `timeoutSeconds: null` would silently clear the limit).
 */
function numberOrText(value: string): number | string {
  return /^\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : value;
}

function jobFields(input: CommandInput): Record<string, unknown> {
  const timeout = text(input.options.timeout);
  if (input.options['keep-workdir'] === true && input.options['no-keep-workdir'] === true) {
    throw new UsageError('Give --keep-workdir or --no-keep-workdir, not both');
  }
  const keepWorkdir = input.options['keep-workdir'] === true ? true : input.options['no-keep-workdir'] === true ? false : undefined;
  const keep = text(input.options['keep-runs']);
  return {
    scriptId: text(input.options.script),
    description: text(input.options.description),
    args: input.options.arg !== undefined ? list(input.options.arg) : undefined,
    env: envOf(list(input.options.env)),
    tags: input.options.tag !== undefined ? list(input.options.tag) : undefined,
    timeoutSeconds: timeout === undefined ? undefined : timeout === 'none' ? null : numberOrText(timeout),
    keepWorkdir,
    keepRuns: keep === undefined ? undefined : keep === 'all' ? null : numberOrText(keep),
  };
}

export const jobs: Record<string, Command> = {
  list: async (input) => {
    const query = new URLSearchParams();
    for (const [key, option] of [['q', 'search'], ['tag', 'tag'], ['lastStatus', 'last-status']] as const) {
      const value = text(input.options[option]);
      if (value !== undefined) query.set(key, value);
    }
    const { items } = await input.api.json<{ items: Job[] }>('GET', `/api/jobs?${query}`);
    return print(input, items, () =>
      table(['NAME', 'TEMPLATE', 'TAGS', 'LAST RUN'], items.map((j) => [j.name, j.scriptName, j.tags.join(','), j.lastRun ? `#${j.lastRun.number} ${j.lastRun.status}` : ''])),
    );
  },
  show: async (input) => {
    const job = await input.api.json<Job>('GET', `/api/jobs/${path(need(input.words, 0, 'job id or name'))}`);
    return print(input, job, () =>
      [
        `${job.name} (${job.id}, version ${job.version})`,
        job.description,
        `template: ${job.scriptName ?? '(removed)'}`,
        `args:     ${JSON.stringify(job.args)}`,
        `env:      ${Object.keys(job.env).join(', ') || '-'}`,
        `tags:     ${job.tags.join(', ') || '-'}`,
        `timeout:  ${job.timeoutSeconds === null ? 'none' : `${job.timeoutSeconds} s`}`,
        `output:   ${job.keepRuns == null ? 'kept for every run' : `kept for the newest ${job.keepRuns} finished runs`}`,
        `files:    ${job.files.map((f) => `${f.name} (${f.size} B)`).join(', ') || '-'}`,
        `workdirs: ${job.keepWorkdir ? 'kept after each run' : 'removed when each run ends'}`,
      ].join('\n'),
    );
  },
  create: async (input) => {
    const job = await input.api.json<Job>('POST', '/api/jobs', { name: need(input.words, 0, 'job name'), ...jobFields(input) });
    return print(input, job, () => `Created job ${job.name} (${job.id})`);
  },
  update: async (input) => {
    const job = await input.api.json<Job>('PUT', `/api/jobs/${path(need(input.words, 0, 'job id or name'))}`, { name: text(input.options.name), ...jobFields(input) });
    return print(input, job, () => `Updated job ${job.name} (version ${job.version})`);
  },
  remove: async (input) => {
    await input.api.json('DELETE', `/api/jobs/${path(need(input.words, 0, 'job id or name'))}`);
    return print(input, { removed: input.words[0] }, () => `Removed job ${input.words[0]}`);
  },
  attach: async (input) => {
    const files = input.words.slice(1);
    if (files.length === 0) throw new UsageError('Missing files to attach');
    const job = await input.api.multipart<Job>('POST', `/api/jobs/${path(need(input.words, 0, 'job id or name'))}/files`, files);
    return print(input, job, () => `Job ${job.name} now has: ${job.files.map((f) => f.name).join(', ')}`);
  },
  detach: async (input) => {
    await input.api.json('DELETE', `/api/jobs/${path(need(input.words, 0, 'job id or name'))}/files/${path(need(input.words, 1, 'file name'))}`);
    return print(input, { removed: input.words[1] }, () => `Removed ${input.words[1]}`);
  },
  run: async (input) => {
    const job = need(input.words, 0, 'job id or name');
    const fields = {
      args: list(input.options.arg),
      env: envOf(list(input.options.env)) ?? {},
      ...(text(input.options.at) ? { at: text(input.options.at) } : {}),
      ...(text(input.options.delay) ? { delaySeconds: numberOrText(text(input.options.delay) ?? '') } : {}),
    };
    const files = list(input.options.file);
    const run =
      files.length > 0
        ? await input.api.multipart<Run>('POST', `/api/jobs/${path(job)}/runs`, files, {
            args: JSON.stringify(fields.args),
            env: JSON.stringify(fields.env),
            ...('at' in fields ? { at: String(fields.at) } : {}),
            ...('delaySeconds' in fields ? { delaySeconds: String(fields.delaySeconds) } : {}),
          })
        : await input.api.json<Run>('POST', `/api/jobs/${path(job)}/runs`, fields);
    if (input.options.follow === true) return follow(input, run.id);
    return print(input, run, () => `Started ${run.jobName} #${run.number} (${run.id}): ${run.status}`);
  },
};

/** Streams a run's output to stdout until it finishes; the exit code is the run's. */
async function follow(input: CommandInput, runId: string): Promise<number> {
  let offset = 0;
  for (;;) {
    const run = await input.api.json<Run>('GET', `/api/runs/${path(runId)}`);
    if (run.outputBytes > offset) {
      const response = await input.api.raw(`/api/runs/${path(runId)}/output?offset=${offset}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      process.stdout.write(bytes);
      offset += bytes.length;
    }
    if (FINISHED.has(run.status) && offset >= run.outputBytes) {
      process.stderr.write(`\n${run.jobName} #${run.number}: ${run.status}${run.exitCode !== null ? ` (exit code ${run.exitCode})` : ''}${run.reason ? ` — ${run.reason}` : ''}\n`);
      return run.status === 'succeeded' ? 0 : run.exitCode !== null && run.exitCode > 0 ? run.exitCode : 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

export const runs: Record<string, Command> = {
  list: async (input) => {
    const query = new URLSearchParams();
    for (const [key, option] of [['status', 'status'], ['jobId', 'job'], ['by', 'by'], ['q', 'search'], ['limit', 'limit'], ['before', 'before']] as const) {
      const value = text(input.options[option]);
      if (value !== undefined) query.set(key, value);
    }
    const page = await input.api.json<{ items: Run[]; next: string | null }>('GET', `/api/runs?${query}`);
    return print(input, page, () =>
      table(['ID', 'RUN', 'STATUS', 'BY', 'WHEN', 'DURATION'], page.items.map(runRow)) + (page.next ? `\n(more: --before ${page.next})` : ''),
    );
  },
  show: async (input) => {
    const run = await input.api.json<Run>('GET', `/api/runs/${path(need(input.words, 0, 'run id'))}`);
    return print(input, run, () =>
      [
        `${run.jobName} #${run.number} (${run.id}): ${run.status}${run.exitCode !== null ? `, exit code ${run.exitCode}` : ''}${run.signal ? `, signal ${run.signal}` : ''}`,
        `requested ${when(run.requestedAt)} by ${run.requestedBy}`,
        run.scheduledFor ? `scheduled ${when(run.scheduledFor)}` : '',
        run.startedAt ? `started   ${when(run.startedAt)}` : '',
        run.finishedAt ? `finished  ${when(run.finishedAt)} after ${duration(run.durationMs)}` : '',
        `args: ${JSON.stringify(run.args)}`,
        run.reason ? `reason: ${run.reason}` : '',
        `output: ${run.outputBytes} bytes`,
        run.workdirKept === true ? `workdir: kept at ${run.workdir} (on ${run.runner})` : run.workdirKept === false && run.workdir ? 'workdir: removed' : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
  },
  output: async (input) => {
    const runId = need(input.words, 0, 'run id');
    if (input.options.follow === true) return follow(input, runId);
    const response = await input.api.raw(`/api/runs/${path(runId)}/output`);
    process.stdout.write(Buffer.from(await response.arrayBuffer()));
    return 0;
  },
  cancel: control('cancel'),
  pause: control('pause'),
  resume: control('resume'),
  rerun: control('rerun'),
};

function control(action: 'cancel' | 'pause' | 'resume' | 'rerun'): Command {
  return async (input) => {
    const run = await input.api.json<Run>('POST', `/api/runs/${path(need(input.words, 0, 'run id'))}/${action}`);
    return print(input, run, () => `${run.jobName} #${run.number} (${run.id}): ${run.status}`);
  };
}

export const events: Command = async (input) => {
  const query = new URLSearchParams();
  for (const [key, option] of [['jobId', 'job'], ['actor', 'actor'], ['type', 'type'], ['stream', 'stream'], ['after', 'after'], ['limit', 'limit']] as const) {
    const value = text(input.options[option]);
    if (value !== undefined) query.set(key, value);
  }
  const page = await input.api.json<{ items: Array<{ position: string; stream: string; type: string; metadata: { actor: string; at: string } }>; next: string | null }>(
    'GET',
    `/api/events?${query}`,
  );
  return print(input, page, () =>
    table(['POSITION', 'AT', 'ACTOR', 'TYPE', 'STREAM'], page.items.map((e) => [e.position, when(e.metadata.at), e.metadata.actor, e.type, e.stream])) +
      (page.next ? `\n(more: --after ${page.next})` : ''),
  );
};
