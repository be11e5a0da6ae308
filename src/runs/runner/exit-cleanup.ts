/**
 * What happens after a run's main process exited: nothing it started may outlive it
 * (the idea of Jenkins' ProcessTreeKiller), and its output pipes must be read to the
 * end without letting a stray process keep the run open forever.
 */
import { findProcessesByEnvironment, killProcessGroup } from './process-group';
import { RUN_ID_VARIABLE } from './run-environment';

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
  /** The main process's pid, which is also its process group id. */
  pid: number;
  runId: string;
  /** How long children may keep the pipes open after the main process exited. */
  killGraceMs: number;
  /** Settles when both stdout and stderr closed. */
  pipesClosed: Promise<void>;
  /** Bytes read from the pipes so far, and whether reading is paused for backpressure. */
  readState(): { bytesRead: number; paused: boolean };
  /** Gives up on the pipes (a process we cannot kill still holds them). */
  destroyPipes(): void;
  /** Called right after the group was killed: from then on its id may belong to someone else. */
  onGroupKilled(): void;
}

/**
 * Call once the main process exited. Waits up to `killGraceMs` for the pipes to
 * close, then SIGKILLs whatever is left of the process group (whether or not it holds
 * the pipes) and every process still marked with the run's id (those that left the
 * group with `setsid`), then waits for the pipes to close. If a process that could not
 * be found keeps them open, they are destroyed once nothing arrives for a while or
 * too much arrives. Resolves when both pipes are closed.
 */
export async function cleanUpAfterExit(context: ExitCleanupContext): Promise<void> {
  let closed = false;
  void context.pipesClosed.then(() => {
    closed = true;
  });
  await settleWithin(context.pipesClosed, context.killGraceMs);

  killProcessGroup(context.pid, 'SIGKILL');
  context.onGroupKilled();
  for (const pid of await findProcessesByEnvironment(RUN_ID_VARIABLE, context.runId)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

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
