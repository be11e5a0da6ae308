import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AppConfig } from '../../config/app-config';
import { resolveInterpreter } from '../runner/interpreter';
import { requireOutputChannel } from '../runner/output-channel';
import { startProcess } from '../runner/process-runner';
import type { SandboxSettings } from '../runner/sandbox';

/**
 * The isolation this server runs jobs with, chosen once at start (see
 * {@link selectSandbox}). Injected wherever runs are started or isolation is shown.
 */
export abstract class RunSandbox {
  /** `bwrap`: every run in a bubblewrap sandbox; `none`: plain processes that can reach the server. */
  abstract readonly kind: 'bwrap' | 'none';
  /** Null when `kind` is `none`. */
  abstract readonly settings: SandboxSettings | null;
  /** Why runs are not isolated (`auto` found no working bubblewrap), for the start-up banner and the dashboard. */
  abstract readonly warning: string | null;
}

/** How to get bubblewrap, named in every message that says it is missing. */
const INSTALL_HINT = 'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap) or set ENDERCOMPUTE_BWRAP to its path';

/**
 * Chooses the sandbox from `ENDERCOMPUTE_SANDBOX`, proving that bubblewrap works
 * by actually running a script in it (a `bwrap` that exists but cannot create
 * namespaces — a container without the rights, a kernel without user namespaces —
 * fails here, not on the first job):
 * - `none`: no sandbox, with a warning;
 * - `bwrap`: the sandbox, or an Error saying what is wrong and how to fix it;
 * - `auto`: the sandbox where it works, otherwise none with a warning saying why.
 * Either way, `ENDERCOMPUTE_SANDBOX_BIND` naming a path that does not exist, or binds
 * without which the sandbox works, is an Error: a setting that asks for isolation never
 * ends in none.
 */
export async function selectSandbox(config: AppConfig): Promise<RunSandbox> {
  if (config.sandboxMode === 'none') {
    return { kind: 'none', settings: null, warning: 'ENDERCOMPUTE_SANDBOX=none: jobs run as the server\'s user with access to its files, keys and processes' };
  }
  // A mistyped bind is a configuration error, not a reason to run jobs unisolated.
  const missing = config.sandboxBinds.filter((bind) => !existsSync(bind.path)).map((bind) => bind.path);
  if (missing.length > 0) throw new Error(`ENDERCOMPUTE_SANDBOX_BIND names paths that do not exist: ${missing.join(', ')}`);
  const problem = await (async (): Promise<string | { settings: SandboxSettings }> => {
    const bwrap = await resolveInterpreter(config.bwrapPath ?? 'bwrap', process.env.PATH ?? '/usr/bin:/bin');
    if (bwrap.error !== undefined) return `no bubblewrap: ${bwrap.error}`;
    const perl = await resolveInterpreter('perl', process.env.PATH ?? '/usr/bin:/bin');
    if (perl.error !== undefined) return `no perl, which runs the sandbox's init: ${perl.error}`;
    // A bind is made at the real path: a symlink on the way (a checkout's node_modules, /var/run)
    // cannot be a mount point, and through the system's read-only view it leads to the real path anyway.
    const binds = config.sandboxBinds.map((bind) => ({ ...bind, path: realpathSync(bind.path) }));
    // The data dir (a job server's work dir) is hidden even when it is new: made first, so that it exists to be covered.
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const hidden = hiddenPaths(config);
    // A bind at a hidden path is mounted after its cover and would show it: the data dir (the log, keys), HOME, secrets.
    const exposing = binds.filter((bind) => hidden.some((item) => realpathSync(item.path) === bind.path)).map((bind) => bind.path);
    if (exposing.length > 0) throw new Error(`ENDERCOMPUTE_SANDBOX_BIND names paths the sandbox hides from jobs (the data directory, HOME, secrets): ${exposing.join(', ')}`);
    const settings: SandboxSettings = { bwrapPath: bwrap.path, perlPath: perl.path, hidden, binds };
    const failure = await probe(settings, config.dataDir);
    if (failure === null) return { settings };
    // A sandbox that works without the binds is broken by them: a configuration error (a bind over /dev, over /), never
    // a reason to run jobs unisolated.
    if (binds.length > 0 && (await probe({ ...settings, binds: [] }, config.dataDir)) === null) {
      throw new Error(`ENDERCOMPUTE_SANDBOX_BIND breaks the sandbox (it works without it): ${failure}. Bind only the paths jobs need, such as a cache or a tool's directory`);
    }
    return failure;
  })();
  if (typeof problem !== 'string') return { kind: 'bwrap', settings: problem.settings, warning: null };
  if (config.sandboxMode === 'bwrap') {
    throw new Error(`ENDERCOMPUTE_SANDBOX=bwrap, but the sandbox does not work here: ${problem}. To fix it, ${INSTALL_HINT}`);
  }
  return { kind: 'none', settings: null, warning: `no working sandbox (${problem}): jobs run as the server's user with access to its files, keys and processes; ${INSTALL_HINT}` };
}

/**
 * What a server or a job server checks before it can start any run: the output channel
 * every run writes into works here, and the sandbox ({@link selectSandbox}).
 *
 * @throws Error saying what does not work and how to fix it.
 */
export async function prepareRuns(config: AppConfig): Promise<RunSandbox> {
  await requireOutputChannel();
  return selectSandbox(config);
}

/**
 * What a run must not see: the data directory (log, keys, other runs, projections),
 * the server's HOME, the `.env` file the server read, and files holding server
 * secrets. Directories are covered with an empty tmpfs, files with /dev/null.
 */
function hiddenPaths(config: AppConfig): SandboxSettings['hidden'] {
  const candidates = [config.dataDir, process.env.HOME, resolve('.env'), ...config.secretPaths];
  const hidden: Array<SandboxSettings['hidden'][number]> = [];
  for (const path of candidates) {
    if (path === undefined || path === '' || path === '/' || !existsSync(path)) continue;
    const absolute = resolve(path);
    if (hidden.some((item) => item.path === absolute)) continue;
    hidden.push({ path: absolute, kind: statSync(absolute).isDirectory() ? 'directory' : 'file' });
  }
  return hidden;
}

/** Runs `echo ok` in the sandbox; null when it worked, otherwise what went wrong. */
async function probe(settings: SandboxSettings, dataDir: string): Promise<string | null> {
  const workdir = join(dataDir, 'work', '.sandbox-probe');
  await mkdir(join(dataDir, 'work'), { recursive: true, mode: 0o700 });
  let output = '';
  try {
    const running = await startProcess(
      { runId: 'sandbox-probe', jobName: 'sandbox probe', runNumber: 0, actor: 'system', interpreter: '/bin/sh', scriptBody: 'echo ok', args: [], env: {}, files: [], workdir },
      {
        readFile: () => Promise.reject(new Error('no input files')),
        onStarted: async () => undefined,
        onOutput: async (batch) => {
          output += batch.bytes.toString('utf8');
        },
      },
      { sandbox: settings },
    );
    const exit = await running.done;
    if (exit.startError !== null) return exit.startError;
    if (exit.exitCode !== 0 || output.trim() !== 'ok') {
      // On one line: it is quoted in a start refusal or warning.
      return `a test script in the sandbox ended with ${exit.signal ?? `exit code ${exit.exitCode}`}: ${output.replace(/\s+/g, ' ').trim().slice(0, 500)}`;
    }
    return null;
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}
