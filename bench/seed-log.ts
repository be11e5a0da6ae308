/**
 * Seeds a log with the events the server itself writes, fast: templates, jobs and
 * runs, with the server's streams, revisions and metadata, appended straight
 * through the event store port in large batches (no HTTP, no command bus, no
 * process). Anyone can seed a log of any size with it (`seedLog`), on the embedded
 * store or on EventStoreDB (the double in the benches).
 *
 * The events come from the server's own pure deciders (`decideScript`,
 * `decideJob`, `decideRun`, `decideSchedule`), fed the commands the handlers
 * give them, and are appended to the streams the handlers append to, in the same
 * order, with `metadataFor` of the same contexts:
 * - a template: `NameReserved` (`names-script-<hash>`), then `ScriptCreated`;
 * - a job: `ScriptUseDeclared` on its template's stream, `NameReserved`
 *   (`names-job-<hash>`), then `JobCreated` (person, source `web`);
 * - a run requested by a person: `JobRunAdmitted` on the job's stream (which
 *   numbers it), then `RunRequested` (`run-<jobId>-<number>`), one correlation id;
 * - a run fired by a job's daily schedule: `ScheduleFired` (`schedule-<jobId>`),
 *   then the same two, as actor `schedule` from source `scheduler`;
 * - its execution, as the runner records it (actor `runner`, the request's
 *   correlation id, caused by the `RunRequested` event): `RunClaimed`,
 *   `RunStarted`, one output batch in `output-<runId>` in today's encoding
 *   (`encodeOutput`: deflate when smaller), `RunFinished`; a cancelled run has a
 *   person's `RunCancelRequested` before its end, a lost run ends by `system`.
 *
 * What differs from a real log, on purpose: each run's events are contiguous in
 * `$all` (a real log interleaves the runs that execute at once), and times are
 * spread evenly over the last `days` days. On a store other than the embedded
 * one, appends to one stream within a batch are joined into one append (same
 * events, same revisions), so that batches can be sent concurrently.
 *
 * So that a server started on the log has nothing to do at start (no run to
 * execute, no schedule firing owed): the newest runs are either running on
 * another runner (left alone by recovery) or scheduled for tomorrow, every
 * schedule has fired its latest slot, and nothing is queued.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EsdbEventStore } from '../src/event-store/esdb-event-store';
import type { EventStore, ExpectedRevision, NewEvent } from '../src/event-store/event-store.port';
import { SqliteEventStore } from '../src/event-store/sqlite-event-store';
import { decideJob, evolveJob, initialJobState, type JobState } from '../src/jobs/job.decider';
import type { JobDefinition } from '../src/jobs/job.events';
import { encodeOutput, type EncodedOutput } from '../src/runs/output-encoding';
import { decideRun, evolveRun, initialRunState, type RunCommand, type RunState } from '../src/runs/run.decider';
import type { FinishedStatus, RunEvent, RunSnapshot, RunTrigger } from '../src/runs/run.events';
import { decideSchedule, initialScheduleState } from '../src/schedules/schedule.decider';
import { decideScript, evolveScript, initialScriptState, type ScriptState } from '../src/scripts/script.decider';
import { metadataFor, type CommandContext } from '../src/shared/command-context';
import type { DomainEvent } from '../src/shared/decide-and-append';
import { nameStream, type NameEventData, type NameKind } from '../src/shared/unique-names';

export interface SeedOptions {
  /** Jobs (default 10,000). */
  jobs?: number;
  /** Runs in all, manual and scheduled (default 100,000). */
  runs?: number;
  /** Script templates (default 25). */
  scripts?: number;
  /** Every n-th job has a daily schedule (`0 3 * * *`, UTC) that fired every day since the job exists; 0: none (default 100). */
  scheduledEvery?: number;
  /** The history spans this many days before `now` (default 60). */
  days?: number;
  /** The end of the history (default: the current time). */
  now?: Date;
  /** Appends per batch (default 5,000): one transaction on the embedded store. */
  batchSize?: number;
  /** Called after each batch with the events appended so far. */
  progress?: (events: number) => void;
}

