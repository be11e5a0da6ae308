import { readLocalText } from './local-file';
import type { ApiClient } from './client';
import type { JobView } from '../jobs/job.view';
import type { RunView } from '../runs/run.view';
import type { ScriptView } from '../scripts/scripts.read-model';
import { DownloadError, safeSegments, writeArtifact, type ListedArtifact } from './artifact-download';
import { cleanText, duration, shellWord, table, terminalSafeJson, when } from './format';
import { followOutput, type RunEnd } from './follow';
import { DELAY_SECONDS, EVENTS_PAGE, JOB_CONCURRENCY, KEEP_RUNS, RUNS_PAGE, TIMEOUT_SECONDS, wholeNumberFromText, wholeNumberWanted, type WholeNumberRange } from '../shared/whole-number';

/**
 * What a command needs: the client, its options (by commander's camelCase
 * names: `--last-status` is `lastStatus`) and positional words, and where to
 * write (`out` a line of text, `bytes` output exactly as the run wrote it;
 * `note` goes to stderr, beside a run's output).
 */
export interface CommandInput {
  api: ApiClient;
  options: Record<string, string | boolean | string[] | undefined>;
  words: string[];
  json: boolean;
  out: (text: string) => void;
  bytes: (bytes: Buffer) => void;
  note: (text: string) => void;
}

/** A command's exit code (0 = success). */
export type Command = (input: CommandInput) => Promise<number>;

// The API's own shapes: type-only imports, nothing of the server is loaded by the CLI.
type Script = ScriptView;
type Job = JobView;
type Run = RunView;

const FINISHED = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'lost']);

/** `Release build #3 (job-3)`: how a run is named in messages. */
const runName = (run: Run): string => `${run.jobName} #${run.number} (${run.id})`;

/** The positional word at `index`; a usage error naming `what` when it is missing. */
export function need(words: string[], index: number, what: string): string {
  const word = words[index];
  if (word === undefined || word === '') throw new UsageError(`Missing ${what}`);
  return word;
}

export class UsageError extends Error {}

const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)]);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const path = (segment: string): string => encodeURIComponent(segment);

/** `?asOf=…` for `--as-of <time>`, or nothing. */
function asOfQuery(input: CommandInput): string {
  const asOf = text(input.options.asOf);
  return asOf === undefined ? '' : `?asOf=${encodeURIComponent(asOf)}`;
}

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

/**
 * Prints `value` as JSON with `--json`, else what `human` makes of it, with no character
 * a terminal would obey (see `cleanText`, `terminalSafeJson`); exit code 0.
 */
export function print(input: CommandInput, value: unknown, human: () => string): number {
  input.out(input.json ? terminalSafeJson(JSON.stringify(value, null, 2)) : cleanText(human()));
  return 0;
}

/** The time a run's row shows, saying which it is: finished, started, scheduled for, or requested. */
export function runTime(run: Run): string {
  if (run.finishedAt) return `finished ${when(run.finishedAt)}`;
  if (run.status === 'scheduled') return `scheduled for ${when(run.scheduledFor)}`;
  if (run.startedAt) return `started ${when(run.startedAt)}`;
  return `requested ${when(run.requestedAt)}`;
}

function runRow(run: Run): Array<string | number | null> {
  // Said where the run is listed, not only by `runs show`: its output now answers 410.
  const status = run.outputExpiredAt ? `${run.status} (output expired)` : run.status;
  return [run.id, `${run.jobName} #${run.number}`, status, run.requestedBy, runTime(run), duration(run.durationMs)];
}

/** The server's health, as it is now: a server that is starting is said to be so (exit 1), not waited for. */
export const health: Command = async (input) => print(input, await input.api.withoutStartWait().json('GET', '/api/health'), () => 'ok');

