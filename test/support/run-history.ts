/**
 * A made-up but lifelike history of jobs and runs, as the events the server records
 * (`$all` order, positions and stream revisions included), for tests that feed read
 * models directly: jobs created, renamed, retagged and removed; runs admitted (their
 * places sometimes crossing), requested (some for later), claimed, started, paused,
 * resumed, cancelled, rescheduled, finished in an order unlike their requests, their
 * output in output streams and some of it expired. Deterministic for a seed.
 */
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import type { FinishedStatus, RunRequested } from '../../src/runs/run.events';

const WORDS = ['build', 'Deploy', 'test', 'backup', 'report', 'sync', 'lint', 'index', 'export', 'café', 'clean', 'scan'];
const TAGS = ['nightly', 'backend', 'frontend', 'release', 'db'];
const ACTORS = ['Ada', 'ada', 'Grace Hopper', 'schedule', 'Élodie', 'bob'];
const OUTCOMES: FinishedStatus[] = ['succeeded', 'succeeded', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];

/** The history's epoch: runs are requested from here on, one a minute or so. */
export const HISTORY_START = Date.parse('2026-05-01T00:00:00.000Z');

export interface History {
  events: RecordedEvent[];
  jobIds: string[];
  runIds: string[];
  /** The time the last event was recorded at. */
  end: Date;
}