/** What was seeded, for the benches and tests that look at it. */
export interface SeededLog {
  events: number;
  scripts: number;
  jobs: number;
  runs: number;
  /** Runs fired by schedules (part of `runs`). */
  scheduledRuns: number;
  /** Runs per status as the API reports them (`succeeded`, `failed`, `running`, `scheduled`, …). */
  statuses: Record<string, number>;
  /** The job with the most runs, its name, and its highest run number. */
  busyJob: { id: string; name: string; runs: number };
  /** The run requested last (its `RunRequested` is among the log's last events). */
  lastRunId: string;
  /** A finished run of the busy job (succeeded), with its output text. */
  sampleRun: { id: string; output: string };
  /** A word found in many job names and descriptions (for search). */
  searchWord: string;
  /** A person who requested runs (for the `by` filter). */
  actor: string;
  /** The id of job number `index`. */
  jobId(index: number): string;
}

const ACTORS = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov', 'Ken Thompson'];
const TAGS = ['nightly', 'backend', 'frontend', 'release', 'db', 'infra', 'tests', 'docs', 'perf', 'security'];
const WORDS = ['build', 'deploy', 'test', 'backup', 'report', 'sync', 'lint', 'index', 'export', 'migrate', 'clean', 'scan'];
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const DAY_MS = 86_400_000;
/** The daily slot of the seeded schedules: 03:00 UTC. */
const SLOT_HOUR_UTC = 3;
const SCHEDULE = { cron: '0 3 * * *', timeZone: 'UTC' };
/** The newest runs: this many scheduled for tomorrow, then this many running on another runner. */
const WAITING_RUNS = 30;
const RUNNING_RUNS = 20;

/** A 12-character id in the server's alphabet (`RandomIdGenerator`), made from a kind letter and a number. */
function idOf(kind: string, n: number): string {
  let digits = '';
  for (let rest = n; digits.length < 11; rest = Math.floor(rest / 32)) digits = ALPHABET[rest % 32] + digits;
  return kind + digits;
}

/**
 * A version-4-shaped UUID from a counter, growing with it: unique within a seed, and
 * appended at the end of the store's id index instead of at random places in it
 * (random ids made seeding a large log several times slower: each transaction then
 * rewrites pages all over the index). `seed` keeps ids of different seeds apart.
 */
