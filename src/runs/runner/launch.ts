/**
 * The two ways a run's process is started — inside the bubblewrap sandbox, or as a
 * plain process (the explicit opt-out) — behind one small handle, so that the
 * process runner reads output, signals and reports exits the same way for both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Duplex } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { findProcessesByEnvironment, killProcessGroup } from './process-group';
import { RUN_ID_VARIABLE } from './run-environment';
import { bwrapArguments, encodeEnvironment, INIT_SIGNALS, parseInitStatus, SANDBOX_INIT, type SandboxSettings } from './sandbox';

/** What to start: `<interpreterPath> <scriptPath> <args…>` in `workdir` with `env`. */
export interface LaunchCommand {
  interpreterPath: string;
  /** The name the interpreter sees as its `argv[0]` (what the template says, e.g. `bash`). */
  argv0: string;
  scriptPath: string;
  args: string[];
  env: Record<string, string>;
  workdir: string;
  /** The umask the script starts with, in octal (the server's own is stricter). */
  umask: string;
  /** The writing end of the output channel (see output-channel.ts): the script's stdout and stderr. */
  output: Socket;
}

/** How a started process ended, as the run reports it. */
export interface LaunchStatus {
  exitCode: number | null;
  signal: string | null;
  startError: string | null;
}

/** A started process. */
export interface Launched {
  child: ChildProcess;
  /** Whether processes of the run can outlive the main one (and must be looked for). */
  leftoversPossible: boolean;
  /** Sends a signal to every process of the run. False when there is nothing to signal. */
  signal(signal: NodeJS.Signals): boolean;
  /** Called once the main process exited: from then on its pid may belong to someone else. */
  exited(): void;
  /** Kills whatever the run left behind (after the main process exited). */
  killLeftovers(): Promise<void>;
  /** How it ended, from the exit of the spawned process and what the launcher learned. */
  status(code: number | null, signal: NodeJS.Signals | null): Promise<LaunchStatus>;
}

/** What the launcher itself (the sandbox, the shell) said on its stderr is kept up to this size for error messages. */
const DIAGNOSTICS_LIMIT = 8 * 1024;

/**
 * A plain process in its own process group (`detached`), through `/bin/sh` so that
 * stderr joins stdout and the umask is the server's original one. Signals go to the
 * group; after the exit, the group and every process carrying the run's id are
 * killed (processes that left the group with `setsid` and kept their environment).
 */
