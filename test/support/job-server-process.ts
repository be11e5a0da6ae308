import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_ENTRY } from './cli';
import { eventually, exitedAndRead, productionLaunch } from './server-process';

export interface JobServerProcess {
  child: ChildProcess;
  workDir: string;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with its exit code (null after a signal) once it exited. */
  exited: Promise<number | null>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash of the job server. */
  kill(): Promise<void>;
  cleanup(): void;
}

export interface JobServerOptions {
  url: string;
  token: string;
  labels?: string[];
  maxConcurrent?: number;
  name?: string;
  /** Extra environment (ENDERCOMPUTE_SANDBOX_BIND, …). */
  env?: Record<string, string>;
  /** The work directory of an earlier job server to start on again (default: a new one). */
  workDir?: string;
}

/**
 * Starts `endercompute runner` (the built CLI) as a person would on another machine,
 * the token in ENDERCOMPUTE_RUNNER_TOKEN and the environment the README's systemd unit
 * gives it (what `npm run start:prod` sets), and resolves once it says it is a job server.
 */
export async function startJobServer(options: JobServerOptions): Promise<JobServerProcess> {
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'endercompute-jobserver-'));
  const args = [CLI_ENTRY, 'runner', '--url', options.url, '--work-dir', workDir];
  for (const label of options.labels ?? []) args.push('--label', label);
  if (options.maxConcurrent !== undefined) args.push('--max-concurrent', String(options.maxConcurrent));
  if (options.name !== undefined) args.push('--name', options.name);
  const child = spawn(process.execPath, args, {
    env: { ...productionLaunch().env, PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', ENDERCOMPUTE_RUNNER_TOKEN: options.token, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const exited = exitedAndRead(child);
  const ended = { done: false };
  void exited.then(() => (ended.done = true));
  await eventually(async () => {
    if (ended.done) throw new Error(`The job server exited before it was ready:\n${printed}`);
    return printed.includes('job server ') ? true : undefined;
  }, 20_000, 'the job server to start');
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
    if (printed.includes(options.token)) throw new Error('The job server printed its runner token');
  };
  return {
    child,
    workDir,
    output: () => printed,
    exited,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    cleanup: () => rmSync(workDir, { recursive: true, force: true }),
  };
}
