import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** The compiled CLI entry point (tests run from dist/test/…). */
export const CLI_ENTRY = resolve(__dirname, '../../src/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the built CLI against a server, as a person would, and collects what it printed (stdout as bytes). */
export function runCli(server: { url: string; key: string }, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
      env: { PATH: process.env.PATH ?? '', ENDERCOMPUTE_URL: server.url, ENDERCOMPUTE_KEY: server.key, ...env },
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => done({ code, stdout: Buffer.concat(stdout), stderr }));
  });
}