function uuidOf(seed: string, n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${seed.slice(0, 3)}-8${seed.slice(3, 6)}-${seed.slice(6, 18)}`;
}

/** 18 hex digits that tell one seed's ids from another's. */
function seedHex(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 18);
}

interface PlannedAppend {
  stream: string;
  events: NewEvent[];
  expected: ExpectedRevision;
  /**
   * Order between streams on stores that take a batch's appends concurrently: a
   * batch is sent in waves of this number (0: templates, jobs, names, admissions and
   * firings; 1: a run up to its start; 2: its output; 3: its end).
   */
  wave: number;
}

/** Appends planned appends in batches: in order on the embedded store (group commit), in waves elsewhere. */
class BatchAppender {
  private batch: PlannedAppend[] = [];
  appended = 0;

  constructor(
    private readonly store: EventStore,
    private readonly batchSize: number,
    private readonly progress?: (events: number) => void,
  ) {}

  async add(append: PlannedAppend): Promise<void> {
    this.batch.push(append);
    if (this.batch.length >= this.batchSize) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    if (this.store.kind === 'sqlite') {
      // Every append made in one turn of the event loop is one transaction, in call order.
      await Promise.all(batch.map((append) => this.store.append(append.stream, append.events, append.expected)));
    } else {
      for (const wave of [0, 1, 2, 3]) {
        const joined = new Map<string, PlannedAppend>();
        for (const append of batch) {
          if (append.wave !== wave) continue;
          const earlier = joined.get(append.stream);
          if (earlier) earlier.events.push(...append.events);
          else joined.set(append.stream, { ...append, events: [...append.events] });
        }
        await Promise.all([...joined.values()].map((append) => this.store.append(append.stream, append.events, append.expected)));
      }
    }
    this.appended += batch.reduce((sum, append) => sum + append.events.length, 0);
    this.progress?.(this.appended);
  }
}

/** The streams the seed appends to, with their revisions (what each next append expects). */
class Streams {
  private readonly revisions = new Map<string, bigint>();
  events = 0;
  private eventCount = 0;

  constructor(
    private readonly appender: BatchAppender,
    private readonly seed: string,
  ) {}

  /** Appends the domain events of one command to `stream` with metadata of `context` at `at`; resolves with their ids. */
  async append(stream: string, events: readonly DomainEvent[], context: CommandContext, at: Date, wave: number): Promise<string[]> {
    const metadata = metadataFor(context, at);
    const before = this.revisions.get(stream);
    const recorded = events.map((event) => ({ id: uuidOf(this.seed, this.eventCount++), type: event.type, data: event.data, metadata }));
    this.revisions.set(stream, (before ?? -1n) + BigInt(events.length));
    this.events += events.length;
    await this.appender.add({ stream, events: recorded, expected: before ?? 'no_stream', wave });
    return recorded.map((event) => event.id);
  }
}

interface SeedJob {
  id: string;
  name: string;
  index: number;
  state: JobState;
  script: { id: string; name: string; body: string; interpreter: string };
  definition: JobDefinition;
  runs: number;
  scheduled: boolean;
}

/** One run to seed, in time order. */
interface PlannedRun {
  at: number;
  job: SeedJob;
  /** The schedule slot that fired it, or null for a person's request. */
  slot: number | null;
}

/**
 * Seeds `store` (empty, or holding none of these streams) with templates, jobs and
 * runs as the server writes them (see the file comment). Deterministic for given
 * options except the event times, which end at `now`.
 *
 * @throws whatever the store throws (a conflict means the log already held a seeded stream).
 */
export async function seedLog(store: EventStore, options: SeedOptions = {}): Promise<SeededLog> {
  const jobCount = options.jobs ?? 10_000;
  const runCount = options.runs ?? 100_000;
  const scriptCount = options.scripts ?? 25;
  const scheduledEvery = options.scheduledEvery ?? 100;
  const days = options.days ?? 60;
  const now = (options.now ?? new Date()).getTime();
  if (jobCount < 1 || scriptCount < 1 || runCount < 0) throw new RangeError('seedLog needs at least one template and one job');
  const appender = new BatchAppender(store, options.batchSize ?? 5_000, options.progress);
  const streams = new Streams(appender, seedHex(`${now}:events`));
  const start = now - days * DAY_MS;
  // Templates in the first 1% of the history, jobs in the next 4%, runs after them.
  const scriptsEnd = start + (now - start) * 0.01;
  const jobsEnd = start + (now - start) * 0.05;
  let correlations = 0;
  const correlationSeed = seedHex(`${now}:correlations`);
  const person = (actor: string): CommandContext => ({ actor, source: 'web', correlationId: uuidOf(correlationSeed, correlations++), causationId: null });

  const scripts: SeedJob['script'][] = [];
  const scriptStates: ScriptState[] = [];
  for (let s = 0; s < scriptCount; s++) {
    const id = idOf('s', s);
    const name = `${WORDS[s % WORDS.length]} template ${s}`;
    const body = `#!/usr/bin/env bash\nset -euo pipefail\n# ${WORDS[s % WORDS.length]} step ${s}\n./run.sh "$@"\n`;
    const at = new Date(start + ((scriptsEnd - start) * s) / scriptCount);
    const context = person(ACTORS[s % ACTORS.length]);
    await reserveName(streams, 'script', name, id, context, at);
    const created = decideScript({ type: 'CreateScript', scriptId: id, name, interpreter: 'bash', body, nameTakenBy: null }, initialScriptState);
    await streams.append(`script-${id}`, created, context, at, 0);
    scripts.push({ id, name, body, interpreter: 'bash' });
    scriptStates.push(created.reduce((state, event) => evolveScript(state, event), initialScriptState));
  }

  const jobs: SeedJob[] = [];
  for (let j = 0; j < jobCount; j++) {
    const id = idOf('j', j);
    const name = `${WORDS[j % WORDS.length]}-${TAGS[j % TAGS.length]}-${j}`;
    const script = scripts[j % scriptCount];
    const scheduled = scheduledEvery > 0 && j % scheduledEvery === scheduledEvery - 1;
    const definition: JobDefinition = {
      name,
      description: `Runs the ${WORDS[(j * 7) % WORDS.length]} of service ${j % 97} for the ${TAGS[(j * 3) % TAGS.length]} team.`,
      scriptId: script.id,
      args: ['--target', `service-${j % 97}`],
      env: { STAGE: j % 2 ? 'prod' : 'staging' },
      tags: [TAGS[j % TAGS.length], TAGS[(j * 3 + 1) % TAGS.length]].filter((tag, i, all) => all.indexOf(tag) === i),
      timeoutSeconds: j % 5 === 0 ? 3600 : null,
      maxConcurrent: null,
      keepRuns: null,
      schedules: scheduled ? [SCHEDULE] : [],
      keepWorkdir: false,
    };
    const at = new Date(scriptsEnd + ((jobsEnd - scriptsEnd) * j) / jobCount);
    const context = person(ACTORS[j % ACTORS.length]);
    // As the job handler's guard: declare the template's use, reserve the name, then create.
    const scriptIndex = j % scriptCount;
    await streams.append(`script-${script.id}`, decideScript({ type: 'DeclareUse', scriptId: script.id, jobId: id, jobRevision: null }, scriptStates[scriptIndex]), context, at, 0);
    await reserveName(streams, 'job', name, id, context, at);
    const created = decideJob({ type: 'CreateJob', jobId: id, definition, nameTakenBy: null, scriptExists: true }, initialJobState);
    await streams.append(`job-${id}`, created, context, at, 0);
    jobs.push({ id, name, index: j, state: created.reduce(evolveJob, initialJobState), script, definition, runs: 0, scheduled });
  }
  // Every job is in the log before any firing or run (a batch sent in waves could otherwise put a firing first).
  await appender.flush();

  // Schedules fire daily at 03:00 UTC from the day after the jobs exist up to the latest slot before now.
  const plan: PlannedRun[] = [];
  const scheduledJobs = jobs.filter((job) => job.scheduled);
  const slots: number[] = [];
  for (let slot = Math.floor(jobsEnd / DAY_MS) * DAY_MS + DAY_MS + SLOT_HOUR_UTC * 3_600_000; slot <= now; slot += DAY_MS) slots.push(slot);
  // Never more scheduled runs than there are runs: then only the latest slots.
  const slotsKept = scheduledJobs.length === 0 ? [] : slots.slice(Math.max(0, slots.length - Math.floor(runCount / scheduledJobs.length)));
  for (const slot of slotsKept) for (const job of scheduledJobs) plan.push({ at: slot, job, slot });
  const manual = runCount - plan.length;
  const runsEnd = now - 60_000;
  for (let r = 0; r < manual; r++) {
    // Some jobs run far more often than others, as in real use.
    const index = r % 10 < 3 ? (r % 50) % jobCount : (r * 7919) % jobCount;
    plan.push({ at: jobsEnd + ((runsEnd - jobsEnd) * (r + 0.5)) / manual, job: jobs[index], slot: null });
  }
  plan.sort((a, b) => a.at - b.at);

  const outputs = new Map<string, EncodedOutput>();
  const encoded = async (text: string): Promise<EncodedOutput> => {
    let found = outputs.get(text);
    if (!found) outputs.set(text, (found = await encodeOutput(Buffer.from(text))));
    return found;
  };
  const statuses: Record<string, number> = {};
  let sampleRun: SeededLog['sampleRun'] | null = null;
  let lastRunId = '';
  let firings = 0;
  const runsOf = new Map<string, number>();
  for (const planned of plan) runsOf.set(planned.job.id, (runsOf.get(planned.job.id) ?? 0) + 1);
  const busyId = [...runsOf.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? jobs[0].id;

  for (const [r, planned] of plan.entries()) {
    const { job } = planned;
    const remaining = plan.length - r;
    // The newest: scheduled for tomorrow (never a schedule's run), then running elsewhere.
    const waiting = remaining <= WAITING_RUNS && planned.slot === null;
    const running = !waiting && remaining <= WAITING_RUNS + RUNNING_RUNS;
    const requestedAt = new Date(planned.at);
    let context: CommandContext;
    let trigger: RunTrigger | null = null;
    if (planned.slot !== null) {
      context = { actor: 'schedule', source: 'scheduler', correlationId: uuidOf(correlationSeed, correlations++), causationId: null };
      const firingId = idOf('f', firings++);
      const fired = decideSchedule({ type: 'FireSchedule', jobId: job.id, firingId, ...SCHEDULE, slot: new Date(planned.slot).toISOString() }, initialScheduleState);
      await streams.append(`schedule-${job.id}`, fired, context, requestedAt, 0);
      trigger = { kind: 'schedule', firingId, ...SCHEDULE, slot: new Date(planned.slot).toISOString() };
    } else {
      context = person(ACTORS[r % ACTORS.length]);
    }
    const number = ++job.runs;
    const runId = `${job.id}-${number}`;
    await streams.append(`job-${job.id}`, decideJob({ type: 'AdmitRun', jobId: job.id, runId, number }, job.state), context, requestedAt, 0);
    const extraArgs = planned.slot === null ? [`--build=${r}`] : [];
    const snapshot: RunSnapshot = {
      scriptId: job.script.id,
      scriptName: job.script.name,
      scriptVersion: 0,
      interpreter: job.script.interpreter,
      body: job.script.body,
      jobVersion: 0,
      args: [...job.definition.args, ...extraArgs],
      env: { ...job.definition.env },
      files: [],
      timeoutSeconds: job.definition.timeoutSeconds,
    };
    const scheduledFor = waiting ? new Date(now + DAY_MS + r * 1000).toISOString() : null;
    const run = new RunLife(streams, runId, `run-${runId}`, `output-${runId}`);
    lastRunId = runId;
    const [requestId] = await run.record(
      { type: 'RequestRun', runId, jobId: job.id, jobName: job.name, number, snapshot, extra: { args: extraArgs, env: {}, files: [] }, scheduledFor, rerunOf: null, trigger, runsOn: job.definition.runsOn ?? [] },
      context,
      requestedAt,
      1,
    );
    if (waiting) {
      statuses.scheduled = (statuses.scheduled ?? 0) + 1;
      continue;
    }
    const runner: CommandContext = { actor: 'runner', source: 'runner', correlationId: context.correlationId, causationId: requestId };
    const runnerId = running ? 'bench-remote-runner' : 'bench-runner';
    const workdir = `/var/lib/endercompute/work/${job.name}-${job.id}/${number}`;
    const later = (ms: number) => new Date(Math.min(now, planned.at + ms));
    await run.record({ type: 'ClaimRun', runId, runner: runnerId, runnerLabels: [], workdir, now: requestedAt.toISOString() }, runner, later(150), 1);
    await run.record({ type: 'StartRun', runId, runner: runnerId, pid: 10_000 + (r % 50_000), processStartTicks: String(1_000_000 + r), workdir }, runner, later(300), 1);
    const status: FinishedStatus | 'running' = running
      ? 'running'
      : r % 9 === 0 ? 'failed' : r % 97 === 0 ? 'cancelled' : r % 211 === 0 ? (job.definition.timeoutSeconds === null ? 'failed' : 'timed_out') : r % 503 === 0 ? 'lost' : 'succeeded';
    const duration = 1_000 + ((r * 37) % 600_000);
    if (status === 'cancelled') await run.record({ type: 'CancelRun', runId, actor: context.actor }, person(ACTORS[(r + 1) % ACTORS.length]), later(duration / 2), 1);
    const text = buildLog(job, status);
    await run.record({ type: 'AppendOutput', runId, offset: 0, ...(await encoded(text)) }, runner, later(1_000), 2);
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === 'running') continue;
    const end = {
      succeeded: { exitCode: 0, signal: null, reason: null },
      failed: { exitCode: 1, signal: null, reason: null },
      cancelled: { exitCode: null, signal: 'SIGTERM', reason: `Cancelled by ${ACTORS[(r + 1) % ACTORS.length]}` },
      timed_out: { exitCode: null, signal: 'SIGTERM', reason: `Timed out after ${job.definition.timeoutSeconds} s of running time` },
      lost: { exitCode: null, signal: null, reason: 'The server stopped while the run was running; its process was gone' },
    }[status];
    const by = status === 'lost' ? { ...runner, actor: 'system', source: 'system' } : runner;
    await run.record({ type: 'FinishRun', runId, status, ...end, droppedBytes: 0 }, by, later(duration), 3);
    if (job.id === busyId && status === 'succeeded') sampleRun = { id: runId, output: text };
  }
  await appender.flush();
  const busyJob = jobs.find((job) => job.id === busyId)!;
  return {
    events: streams.events,
    scripts: scriptCount,
    jobs: jobCount,
    runs: plan.length,
    scheduledRuns: plan.length - manual,
    statuses,
    busyJob: { id: busyJob.id, name: busyJob.name, runs: busyJob.runs },
    sampleRun: sampleRun ?? { id: '', output: '' },
    lastRunId,
    searchWord: WORDS[3],
    actor: ACTORS[1],
    jobId: (index) => idOf('j', index),
  };
}

