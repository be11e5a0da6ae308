import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The server as it ships: the bundle `npm run build` makes of the compiled entry point (tests run from dist/test/…). */
export const SERVER_ENTRY = resolve(__dirname, '../../server/main.js');

export interface ServerOptions {
  /** Reuse a data directory (to test restarts); a fresh temp dir by default. */
  dataDir?: string;
  /** Extra environment variables for the server process. */
  env?: Record<string, string>;
  key?: string;
  /** Start without ENDERCOMPUTE_KEY: the server generates a key (read from what it prints). */
  generatedKey?: boolean;
  /** The server's working directory (where it reads `.env`); the test's by default. */
  cwd?: string;
  /**
   * Serve from a data directory on a tmpfs of this many MiB, mounted in a mount
   * namespace of the server's own (`unshare -m`; needs root or a user namespace),
   * so a test can fill its disk without touching the machine's. Only the server
   * (and {@link onServerDisk}) see the mount.
   */
  diskMiB?: number;
  /**
   * `ready` (the default): resolve once the server has started and says it is running.
   * `listening`: as soon as it listens, while it still starts (it answers 503 until then);
   * not with `generatedKey`, whose key it prints once started.
   */
  until?: 'ready' | 'listening';
}

export interface ServerProcess {
  url: string;
  key: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the server printed so far. */
  output(): string;
  /** The complete JSON log lines the server printed so far (it logs JSON when stdout is not a terminal), parsed. */
  logLines(): Array<Record<string, unknown>>;
  /** Sends a request with the key (and optional actor). */
  request(path: string, init?: RequestInit & { actor?: string }): Promise<Response>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** Removes the data directory (after stop). */
  cleanup(): void;
}

export const TEST_KEY = 'test-key-0123456789abcdef';

/** How long after its exit a child's stdout and stderr may stay open (held by a descendant) before it counts as read. */
const STDIO_GRACE_MS = 2_000;

/**
 * Resolves with the child's exit code once it exited and everything it printed was
 * read: `'exit'` can come before the last of its output, and a test reading the
 * output at once would miss lines the child wrote just before it ended. A
 * descendant holding stdout or stderr open keeps `'close'` away: then
 * {@link STDIO_GRACE_MS} after the exit. Call it right after `spawn`: for a child
 * that has already closed, it never resolves.
 */
export function exitedAndRead(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    let grace: NodeJS.Timeout | undefined;
    child.once('close', (code) => {
      clearTimeout(grace);
      resolve(code);
    });
    child.once('exit', (code) => (grace = setTimeout(() => resolve(code), STDIO_GRACE_MS)));
  });
}

/**
 * The environment a test server starts with: nothing of this process but PATH and
 * HOME, what `npm run start:prod` sets, a free port on loopback, the data dir, the key
 * (null: let it generate one), then `env`.
 */
export function serverEnvironment(dataDir: string, key: string | null, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...productionLaunch().env,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'C.UTF-8',
    PORT: '0',
    HOST: '127.0.0.1',
    ENDERCOMPUTE_DATA_DIR: dataDir,
    ...(key === null ? {} : { ENDERCOMPUTE_KEY: key }),
    ...env,
  };
}

/**
 * How `npm run start:prod` (package.json) starts the server: the environment it sets
 * (`GLIBC_TUNABLES`) and the flags Node is given, so that memory and output speed are
 * measured on the server as it is started (they depend on them: `--max-semi-space-size`,
 * `--max-old-space-size`, `--heap-growing-percent`, and malloc's transparent huge pages).
 * Assignments are read as `NAME=value` words, without shell quoting.
 */
