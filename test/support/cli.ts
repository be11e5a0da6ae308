import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** The compiled CLI entry point (tests run from dist/test/…). */
export const CLI_ENTRY = resolve(__dirname, '../../src/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

interface Target {
  url: string;
  key: string;
}

/** Runs the built CLI against a server, as a person would, and collects what it printed (stdout as bytes). */
export function runCli(server: Target, args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  return collect(process.execPath, [CLI_ENTRY, ...args], { ENDERCOMPUTE_URL: server.url, ENDERCOMPUTE_KEY: server.key, ...env }, cwd);
}

/** A CLI process under way: what it has written to stderr so far, and its result once it ends. */
export interface RunningCli {
  stderrSoFar(): string;
  result: Promise<CliResult>;
}

/** {@link runCli}, watched while it runs. */
export function startCli(server: Target, args: string[], env: Record<string, string> = {}): RunningCli {
  let stderr = '';
  const result = collect(process.execPath, [CLI_ENTRY, ...args], { ENDERCOMPUTE_URL: server.url, ENDERCOMPUTE_KEY: server.key, ...env }, undefined, (chunk) => (stderr += chunk));
  return { stderrSoFar: () => stderr, result };
}

/**
 * Runs one line of shell as a person would type it (bash parses the quotes,
 * `--`, `<(…)`), with `endercompute` meaning the built CLI; `setup` runs first
 * in the same shell (e.g. the README's `export` line), `after` runs after it.
 */
export function runShellLine(line: string, options: { cwd: string; setup?: string; after?: string }): Promise<CliResult> {
  const script = [
    'endercompute() { "$ENDERCOMPUTE_TEST_NODE" "$ENDERCOMPUTE_TEST_CLI" "$@"; }',
    options.setup ?? '',
    line,
    ...(options.after ? ['status=$?', options.after, 'exit $status'] : []),
  ].join('\n');
  return collect('bash', ['--norc', '--noprofile', '-c', script], { ENDERCOMPUTE_TEST_NODE: process.execPath, ENDERCOMPUTE_TEST_CLI: CLI_ENTRY }, options.cwd);
}

function collect(command: string, args: string[], env: Record<string, string>, cwd?: string, onStderr?: (text: string) => void): Promise<CliResult> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      onStderr?.(chunk.toString());
    });
    child.on('close', (code) => done({ code, stdout: Buffer.concat(stdout), stderr }));
  });
}
