/**
 * `endercompute runner`: this machine becomes a job server for an EnderCompute server.
 * It connects out over HTTP(S) with a runner token, claims runs its labels allow and
 * executes them (see src/jobserver/). Exit codes: 0 stopped (SIGTERM, SIGINT), 1 the
 * server refused the token or the sandbox cannot work, 2 a usage error.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../config/app-config';
import { JobServer } from '../jobserver/job-server';
import { prepareRuns } from '../runs/execution/run-sandbox';
import { MAX_BATCH_BYTES_LIMIT } from '../runs/runner/process-runner';
import { labelProblems, normalizeLabels } from '../runners/placement';
import { packageVersion } from '../shared/version';
import { RUNNER_CONCURRENCY } from '../shared/whole-number';
import { UsageError, wholeNumberOption } from './commands';
import { cleanText } from './format';

interface RunnerOptions {
  url?: string;
  token?: string;
  name?: string;
  label?: string[];
  maxConcurrent?: string;
  workDir?: string;
}

const many = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Adds `runner` to the program. */
export function addRunnerCommand(program: Command): void {
  program
    .command('runner')
    .description('run jobs for a server on this machine (a job server): connects out, claims runs its labels allow')
    .option('--url <url>', 'the server (default $ENDERCOMPUTE_URL)')
    .option('--token <token>', 'the runner token (default $ENDERCOMPUTE_RUNNER_TOKEN; prefer the variable: arguments are visible to others)')
    .option('--name <name>', "the runner's name: checked against the token's (default: the token's)")
    .option('--label <label>', 'a label this runner offers (repeatable): runs go only to a runner with all of their runsOn', many)
    .option('--max-concurrent <n>', 'runs executed at once (default 4)')
    .option('--work-dir <dir>', "work directories, output spools and the input file cache (default ./endercompute-runner; not a server's data dir)")
    .action(async (options: RunnerOptions) => {
      const code = await runJobServer(options);
      // Not left to the event loop: idle keep-alive connections would hold the exit up for seconds.
      process.stdout.write('', () => process.exit(code));
    });
}

async function runJobServer(options: RunnerOptions): Promise<number> {
  const url = options.url ?? process.env.ENDERCOMPUTE_URL;
  if (!url) throw new UsageError('Which server? Pass --url or set ENDERCOMPUTE_URL');
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url must be an http:// or https:// address, not "${url}"`);
  const token = options.token ?? process.env.ENDERCOMPUTE_RUNNER_TOKEN?.trim();
  if (!token) throw new UsageError('No runner token: set ENDERCOMPUTE_RUNNER_TOKEN (or pass --token)');
  const maxConcurrent = options.maxConcurrent === undefined ? 4 : wholeNumberOption('--max-concurrent', options.maxConcurrent, RUNNER_CONCURRENCY);
  const problems = labelProblems(options.label ?? []);
  if (problems.length > 0) throw new UsageError(`--label: ${problems.join('; ')}`);
  const labels = normalizeLabels(options.label ?? []);
  const workDir = resolve(options.workDir ?? './endercompute-runner');
  // It empties its work/ and spool/ at start: never a server's data dir, whose work/ holds that server's runs.
  if (['events.db', 'projections.db', 'runner-id'].some((file) => existsSync(join(workDir, file)))) {
    throw new UsageError(`--work-dir ${workDir} is a server's data dir: give the job server a folder of its own`);
  }

  // Jobs start with the umask this process was started with; the job server's own files are private.
  const jobUmask = process.umask(0o077);
  // The same sandbox settings as a server's (ENDERCOMPUTE_SANDBOX, _SANDBOX_BIND, _BWRAP); the work dir is hidden from runs like a data dir.
  const config = loadConfig(
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ENDERCOMPUTE_DATA_DIR: workDir,
      ENDERCOMPUTE_RUNNER_ID: 'job-server',
      ENDERCOMPUTE_SANDBOX: process.env.ENDERCOMPUTE_SANDBOX,
      ENDERCOMPUTE_SANDBOX_BIND: process.env.ENDERCOMPUTE_SANDBOX_BIND,
      ENDERCOMPUTE_BWRAP: process.env.ENDERCOMPUTE_BWRAP,
    },
    { jobUmask },
  );
  const log = (line: string): void => void process.stdout.write(`${new Date().toISOString()} ${cleanText(line)}\n`);
  const identity = await whoami(url, token);
  if ('refused' in identity) {
    // The server's own words: only it knows whether the token was revoked, unknown, missing or a key.
    process.stderr.write(`The server refused the runner token: ${cleanText(identity.refused)}\n`);
    return 1;
  }
  const name = identity.name;
  if (options.name !== undefined && options.name !== name) throw new UsageError(`--name ${options.name}, but the token belongs to runner ${name}`);
  const sandbox = await prepareRuns(config);
  if (sandbox.warning !== null) log(`warning: ${sandbox.warning}`);

  const server = new JobServer({
    url,
    token,
    labels,
    maxConcurrent,
    workDir,
    softwareVersion: packageVersion(),
    execution: { sandbox: sandbox.settings, umask: jobUmask, maxBatchBytes: MAX_BATCH_BYTES_LIMIT },
    log,
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => server.stop());
  log(`job server ${name} (on ${hostname()}) for ${url}: labels ${labels.join(', ') || '(none)'}, up to ${maxConcurrent} runs at once, work dir ${workDir}, ${sandbox.kind === 'bwrap' ? 'sandboxed' : 'not sandboxed'}`);
  try {
    await server.run();
  } catch (error) {
    process.stderr.write(`${cleanText(error instanceof Error ? error.message : String(error))}\n`);
    return 1;
  }
  log('stopped');
  return 0;
}

/**
 * The token's runner name, or why the server refused the token (its message); waits
 * (with backoff) while the server is unreachable.
 */
async function whoami(url: string, token: string): Promise<{ name: string } | { refused: string }> {
  let waitMs = 200;
  for (;;) {
    try {
      const response = await fetch(new URL('/api/runner/whoami', url), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
      if (response.status === 401) return { refused: await messageOf(response) };
      if (response.ok) return { name: ((await response.json()) as { name: string }).name };
      process.stderr.write(`The server answered ${response.status} to /api/runner/whoami; trying again\n`);
    } catch (error) {
      process.stderr.write(`Cannot reach ${url} (${(error as { cause?: { code?: string } }).cause?.code ?? String(error)}); trying again\n`);
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    waitMs = Math.min(5_000, waitMs * 2);
  }
}

/** The message of an error answer, or its status when it has none (a proxy's page, say). */
async function messageOf(response: Response): Promise<string> {
  const answer = (await response.json().catch(() => ({}))) as { message?: unknown };
  return typeof answer.message === 'string' ? answer.message : `HTTP ${response.status}`;
}