/** A small, fast pseudo-random generator (mulberry32): the same history for the same seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `jobs` jobs and about `runs` runs (some admissions are never requested). */
export function makeHistory(options: { jobs: number; runs: number; seed?: number }): History {
  const rand = random(options.seed ?? 1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
  const events: RecordedEvent[] = [];
  const revisions = new Map<string, number>();
  let clock = HISTORY_START;
  const record = (stream: string, type: string, data: unknown, actor: string): void => {
    clock += 1_000 + Math.floor(rand() * 60_000);
    const revision = revisions.get(stream) ?? -1;
    revisions.set(stream, revision + 1);
    const position = BigInt(events.length + 1);
    events.push({
      id: `e${events.length + 1}`,
      stream,
      revision: BigInt(revision + 1),
      position: { commit: position, prepare: position },
      type,
      data,
      metadata: { actor, at: new Date(clock).toISOString(), correlationId: `c${events.length}`, causationId: null, source: 'api' },
    });
  };

  const jobIds: string[] = [];
  const names = new Map<string, string>();
  for (let j = 0; j < options.jobs; j++) {
    const jobId = `job${String(j).padStart(5, '0')}`;
    // Names that sort differently by code point and for a person: case, accents, punctuation, digits.
    const name = `${pick(WORDS)}${pick(['-', '_', ' ', '.', ''])}${pick(TAGS)}${j % 7 === 0 ? 'X' : ''} ${j}`;
    jobIds.push(jobId);
    names.set(jobId, name);
    const tags = [...new Set([pick(TAGS), pick(TAGS)])];
    record(`job-${jobId}`, 'JobCreated', { jobId, name, description: `The ${pick(WORDS)} of service ${j % 13}`, scriptId: `s${j % 4}`, args: [], env: {}, tags, timeoutSeconds: null, keepRuns: j % 11 === 0 ? 2 : undefined }, pick(ACTORS));
  }

  const runIds: string[] = [];
  const numbers = new Map<string, number>();
  /** Runs requested and not yet finished, with what remains of their lives. */
  const alive: Array<{ runId: string; jobId: string; steps: Array<() => void> }> = [];
  const step = (): void => {
    const at = Math.floor(rand() * alive.length);
    const run = alive[at];
    const next = run.steps.shift();
    if (next) next();
    if (run.steps.length === 0) alive.splice(at, 1);
  };

  for (let r = 0; r < options.runs; r++) {
    const jobId = r % 4 === 0 ? jobIds[r % Math.min(5, jobIds.length)] : pick(jobIds);
    const number = (numbers.get(jobId) ?? 0) + 1;
    numbers.set(jobId, number);
    const runId = `${jobId}-${number}`;
    const stream = `run-${runId}`;
    const actor = pick(ACTORS);
    const admitted = rand() < 0.7;
    if (admitted) record(`job-${jobId}`, 'JobRunAdmitted', { jobId, runId, number }, actor);
    // A few admissions are voided: their place stays empty.
    if (admitted && rand() < 0.02) continue;
    runIds.push(runId);
    const later = rand();
    const scheduledFor = later < 0.08 ? new Date(clock + (later < 0.04 ? 3 : -1) * 3_600_000 * (1 + Math.floor(rand() * 48))).toISOString() : null;
    const requested: RunRequested['data'] = {
      runId,
      jobId,
      jobName: names.get(jobId) as string,
      number,
      snapshot: { scriptId: 's', scriptName: 'S', scriptVersion: 0, interpreter: 'bash', body: 'true', jobVersion: 0, args: [`--${pick(WORDS)}`, `n${r}`], env: {}, files: [], timeoutSeconds: null },
      extra: { args: [], env: {}, files: [] },
      scheduledFor,
      rerunOf: null,
      trigger: null,
    };
    const request = (): void => record(stream, 'RunRequested', requested, actor);
    const steps: Array<() => void> = [];
    const fate = rand();
    if (fate < 0.05) steps.push(() => record(stream, 'RunRescheduled', { runId, scheduledFor: new Date(clock + 7_200_000).toISOString() }, actor));
    if (fate >= 0.05 && fate < 0.1) {
      steps.push(() => record(stream, 'RunCancelRequested', { runId }, 'bob'));
      steps.push(() => record(stream, 'RunFinished', { runId, status: 'cancelled', exitCode: null, signal: null, outputBytes: 0, droppedBytes: 0, reason: 'Cancelled by bob before it started' }, 'bob'));
    } else if (fate >= 0.1) {
      const out = `output-${runId}`;
      steps.push(() => record(stream, 'RunClaimed', { runId, runner: rand() < 0.5 ? 'r1' : 'r2', workdir: `/w/${runId}` }, 'runner'));
      if (fate > 0.15) {
        steps.push(() => record(stream, 'RunStarted', { runId, runner: 'r1', pid: 100 + r, processStartTicks: '7', workdir: `/w/${runId}` }, 'runner'));
        steps.push(() => record(out, 'RunOutputAppended', { runId, offset: 0, data: Buffer.from('hello\n').toString('base64') }, 'runner'));
        steps.push(() => record(out, 'RunOutputAppended', { runId, offset: 6, data: Buffer.from('world\n').toString('base64') }, 'runner'));
        if (fate < 0.25) {
          steps.push(() => record(stream, 'RunPaused', { runId }, 'ada'));
          if (fate < 0.2) steps.push(() => record(stream, 'RunResumed', { runId }, 'ada'));
        }
        if (fate > 0.2) {
          const status = pick(OUTCOMES);
          steps.push(() =>
            record(stream, 'RunFinished', { runId, status, exitCode: status === 'succeeded' ? 0 : 1, signal: null, outputBytes: 12, droppedBytes: 0, reason: status === 'lost' ? 'The server stopped' : null }, 'runner'),
          );
          if (fate > 0.9) steps.push(() => record(stream, 'RunOutputExpired', { runId, by: 'age' }, 'system'));
        }
      }
    }
    // The request lands a moment after its admission, sometimes after a later run's.
    if (admitted && rand() < 0.1 && alive.length > 0) {
      alive.push({ runId, jobId, steps: [request, ...steps] });
    } else {
      request();
      if (steps.length > 0) alive.push({ runId, jobId, steps });
    }
    for (let k = 0; k < 2 && alive.length > 0; k++) if (rand() < 0.8) step();
    if (r % 50 === 49) {
      const jobId = pick(jobIds);
      if (rand() < 0.5) record(`job-${jobId}`, 'JobUpdated', { jobId, tags: [pick(TAGS)], description: `now ${pick(WORDS)}` }, 'ada');
      else if (rand() < 0.3) record(`job-${jobId}`, 'JobRemoved', { jobId }, 'ada');
      else record(`job-${jobId}`, 'JobUpdated', { jobId, name: `${pick(WORDS)} renamed ${r}` }, 'ada');
    }
  }
  // Most runs end; a few stay waiting, running or paused.
  const staying = Math.max(30, Math.floor(options.runs / 200));
  while (alive.length > staying) step();
  return { events, jobIds, runIds, end: new Date(clock) };
}
