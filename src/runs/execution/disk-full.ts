/**
 * What a run's end says when the disk filled up (issue 10, item 13), and
 * recording that end once there is room again. Pure wording plus one retry
 * loop, kept apart from the executor so the rule is in one place.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isDiskFull } from '../../shared/storage-full';
import type { RunState } from '../run.decider';

/** First wait before trying again to record on a full disk; doubles up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5_000;

/**
 * The reason a run ends `failed` when `error` (what stopped it) says the disk is
 * full; null for any other error. A run that had started was cut short, and its
 * stored output is exactly `state.outputBytes` bytes (batches are stored in
 * order, so what was kept is a prefix of what it wrote); one that had not
 * started never ran.
 */
export function diskFullReason(error: unknown, state: Pick<RunState, 'phase' | 'outputBytes'>): string | null {
  if (!isDiskFull(error)) return null;
  const advice = 'free space on the server, then run it again';
  if (state.phase === 'running' || state.phase === 'paused') {
    return `The disk filled up while the run was running, so it was stopped: the first ${describeBytes(state.outputBytes)} of its output were kept (${advice})`;
  }
  return `The disk is full, so the run could not be started (${advice})`;
}

/** `1234 bytes`, or `10485760 bytes (10.0 MiB)` from 1 MiB on. */
export function describeBytes(count: number): string {
  const mib = 1024 * 1024;
  return count >= mib ? `${count} bytes (${(count / mib).toFixed(1)} MiB)` : `${count} bytes`;
}

/**
 * Runs `record` until it does not fail for a full disk, waiting between tries,
 * so a run's end is recorded by itself once space is freed. Other errors, and
 * `signal` aborting (the server is stopping), end the tries with the error.
 */
export async function retryWhileDiskFull<T>(record: () => Promise<T>, signal: AbortSignal, onWait?: (error: unknown) => void): Promise<T> {
  for (let wait = FIRST_RETRY_MS; ; wait = Math.min(wait * 2, MAX_RETRY_MS)) {
    try {
      return await record();
    } catch (error) {
      if (!isDiskFull(error) || signal.aborted) throw error;
      onWait?.(error);
      await delay(wait, undefined, { signal }).catch(() => undefined);
    }
  }
}