/** As `UniqueNames.reserve` writes it for a new name: `NameReserved` in the name's own stream. */
async function reserveName(streams: Streams, kind: NameKind, name: string, ownerId: string, context: CommandContext, at: Date): Promise<void> {
  const data: NameEventData = { kind, name, ownerId };
  await streams.append(nameStream(kind, name), [{ type: 'NameReserved', data }], context, at, 0);
}

/** One run's streams and state while it is seeded: each command decided by the run's decider, as `RunWriter` does. */
class RunLife {
  private state: RunState = initialRunState;

  constructor(
    private readonly streams: Streams,
    readonly runId: string,
    private readonly runStream: string,
    private readonly outputStream: string,
  ) {}

  async record(command: RunCommand, context: CommandContext, at: Date, wave: number): Promise<string[]> {
    const events: RunEvent[] = decideRun(command, this.state);
    this.state = events.reduce(evolveRun, this.state);
    const stream = command.type === 'AppendOutput' ? this.outputStream : this.runStream;
    return this.streams.append(stream, events, context, at, wave);
  }
}

/**
 * A build log of about 1 KB that says how it went (text compresses, as real logs do).
 * Few distinct texts (by job modulo 20 and status), so each is compressed once.
 */
function buildLog(job: SeedJob, status: string): string {
  const variant = job.index % 20;
  const lines = [`$ ./run.sh --target service-${variant}`, `building service-${variant}`];
  for (let step = 1; step <= 12; step++) lines.push(`[${String(step).padStart(2, '0')}/12] ${WORDS[(variant + step) % WORDS.length]} service-${variant} ... ok (${(step * 37 + variant) % 900} ms)`);
  lines.push(status === 'failed' ? 'error: 3 tests failed' : status === 'succeeded' ? 'done: all steps passed' : `stopped (${status})`);
  return `${lines.join('\n')}\n`;
}