export function productionLaunch(): { env: Record<string, string>; flags: string[] } {
  const scripts = (JSON.parse(readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const match = /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)node((?:\s+--\S+)*)\s+dist\/server\/main\.js$/.exec(scripts['start:prod'] ?? '');
  if (!match) throw new Error(`package.json's start:prod is not "[NAME=value ...] node [--flags] dist/server/main.js": ${scripts['start:prod']}`);
  const words = (text: string): string[] => text.trim().split(/\s+/).filter((word) => word !== '');
  const env = Object.fromEntries(words(match[1]).map((assignment) => [assignment.slice(0, assignment.indexOf('=')), assignment.slice(assignment.indexOf('=') + 1)]));
  return { env, flags: words(match[2]) };
}

/** The Node flags of {@link productionLaunch}. */
export function productionNodeFlags(): string[] {
  return productionLaunch().flags;
}

/**
 * Starts `node dist/server/main.js` on a free port, with the Node flags `npm run start:prod`
 * gives it (so every test runs the server within the heap it ships with), and resolves
 * once it serves (or, with `until: 'listening'`, once it listens).
 */
export async function startServer(options: ServerOptions = {}): Promise<ServerProcess> {
  if (options.until === 'listening' && options.generatedKey) throw new Error('A generated key is printed once the server has started: wait until it is ready');
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'endercompute-test-'));
  let key = options.key ?? TEST_KEY;
  const server = [process.execPath, ...productionNodeFlags(), SERVER_ENTRY];
  const command = options.diskMiB === undefined ? server : onSmallDisk(options.diskMiB, dataDir, server);
  const child = spawn(command[0], command.slice(1), {
    cwd: options.cwd,
    env: serverEnvironment(dataDir, options.generatedKey ? null : key, options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const secrets = secretsOf(options.generatedKey ? {} : { ENDERCOMPUTE_KEY: key }, options.env ?? {});
  let printed = '';
  child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const exited = exitedAndRead(child).then(() => undefined);

  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`The server did not start in time:\n${printed}`)), 30_000);
    const check = (): void => {
      // The start-up lines are JSON log lines: the address and the generated key are in their messages.
      const messages = parseLogLines(printed).map((line) => String(line.msg ?? ''));
      const address = options.until === 'listening' ? /is listening at (http:\/\/[^\s/]+)\// : /running at (http:\/\/[^\s/]+)\//;
      const match = messages.map((message) => address.exec(message)).find(Boolean);
      if (match) {
        const generated = messages.map((message) => /^Key \(renewed every Monday 00:00\): (\S+)$/.exec(message)).find(Boolean);
        if (options.generatedKey && generated) key = generated[1]!;
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    child.stdout?.on('data', check);
    void exitedAndRead(child).then((code) => {
      clearTimeout(timer);
      reject(new Error(`The server exited with ${code} before serving:\n${printed}`));
    });
  });

  return {
    url,
    get key() {
      return key;
    },
    dataDir,
    child,
    output: () => printed,
    logLines: () => parseLogLines(printed),
    request: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
      if (init.actor !== undefined) headers.set('x-actor', init.actor);
      return fetch(`${url}${path}`, { ...init, headers });
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      assertNoSecretsIn(printed, secrets, options.generatedKey ? key : null);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      assertNoSecretsIn(printed, secrets, options.generatedKey ? key : null);
    },
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/**
 * The secrets a server was started with: the key, named keys, and every variable whose
 * name says it holds a key, token, secret or password.
 */
function secretsOf(...environments: Array<Record<string, string>>): Array<{ name: string; value: string }> {
  const secrets: Array<{ name: string; value: string }> = [];
  for (const env of environments) {
    for (const [name, value] of Object.entries(env)) {
      if (!/KEY|TOKEN|SECRET|PASSWORD/i.test(name) || value.trim().length < 8) continue;
      if (name === 'ENDERCOMPUTE_KEYS') {
        for (const entry of value.split(',')) secrets.push({ name: `a key in ${name}`, value: entry.slice(entry.indexOf('=') + 1).trim() });
      } else secrets.push({ name, value: value.trim() });
    }
  }
  return secrets;
}

/**
 * Every server a test runs is checked when it stops: no key or token it was given may
 * appear in what it printed, and a generated key only in its one line per start.
 * Fails naming the secret, never showing it.
 */
function assertNoSecretsIn(printed: string, secrets: Array<{ name: string; value: string }>, generatedKey: string | null): void {
  for (const secret of secrets) {
    if (secret.value.length >= 8 && printed.includes(secret.value)) throw new Error(`The server printed ${secret.name}`);
  }
  if (generatedKey !== null) {
    const starts = printed.split('"event":"server started"').length - 1;
    const shown = printed.split(generatedKey).length - 1;
    if (shown > starts) throw new Error(`The server printed its generated key ${shown} times in ${starts} start(s)`);
  }
}

/** The lines of `text` that are whole JSON objects (log lines), parsed; other lines (plain stderr) are skipped. */
export function parseLogLines(text: string): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line cut mid-write (the rest is still in the pipe), or not JSON after all.
    }
  }
  return lines;
}

/**
 * Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. A check
 * that throws is tried again too, until the deadline, and its last error is in the
 * failure: what a test waits for may not exist yet where it looks (a server sharing the
 * store learns of another's run a moment later, and answers 404 until then).
 */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'the condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: { error: unknown } | null = null;
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      failure = { error };
    }
    if (Date.now() > deadline) {
      const last = failure === null ? '' : `; the last check failed: ${failure.error instanceof Error ? failure.error.message : String(failure.error)}`;
      throw new Error(`Timed out waiting for ${what}${last}`, failure === null ? undefined : { cause: failure.error });
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** JSON of a response, failing with the body when the status is not the expected one. */
export async function expectJson<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`Expected HTTP ${status}, got ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** `server` (the node command line) in a mount namespace of its own, its data dir a fresh tmpfs of `megabytes` MiB. */
function onSmallDisk(megabytes: number, dataDir: string, server: string[]): string[] {
  const script = `mount -t tmpfs -o size=${megabytes}m,mode=0700 endercompute-test "$0" && exec "$@"`;
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, dataDir, ...server];
}

/**
 * Runs a shell command inside a server's mount namespace (where its small disk
 * is mounted, see {@link ServerOptions.diskMiB}), e.g. to fill or free the disk.
 * Resolves with its stdout; rejects when it fails.
 */
export function onServerDisk(server: ServerProcess, command: string): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('nsenter', ['--target', String(server.child.pid), '--mount', 'sh', '-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    void exitedAndRead(child).then((code) => (code === 0 ? resolveRun(out) : reject(new Error(`${command} failed (${code}): ${err}`))));
  });
}
