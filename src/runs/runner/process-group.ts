/**
 * Small Linux process helpers shared by the process runner and, later, by start-up
 * recovery (which must tell "our run's process is still alive" from "its pid was
 * reused by something else").
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

/** The parts of `/proc/<pid>/stat` we use. */
export interface ProcessStat {
  /** One-letter state: `R`, `S`, `D`, `T`, `Z` (zombie), … */
  state: string;
  /** Field 22: start time in clock ticks since boot, kept as a string (it can exceed 2^53 in theory). */
  startTicks: string;
}

/**
 * Parses the text of `/proc/<pid>/stat`. The second field (comm, the executable's
 * name) is wrapped in parentheses and may itself contain spaces and parentheses, so
 * the fields are counted from the LAST `)`, which the kernel always writes right
 * after comm. Returns null for text that does not look like a stat line.
 */
export function parseProcStat(text: string): ProcessStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  // After ") " come fields 3 (state), 4 (ppid), … so field N is at index N - 3.
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const state = fields[0];
  const startTicks = fields[22 - 3];
  if (state === undefined || startTicks === undefined || !/^\d+$/.test(startTicks)) return null;
  return { state, startTicks };
}

/** Reads and parses `/proc/<pid>/stat`; null when the process does not exist (or /proc is unreadable). */
export function readProcessStat(pid: number): ProcessStat | null {
  if (!isPlausiblePid(pid)) return null;
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

/** The process's start time (field 22 of `/proc/<pid>/stat`), or null when it does not exist. */
export function readProcessStartTicks(pid: number): string | null {
  return readProcessStat(pid)?.startTicks ?? null;
}

/**
 * True when `pid` is running and is the same process that was recorded with
 * `startTicks` (a reused pid has a different start time). A zombie counts as gone:
 * it has exited and only waits for its parent to collect it.
 */
export function isSameProcessAlive(pid: number, startTicks: string | null): boolean {
  if (startTicks === null) return false;
  const stat = readProcessStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X' && stat.startTicks === startTicks;
}

/**
 * Sends `signal` to the process group led by `pid` (`kill(-pid, signal)`). Returns
 * true when it was delivered, false when the group is gone (ESRCH), not ours (EPERM)
 * or `pid` is not a plausible group id. Never throws.
 *
 * The pid check matters: `kill(0)` would signal the server's own group and
 * `kill(-1)` every process the server may signal.
 */
export function killProcessGroup(pid: number, signal: NodeJS.Signals | number): boolean {
  if (!isPlausiblePid(pid) || pid === process.pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * The pids of processes whose environment holds exactly `name=value`, other than
 * this process. Used to find what a run started that escaped its process group
 * (`setsid`, double forks): the runner marks every run's environment with its run id,
 * as Jenkins' ProcessTreeKiller does with its cookie. Processes whose environment
 * cannot be read (other users) are skipped.
 */
export async function findProcessesByEnvironment(name: string, value: string): Promise<number[]> {
  const needle = Buffer.from(`${name}=${value}\0`);
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const pids = entries.filter((entry) => /^\d+$/.test(entry)).map(Number).filter((pid) => pid !== process.pid);
  const found: number[] = [];
  // A few reads at a time: one by one is slow (each goes through the thread pool), all at once floods it.
  for (let start = 0; start < pids.length; start += SCAN_CONCURRENCY) {
    const slice = pids.slice(start, start + SCAN_CONCURRENCY);
    const environs = await Promise.all(slice.map((pid) => readFile(`/proc/${pid}/environ`).catch(() => null)));
    environs.forEach((environ, index) => {
      if (environ !== null && hasEntry(environ, needle)) found.push(slice[index]!);
    });
  }
  return found;
}

/** How many `/proc/<pid>/environ` files {@link findProcessesByEnvironment} reads at once. */
const SCAN_CONCURRENCY = 32;

/** Whether a NUL-separated environment block contains `needle` as a whole entry. */
function hasEntry(environ: Buffer, needle: Buffer): boolean {
  // The kernel does not always end the block with a NUL (a process may rewrite it), so add one.
  const block = Buffer.concat([environ, Buffer.from([0])]);
  for (let at = block.indexOf(needle); at >= 0; at = block.indexOf(needle, at + 1)) {
    if (at === 0 || block[at - 1] === 0) return true;
  }
  return false;
}

/** A pid that may safely be negated into a process group id: an integer above 1. */
function isPlausiblePid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 1;
}
