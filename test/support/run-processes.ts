import { readdirSync, readFileSync } from 'node:fs';
import { findProcessesByEnvironment } from '../../src/runs/runner/process-group';
import { RUN_ID_VARIABLE } from '../../src/runs/runner/run-environment';

/** Pids of the processes whose environment carries a run's id: what is left of the run on this machine. */
export function processesOfRun(runId: string): Promise<number[]> {
  return findProcessesByEnvironment(RUN_ID_VARIABLE, runId);
}

/**
 * Host pids of live processes whose command line contains `token` (zombies and this
 * process left out). A job inside the sandbox has its own PID namespace, so the pids
 * it prints mean nothing here: tests mark its processes with a unique argument and
 * look for that instead.
 */
export function processesWithArgument(token: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const state = /\)\s+(\S)/.exec(readFileSync(`/proc/${entry}/stat`, 'latin1'))?.[1];
      if (state === 'Z' || state === 'X') continue;
      if (readFileSync(`/proc/${entry}/cmdline`).toString('latin1').split('\0').includes(token)) found.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/** The state letter of a process (`S`, `R`, `T` stopped, …), or null when it is gone. */
export function processState(pid: number): string | null {
  try {
    return /\)\s+(\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'latin1'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** A unique `sleep` duration to mark a process: `sleep <token>` sleeps long enough and is found by {@link processesWithArgument}. */
export function uniqueSleep(): string {
  return `9${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}.${String(process.hrtime.bigint() % 1000000n).padStart(6, '0')}`;
}

/** The pids of `pid`'s child processes: every process whose parent it is. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The fields after the command name (which may hold spaces): state, then the parent's pid.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // Ended meanwhile.
    }
  }
  return children;
}