export function launchDirect(command: LaunchCommand, runId: string): Launched {
  const child = spawn('/bin/sh', ['-c', 'umask "$1"; shift; exec "$@" 2>&1', 'endercompute-run', command.umask, command.interpreterPath, command.scriptPath, ...command.args], {
    cwd: command.workdir,
    env: command.env,
    detached: true,
    stdio: ['ignore', command.output, 'pipe'],
  });
  const diagnostics = collect(child.stderr);
  let released = false;
  const pid = child.pid;
  return {
    child,
    leftoversPossible: true,
    signal: (signal) => !released && pid !== undefined && killProcessGroup(pid, signal),
    exited: () => undefined,
    killLeftovers: async () => {
      if (pid !== undefined) killProcessGroup(pid, 'SIGKILL');
      // After the final kill the group id may be reused by an unrelated process: never signal it again.
      released = true;
      for (const leftover of await findProcessesByEnvironment(RUN_ID_VARIABLE, runId)) {
        try {
          process.kill(leftover, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    },
    status: async (code, signal) => {
      // Only the shell writes to its stderr (the script's goes to stdout): 126/127 with a message is the shell failing to start it.
      const said = (await diagnostics).trim();
      if ((code === 126 || code === 127) && said !== '') return { exitCode: null, signal: null, startError: `cannot start ${command.argv0}: ${said}` };
      return { exitCode: code, signal, startError: null };
    },
  };
}

/**
 * `bwrap … -- perl -e INIT …` (see {@link SANDBOX_INIT}): file descriptor 3 is a
 * socket the server writes to (first the environment, then signal names), file
 * descriptor 4 one the init answers on with the script's exact status. SIGKILL is
 * sent to bubblewrap itself: the init dies with it (`--die-with-parent`) and the
 * kernel ends every process of the sandbox, whatever state they are in.
 */
export function launchSandboxed(settings: SandboxSettings, command: LaunchCommand): Launched {
  const args = [
    ...bwrapArguments(settings, command.workdir),
    '--',
    settings.perlPath, '-e', SANDBOX_INIT, '--',
    command.umask, command.interpreterPath, command.argv0, command.scriptPath, ...command.args,
  ];
  const child = spawn(settings.bwrapPath, args, {
    cwd: command.workdir,
    // Nothing of the server: the run's environment reaches the script over the control socket.
    env: {},
    detached: true,
    stdio: ['ignore', command.output, 'pipe', 'pipe', 'pipe'],
  });
  const diagnostics = collect(child.stderr);
  const control = child.stdio[3] as Duplex | null;
  const statusSocket = child.stdio[4] as Duplex | null;
  let statusLine: string | null = null;
  let running = child.pid !== undefined;
  // A control line the init did not read when it ended resets this socket: harmless, the status has its own.
  control?.on('error', () => undefined);
  control?.write(encodeEnvironment(command.env));
  if (statusSocket) {
    statusSocket.on('error', () => undefined);
    let text = '';
    statusSocket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end >= 0 && statusLine === null) statusLine = text.slice(0, end);
    });
  }
  const statusClosed = statusSocket ? new Promise<void>((resolve) => statusSocket.once('close', () => resolve())) : Promise.resolve();
  return {
    child,
    // The kernel ended every process of the sandbox when its init ended.
    leftoversPossible: false,
    signal: (signal) => {
      if (!running) return false;
      if (signal === 'SIGKILL') return killProcessGroup(child.pid!, 'SIGKILL');
      if (!(INIT_SIGNALS as readonly string[]).includes(signal) || !control?.writable) return false;
      control.write(`${signal.slice(3)}\n`);
      return true;
    },
    exited: () => {
      running = false;
    },
    killLeftovers: async () => undefined,
    status: async (code, signal) => {
      // The status socket closes once the init and bubblewrap are gone, after delivering
      // what the init wrote; the timer only guards against a descriptor held elsewhere.
      await Promise.race([statusClosed, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      const status = statusLine === null ? null : parseInitStatus(statusLine);
      if (status !== null && 'error' in status) return { exitCode: null, signal: null, startError: status.error };
      if (status !== null) return { exitCode: status.exitCode, signal: status.signal === null ? null : signalName(status.signal), startError: null };
      // No status: killed from outside (SIGKILL after the grace period), or bubblewrap could not set up.
      if (signal !== null) return { exitCode: null, signal, startError: null };
      const said = (await diagnostics).trim();
      return { exitCode: null, signal: null, startError: `the sandbox could not start the run${said ? `: ${said}` : ` (bwrap exit code ${code})`}` };
    },
  };
}

/** The name of a signal number (`15` → `SIGTERM`). */
function signalName(signal: number): string {
  const entry = Object.entries(osConstants.signals).find(([, value]) => value === signal);
  return entry ? entry[0] : `signal ${signal}`;
}

/** Reads a stream to its end, keeping the first {@link DIAGNOSTICS_LIMIT} bytes. */
function collect(stream: Readable | null): Promise<string> {
  if (!stream) return Promise.resolve('');
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    if (size < DIAGNOSTICS_LIMIT) chunks.push(chunk.subarray(0, DIAGNOSTICS_LIMIT - size));
    size += chunk.length;
  });
  stream.on('error', () => undefined);
  return new Promise((resolve) => stream.once('close', () => resolve(Buffer.concat(chunks).toString('utf8'))));
}
