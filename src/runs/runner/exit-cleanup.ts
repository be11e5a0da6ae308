/**
 * What happens after a run's main process exited: nothing it started may outlive it
 * (the idea of Jenkins' ProcessTreeKiller), and its output pipes must be read to the
 * end without letting a stray process keep the run open forever.
 */

/** How often the pipes are checked once the leftovers were killed. */
const POLL_MS = 100;
/** A pipe that stays open with no data for this long after the kill is held by a process we could not find. */
const STALL_MS = 1_000;
/**
 * Bytes that may still arrive after the kill. What was written before it sits in the
 * kernel's pipe buffers (64 KiB by default, at most a few MiB); more than this means
 * something we could not find is still writing.
 */
const POST_KILL_BYTE_BUDGET = 8 * 1024 * 1024;

/** What {@link cleanUpAfterExit} needs to know about, and do to, the run's process. */
export interface ExitCleanupContext {
  /** How long children may keep the pipe open after the main process exited. */
  killGraceMs: number;
  /** Settles when the output pipe closed. */
  pipesClosed: Promise<void>;
  /** Bytes read from the pipes so far, and whether reading is paused for backpressure. */
  readState(): { bytesRead: number; paused: boolean };
  /** Gives up on the pipes (a process we cannot kill still holds them). */
  destroyPipes(): void;
  /** Kills every process the run left (its process group, processes marked with its id). */
  killLeftovers(): Promise<void>;
}

/**
 * Call once the main process exited. Waits up to `killGraceMs` for the pipe to
 * close, then kills whatever the run left (whether or not it holds the pipe), then
 * waits for the pipe to close. If a process that could not
 * be found keeps them open, they are destroyed once nothing arrives for a while or
 * too much arrives. Resolves when both pipes are closed.
 */
export async function cleanUpAfterExit(context: ExitCleanupContext): Promise<void> {
  let closed = false;
  void context.pipesClosed.then(() => {
    closed = true;
  });
  await settleWithin(context.pipesClosed, context.killGraceMs);

  await context.killLeftovers();

  const startBytes = context.readState().bytesRead;
  let lastBytes = startBytes;
  let idleMs = 0;
  while (!closed) {
    await settleWithin(context.pipesClosed, POLL_MS);
    if (closed) break;
    const { bytesRead, paused } = context.readState();
    if (bytesRead - startBytes > POST_KILL_BYTE_BUDGET) break;
    // While paused for backpressure nothing is read, so silence proves nothing.
    if (paused || bytesRead !== lastBytes) {
      lastBytes = bytesRead;
      idleMs = 0;
      continue;
    }
    idleMs += POLL_MS;
    if (idleMs >= STALL_MS) break;
  }
  if (!closed) context.destroyPipes();
  await context.pipesClosed;
}

/** Waits for `promise` to settle, or `ms`, whichever comes first, without leaving a timer behind. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise.then(() => undefined, () => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