export const scripts: Record<string, Command> = {
  list: async (input) => {
    const { items } = await input.api.json<{ items: Script[] }>('GET', `/api/scripts${asOfQuery(input)}`);
    return print(input, items, () => table(['ID', 'NAME', 'INTERPRETER', 'VERSION', 'UPDATED', 'BY'], items.map((s) => [s.id, s.name, s.interpreter, s.version, when(s.updatedAt), s.updatedBy])));
  },
  show: async (input) => {
    const script = await input.api.json<Script>('GET', `/api/scripts/${path(need(input.words, 0, 'template id or name'))}`);
    return print(input, script, () => `${script.name} (${script.interpreter}, version ${script.version})\n\n${script.body}`);
  },
  create: async (input) => {
    const body = await readLocalText(need([text(input.options.file) ?? ''], 0, '--file with the script body'));
    const script = await input.api.json<Script>('POST', '/api/scripts', { name: need(input.words, 0, 'template name'), body, interpreter: text(input.options.interpreter) });
    return print(input, script, () => `Created template ${script.name} (${script.id})`);
  },
  update: async (input) => {
    const file = text(input.options.file);
    const changes = { name: text(input.options.name), interpreter: text(input.options.interpreter), body: file ? await readLocalText(file) : undefined };
    const script = await input.api.json<Script>('PUT', `/api/scripts/${path(need(input.words, 0, 'template id or name'))}`, changes);
    return print(input, script, () => `Updated template ${script.name} (version ${script.version})`);
  },
  remove: async (input) => {
    await input.api.json('DELETE', `/api/scripts/${path(need(input.words, 0, 'template id or name'))}`);
    return print(input, { removed: input.words[0] }, () => `Removed template ${input.words[0]}`);
  },
};

/**
 * A number typed on the command line, checked here before any request: a
 * usage error (exit 2) names the option and what it takes, with the word it
 * also takes (`or none`), e.g. `--timeout must be a whole number of seconds
 * from 1 to 604800, or none, not "5m"`. Sent as typed, "5m" got the server's
 * message about `timeoutSeconds`, a name the person never typed.
 */
export function wholeNumberOption(name: string, typed: string, range: WholeNumberRange, orWord?: string): number {
  const value = wholeNumberFromText(typed.trim(), range);
  if (value === undefined) throw new UsageError(`${name} must be ${wholeNumberWanted(range)}${orWord ? `, or ${orWord}` : ''}, not ${JSON.stringify(typed)}`);
  return value;
}

function jobFields(input: CommandInput): Record<string, unknown> {
  const timeout = text(input.options.timeout);
  const keepWorkdir = typeof input.options.keepWorkdir === 'boolean' ? input.options.keepWorkdir : undefined;
  const keep = text(input.options.keepRuns);
  const atOnce = text(input.options.maxConcurrent);
  return {
    scriptId: text(input.options.script),
    description: text(input.options.description),
    args: replacedList(input, 'arg', 'args'),
    // `--no-env` shares its key with `--env`: false once given.
    env: input.options.env === false ? {} : envOf(list(input.options.env)),
    tags: replacedList(input, 'tag', 'tags'),
    timeoutSeconds: timeout === undefined ? undefined : timeout === 'none' ? null : wholeNumberOption('--timeout', timeout, TIMEOUT_SECONDS, 'none'),
    keepWorkdir,
    keepRuns: keep === undefined ? undefined : keep === 'all' ? null : wholeNumberOption('--keep-runs', keep, KEEP_RUNS, 'all'),
    artifacts: replacedList(input, 'artifact', 'artifacts'),
    runsOn: runsOnOf(input),
    maxConcurrent: atOnce === undefined ? undefined : atOnce === 'none' ? null : wholeNumberOption('--max-concurrent', atOnce, JOB_CONCURRENCY, 'none'),
    schedules: schedulesOf(input),
  };
}

/**
 * A list a job option replaces whole: `--<one> x` (repeatable) → those values, `--no-<all>`
 * → an empty list (commander sets `<all>` to false), neither → undefined (unchanged).
 *
 * @throws UsageError when both are given.
 */
function replacedList(input: CommandInput, one: string, all: string): string[] | undefined {
  const given = input.options[one] !== undefined ? list(input.options[one]) : undefined;
  if (input.options[all] !== false) return given;
  if (given !== undefined) throw new UsageError(`give either --${one} or --no-${all}, not both`);
  return [];
}

/**
 * `--schedule '0 3 * * *' --schedule '@hourly' [--time-zone Europe/Berlin]` → the
 * schedules (in UTC without `--time-zone`); `--no-schedules` → `[]`; neither: unchanged.
 * The server checks the patterns and the zone.
 */
function schedulesOf(input: CommandInput): Array<{ cron: string; timeZone: string }> | undefined {
  const patterns = input.options.schedule !== undefined ? list(input.options.schedule) : undefined;
  const zone = text(input.options.timeZone);
  if (input.options.schedules === false) {
    if (patterns !== undefined || zone !== undefined) throw new UsageError('give either --schedule (with --time-zone) or --no-schedules, not both');
    return [];
  }
  if (patterns === undefined) {
    if (zone !== undefined) throw new UsageError('--time-zone is the time zone of the --schedule patterns: give them with it');
    return undefined;
  }
  return patterns.map((cron) => ({ cron, timeZone: zone ?? 'UTC' }));
}