/**
 * `npm run bench:seed -- --data-dir DIR [--jobs N] [--runs N]`: seeds `DIR/events.db`
 * (created; it must not hold a log yet), or with `--esdb CONNECTION_STRING` an
 * EventStoreDB, then prints what it seeded. A server started on DIR serves it.
 */
async function seedFromCommandLine(argv: readonly string[]): Promise<void> {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const count = (name: string, fallback: number): number => {
    const text = value(name);
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} needs a whole number of at least 1, got ${String(text)}`);
    return n;
  };
  const dataDir = value('--data-dir');
  const esdb = value('--esdb');
  if ((dataDir === undefined) === (esdb === undefined)) throw new Error('Give --data-dir DIR (the embedded log) or --esdb CONNECTION_STRING');
  if (dataDir !== undefined && existsSync(join(dataDir, 'events.db'))) throw new Error(`${join(dataDir, 'events.db')} exists: seed an empty data dir`);
  const store: EventStore = dataDir !== undefined
    ? SqliteEventStore.open(join(dataDir, 'events.db'))
    : EsdbEventStore.connect(esdb!);
  const started = performance.now();
  try {
    const seeded = await seedLog(store, {
      jobs: count('--jobs', 10_000),
      runs: count('--runs', 100_000),
      progress: (events) => process.stderr.write(`\r${events} events`),
    });
    const { jobId: _jobId, ...figures } = seeded;
    process.stderr.write('\n');
    process.stdout.write(`${JSON.stringify({ ...figures, seconds: Math.round((performance.now() - started) / 100) / 10 }, null, 2)}\n`);
  } finally {
    await store.close();
  }
}

if (require.main === module) {
  seedFromCommandLine(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
