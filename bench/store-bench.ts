/**
 * Event store benchmark: append rate and replay (catch-up subscription) rate, for any
 * adapter of the port. `bench/main.ts` calls it and prints the figures.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { comparePositions, type EventStore, type NewEvent, type Position } from '../src/event-store/event-store.port';

/** What {@link benchStore} measured. */
export interface StoreBenchResult {
  /** Events appended per second (see {@link benchStore} for the pattern). */
  appendEventsPerSec: number;
  /** Events delivered per second by a catch-up subscription from the start of the log. */
  replayEventsPerSec: number;
  /** Events the benchmark appended. */
  events: number;
}

/** How many runs write at the same time: each wave is one append per run, all in flight together. */
const CONCURRENT_RUNS = 64;

/**
 * Appends `events` (default 100 000) small `RunOutputAppended`-like events, then replays
 * the log with `subscribeAll` from the start until the last appended event arrives.
 *
 * Append pattern, chosen to match what the runner does: output is batched into one
 * event per append, and many runs write at once. So the benchmark runs
 * {@link CONCURRENT_RUNS} streams and, in waves, issues one single-event append per
 * stream concurrently (each with its exact expected revision) and waits for the wave.
 * A store with group commit writes a wave in one transaction; a store without it pays
 * for each append separately. Replay counts every event it receives, including any the
 * store held before the benchmark started.
 */
export async function benchStore(store: EventStore, options: { events?: number } = {}): Promise<StoreBenchResult> {
  const total = options.events ?? 100_000;
  if (!Number.isSafeInteger(total) || total < 1) throw new RangeError(`events must be a whole number >= 1 (got ${total})`);

  const appended = await appendPhase(store, total);
  const replayed = await replayPhase(store, appended.last);
  return {
    appendEventsPerSec: rate(total, appended.ms),
    replayEventsPerSec: rate(replayed.count, replayed.ms),
    events: total,
  };
}

async function appendPhase(store: EventStore, total: number): Promise<{ ms: number; last: Position }> {
  const runId = randomUUID().slice(0, 8);
  const streams = Array.from({ length: Math.min(CONCURRENT_RUNS, total) }, (_, i) => `benchrun-${runId}x${i}`);
  const revisions: bigint[] = streams.map(() => -1n);
  // Realistic output: a line or two of console text, base64 as the runner stores it.
  const chunk = randomBytes(90).toString('base64');
  let written = 0;
  let last: Position | null = null;

  const started = performance.now();
  while (written < total) {
    const wave = Math.min(streams.length, total - written);
    const results = await Promise.all(
      streams.slice(0, wave).map((stream, i) => {
        const expected = revisions[i] < 0n ? 'no_stream' : revisions[i];
        return store.append(stream, [outputEvent(runId, written + i, chunk)], expected);
      }),
    );
    results.forEach((result, i) => {
      revisions[i] = result.nextRevision;
      if (last === null || comparePositions(result.position, last) > 0) last = result.position;
    });
    written += wave;
  }
  const ms = performance.now() - started;
  if (last === null) throw new Error('The benchmark appended nothing');
  return { ms, last };
}

async function replayPhase(store: EventStore, last: Position): Promise<{ ms: number; count: number }> {
  let count = 0;
  const started = performance.now();
  const subscription = store.subscribeAll();
  try {
    for await (const event of subscription) {
      count += 1;
      if (comparePositions(event.position, last) >= 0) break;
    }
  } finally {
    await subscription.close();
  }
  return { ms: performance.now() - started, count };
}

function outputEvent(runId: string, sequence: number, chunk: string): NewEvent {
  return {
    id: randomUUID(),
    type: 'RunOutputAppended',
    data: { offset: sequence * 90, bytes: chunk, pieces: [{ stream: 'stdout', length: 90 }] },
    metadata: {
      actor: 'bench',
      at: new Date(1_700_000_000_000 + sequence).toISOString(),
      correlationId: runId,
      causationId: null,
      source: 'runner',
    },
  };
}

function rate(count: number, ms: number): number {
  return Math.round((count * 1000) / Math.max(ms, 0.001));
}