/** `--runs-on a --runs-on b` → `['a', 'b']`, `--any-runner` → `[]`, neither: unchanged; both: an error. */
function runsOnOf(input: CommandInput): string[] | undefined {
  const labels = input.options.runsOn !== undefined ? list(input.options.runsOn) : undefined;
  if (input.options.anyRunner === true) {
    if (labels !== undefined) throw new UsageError('give either --runs-on or --any-runner, not both');
    return [];
  }
  return labels;
}

export const jobs: Record<string, Command> = {
  list: async (input) => {
    const query = new URLSearchParams();
    for (const [key, option] of [['q', 'search'], ['tag', 'tag'], ['lastStatus', 'lastStatus']] as const) {
      const value = text(input.options[option]);
      if (value !== undefined) query.set(key, value);
    }
    const asOf = text(input.options.asOf);
    if (asOf !== undefined) query.set('asOf', asOf);
    const { items } = await input.api.json<{ items: Job[] }>('GET', `/api/jobs?${query}`);
    return print(input, items, () =>
      table(['NAME', 'TEMPLATE', 'TAGS', 'LAST RUN'], items.map((j) => [j.name, j.scriptName, j.tags.join(','), j.lastRun ? `#${j.lastRun.number} ${j.lastRun.status}` : ''])),
    );
  },
  show: async (input) => {
    const job = await input.api.json<Job & { asOf?: string }>('GET', `/api/jobs/${path(need(input.words, 0, 'job id or name'))}${asOfQuery(input)}`);
    return print(input, job, () =>
      [
        `${job.name} (${job.id}, version ${job.version})${job.asOf ? `, as it stood at ${when(job.asOf)}` : ''}`,
        job.description,
        `template: ${job.scriptName ?? '(removed)'}`,
        `args:     ${JSON.stringify(job.args)}`,
        `env:      ${Object.keys(job.env).join(', ') || '-'}`,
        `tags:     ${job.tags.join(', ') || '-'}`,
        `timeout:  ${job.timeoutSeconds === null ? 'none' : `${job.timeoutSeconds} s`}`,
        `runs on:  ${job.runsOn.length > 0 ? `a runner with ${job.runsOn.join(', ')}` : 'any runner'}`,
        `at once:  ${job.maxConcurrent == null ? 'no limit of its own' : `at most ${job.maxConcurrent} run${job.maxConcurrent === 1 ? '' : 's'}`}`,
        `schedule: ${(job.schedules ?? []).map((s) => `${s.cron} (${s.timeZone}${s.nextAt ? `, next ${when(s.nextAt)}` : ''})`).join('; ') || '-'}`,
        `output:   ${job.keepRuns == null ? 'kept for every run' : job.keepRuns === 1 ? 'kept for the newest finished run only' : `kept for the newest ${job.keepRuns} finished runs`}`,
        `files:    ${job.files.map((f) => `${f.name} (${f.size} B)`).join(', ') || '-'}`,
        `workdirs: ${job.keepWorkdir ? 'kept after each run' : 'removed when each run ends'}`,
        `artifacts: ${job.artifacts.join(' ') || '-'}`,
      ].join('\n'),
    );
  },
  create: async (input) => {
    // Words after the name (after `--`) are more arguments, after the `--arg`s.
    const fields = jobFields(input);
    const more = input.words.slice(1);
    if (more.length > 0) fields.args = [...list(input.options.arg), ...more];
    const job = await input.api.json<Job>('POST', '/api/jobs', { name: need(input.words, 0, 'job name'), ...fields });
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
    const delay = text(input.options.delay);
    const fields = {
      // Words after the job (after `--`) are more arguments, after the `--arg`s.
      args: [...list(input.options.arg), ...input.words.slice(1)],
      env: envOf(list(input.options.env)) ?? {},
      ...(text(input.options.at) ? { at: text(input.options.at) } : {}),
      ...(delay !== undefined ? { delaySeconds: wholeNumberOption('--delay', delay, DELAY_SECONDS) } : {}),
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
    if (input.options.follow === true) {
      if (!input.json) input.note(requested(run));
      return follow(input, run);
    }
    return print(input, run, () => requested(run));
  },
};

/** What `jobs run` and `runs rerun` say: the run is asked for, not started (it may wait in the queue or for its time). */
function requested(run: Run): string {
  const state = run.status === 'scheduled' ? `scheduled for ${when(run.scheduledFor)}` : run.status;
  return `Requested ${runName(run)}${run.rerunOf ? `, a re-run of ${run.rerunOf}` : ''}: ${state}`;
}

/**
 * Writes a run's output as it comes (the live stream, resumed after a dropped
 * connection) until the run ends, then a summary line on stderr. With `--json`:
 * one JSON object per line, `{"type":"output","offset","text"}` for each part
 * (text decoded as UTF-8) and `{"type":"end", ...}` with the run's final state.
 * The exit code is the run's: 0 when it succeeded, else its exit code, else 1.
 */
async function follow(input: CommandInput, run: Run): Promise<number> {
  const decoder = new TextDecoder();
  let offset = 0;
  const end: RunEnd = await followOutput(
    input.api,
    run.id,
    (bytes) => {
      if (input.json) input.out(terminalSafeJson(JSON.stringify({ type: 'output', offset, text: decoder.decode(bytes, { stream: true }) })));
      else input.bytes(bytes);
      offset += bytes.length;
    },
    {
      // A restart: the server is gone for a while, then starting (which `api` waits for), then back.
      unreachableMs: input.api.startWaitLimitMs,
      onUnreachable: (message) => input.note(`\n${message} (trying again for up to ${Math.round(input.api.startWaitLimitMs / 1000)} s: it may be restarting)`),
    },
  );
  if (input.json) input.out(terminalSafeJson(JSON.stringify({ type: 'end', id: run.id, jobName: run.jobName, number: run.number, ...end })));
  else {
    // Nothing was written for a run whose output expired: say why, as `runs output` (a 410) does.
    if (end.outputExpired) input.note(`Its output expired ${when(end.outputExpiredAt)} (${end.outputExpiredBy === 'age' ? 'ENDERCOMPUTE_KEEP_OUTPUT_DAYS' : "the job's keepRuns"}): nothing of it is kept`);
    input.note(`\n${run.jobName} #${run.number}: ${end.status}${end.exitCode !== null ? ` (exit code ${end.exitCode})` : ''}${end.reason ? ` — ${end.reason}` : ''}`);
  }
  return end.status === 'succeeded' ? 0 : end.exitCode !== null && end.exitCode > 0 ? end.exitCode : 1;
}

export const runs: Record<string, Command> = {
  list: async (input) => {
    const query = new URLSearchParams();
    // The options that choose the runs, again in the hint to the next page: a page of the same list, not of all runs.
    const again: string[] = [];
    for (const [key, option] of [['status', 'status'], ['jobId', 'job'], ['by', 'by'], ['q', 'search']] as const) {
      const value = text(input.options[option]);
      if (value === undefined) continue;
      query.set(key, value);
      again.push(`--${option}`, shellWord(value));
    }
    const before = text(input.options.before);
    if (before !== undefined) query.set('before', before);
    const limit = text(input.options.limit);
    if (limit !== undefined) {
      const wanted = wholeNumberOption('--limit', limit, RUNS_PAGE);
      query.set('limit', String(wanted));
      again.push('--limit', String(wanted));
    }
    const byFinish = input.options.finished === true;
    if (byFinish) {
      query.set('sort', 'finished');
      again.push('--finished');
    }
    const page = await input.api.json<{ items: Run[]; next: string | null }>('GET', `/api/runs?${query}`);
    return print(input, page, () =>
      table(['ID', 'RUN', 'STATUS', 'BY', 'WHEN', 'DURATION'], page.items.map(runRow)) + (page.next ? `\n(more: ${[...again, '--before', page.next].join(' ')})` : ''),
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
        run.runsOn.length > 0 ? `runs on: a runner with ${run.runsOn.join(', ')}` : '',
        run.waitingFor ? `waiting for ${run.waitingFor}` : '',
        run.runner ? `runner: ${run.runner}` : '',
        run.reason ? `reason: ${run.reason}` : '',
        run.outputExpiredAt
          ? `output: ${run.outputBytes} bytes, expired ${when(run.outputExpiredAt)} (${run.outputExpiredBy === 'keepRuns' ? "the job's keepRuns" : 'ENDERCOMPUTE_KEEP_OUTPUT_DAYS'})`
          : `output: ${run.outputBytes} bytes`,
        run.workdirKept === true ? `workdir: kept at ${run.workdir} (on ${run.runner})` : run.workdirKept === false && run.workdir ? 'workdir: removed' : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
  },
  artifacts: async (input) => {
    const runId = need(input.words, 0, 'run id');
    const list = await input.api.json<{ items: ListedArtifact[]; skipped: Array<{ path: string; size: number; reason: string }> }>('GET', `/api/runs/${path(runId)}/artifacts`);
    const dir = text(input.options.download);
    if (dir === undefined) {
      return print(input, list, () =>
        [
          list.items.length ? table(['PATH', 'SIZE', 'SHA256'], list.items.map((a) => [a.path, String(a.size), a.sha256])) : 'No artifacts kept.',
          ...list.skipped.map((s) => `skipped ${s.path} (${s.size} B): ${s.reason}`),
        ].join('\n'),
      );
    }
    const written: string[] = [];
    for (const artifact of list.items) {
      safeSegments(artifact.path);
      const response = await input.api.raw(`/api/runs/${path(runId)}/artifacts/${artifact.path.split('/').map(path).join('/')}`);
      if (!response.body) throw new DownloadError(`artifact ${artifact.path}: the server sent no bytes`);
      written.push(await writeArtifact(dir, artifact, response.body));
    }
    return print(input, { downloaded: written, skipped: list.skipped }, () =>
      [`Downloaded ${written.length} artifact(s) into ${dir}`, ...written.map((w) => `  ${w}`), ...list.skipped.map((s) => `skipped ${s.path}: ${s.reason}`)].join('\n'),
    );
  },
  output: async (input) => {
    const runId = need(input.words, 0, 'run id');
    if (input.options.follow === true) return follow(input, await input.api.json<Run>('GET', `/api/runs/${path(runId)}`));
    const response = await input.api.raw(`/api/runs/${path(runId)}/output`);
    const bytes = Buffer.from(await response.arrayBuffer());
    if (input.json) input.out(terminalSafeJson(JSON.stringify({ id: runId, outputBytes: bytes.length, text: new TextDecoder().decode(bytes) }, null, 2)));
    else input.bytes(bytes);
    return 0;
  },
  cancel: control('cancel'),
  pause: control('pause'),
  resume: control('resume'),
  rerun: control('rerun'),
};

/** The state each request leads to: until the run shows it, the answer says the request is on its way. */
const REACHED: Record<'cancel' | 'pause' | 'resume', (status: string) => boolean> = {
  cancel: (status) => FINISHED.has(status),
  pause: (status) => status === 'paused',
  resume: (status) => status !== 'paused',
};

/**
 * `runs cancel|pause|resume|rerun`: says what was asked and the state the run
 * is in now. A running run stops (or pauses) a moment after the request, so
 * "running" right after a cancel is true, and said as such.
 */
function control(action: 'cancel' | 'pause' | 'resume' | 'rerun'): Command {
  return async (input) => {
    const run = await input.api.json<Run>('POST', `/api/runs/${path(need(input.words, 0, 'run id'))}/${action}`);
    if (action === 'rerun') return print(input, run, () => requested(run));
    const asked = `${action[0].toUpperCase()}${action.slice(1)} requested for ${runName(run)}`;
    return print(input, run, () => (REACHED[action](run.status) ? `${asked}: ${run.status}` : `${asked}; still ${run.status} for now`));
  };
}

export const events: Command = async (input) => {
  const query = new URLSearchParams();
  for (const [key, option] of [['jobId', 'job'], ['actor', 'actor'], ['type', 'type'], ['stream', 'stream'], ['after', 'after']] as const) {
    const value = text(input.options[option]);
    if (value !== undefined) query.set(key, value);
  }
  const limit = text(input.options.limit);
  if (limit !== undefined) query.set('limit', String(wholeNumberOption('--limit', limit, EVENTS_PAGE)));
  const page = await input.api.json<{ items: Array<{ position: string; stream: string; type: string; metadata: { actor: string; at: string } }>; next: string | null }>(
    'GET',
    `/api/events?${query}`,
  );
  return print(input, page, () =>
    table(['POSITION', 'AT', 'ACTOR', 'TYPE', 'STREAM'], page.items.map((e) => [e.position, when(e.metadata.at), e.metadata.actor, e.type, e.stream])) +
      (page.next ? `\n(more: --after ${page.next})` : ''),
  );
};
