import { type ChildProcess, fork } from 'node:child_process';
import type { LogLocation } from '../event-store/create-event-store';
import type { BuildProgress, EngineReporter, ProjectionBuilder } from './projection-engine';

/** What the server sends its build process: the log to read and where to install the result. */
export interface BuildRequest {
  log: LogLocation;
  target: string;
}

/** What a build process tells the server: its lines and how far it has come, then how the build ended. */
export type BuildMessage =
  | { kind: 'line'; level: keyof EngineReporter; text: string }
  | ({ kind: 'progress' } & BuildProgress)
  | { kind: 'built'; applied: number }
  | { kind: 'failed'; message: string };

/**
 * Node's flags for a build. A build allocates a batch of decoded events, the rows they
 * make and the statements' arguments every few milliseconds and keeps each batch until
 * its transaction commits. With the server's flags (`start:prod`: 4 MiB semi-spaces and
 * a heap that grows by at most 2× at a time, chosen to serve within its memory budget)
 * more of that survives young collections and is copied to the old generation: the
 * bench's 100,000-run build, ten runs of each taking turns, took a median 9.1 s (CPU
 * 10.1 s) with these flags and 9.7 s (CPU 11.5 s) with the server's. Flags are per
 * process (a worker thread can size its own heap, but shares the process's flags),
 * hence a process of its own, whose memory is all given back when it ends.
 */
const BUILD_NODE_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=1024'];
/** The tail of the build process's stderr kept for the server's log, should it fail. */
const STDERR_TAIL_CHARS = 2000;

/**
 * A {@link ProjectionBuilder} that builds in a child process running `entry` (the
 * bundled `projection-build.child.js`) with `node` (this one's binary unless given),
 * which opens its own connection to the log at `log`. The request goes over the IPC
 * channel (a connection string with credentials is never on a command line); the child
 * ends when the channel closes, so it does not outlive the server. Resolves false when
 * the child cannot be started, reports a failure, dies, or is stopped through `signal`;
 * its lines reach `reporter`, and how far it has come `onProgress`. Never rejects.
 */
export function processProjectionBuilder(entry: string, log: LogLocation, node = process.execPath): ProjectionBuilder {
  return (target, reporter, signal, onProgress) =>
    new Promise<boolean>((resolve) => {
      if (signal.aborted) {
        resolve(false);
        return;
      }
      let child: ChildProcess;
      try {
        child = fork(entry, [], { execPath: node, execArgv: BUILD_NODE_FLAGS, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      } catch (error) {
        reporter.warn(`Projections: the build process could not be started: ${error instanceof Error ? error.message : String(error)}`);
        resolve(false);
        return;
      }
      let built = false;
      let stderr = '';
      const stop = (): void => void child.kill('SIGKILL');
      signal.addEventListener('abort', stop, { once: true });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
      });
      child.on('message', (message: BuildMessage) => {
        if (message.kind === 'line') reporter[message.level](message.text);
        else if (message.kind === 'progress') onProgress({ applied: message.applied, percent: message.percent, stage: message.stage });
        else if (message.kind === 'built') built = true;
        else reporter.warn(`Projections: the build process stopped: ${message.message}`);
      });
      // A child that could not be started has an 'error' and a 'close', never an 'exit'.
      child.on('error', (error) => reporter.warn(`Projections: the build process could not be started or reached: ${error.message}`));
      // 'close', not 'exit': its stderr and its last messages are read by then.
      child.on('close', (code, killed) => {
        signal.removeEventListener('abort', stop);
        if (!built && !signal.aborted && (code !== 0 || killed !== null)) {
          reporter.warn(`Projections: the build process ended with ${killed ?? `exit code ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
        }
        resolve(built);
      });
      const request: BuildRequest = { log, target };
      // A child that is gone already says so through 'close' (a callback keeps a failed send from being an 'error' too).
      child.send(request, () => undefined);
    });
}
