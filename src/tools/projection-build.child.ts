/**
 * The server's build process (see `projections/build-process.ts`): builds the projection
 * database from the whole log with its own connection to the log, and installs it at the
 * path the server gave, where the server then opens it and catches up what was appended
 * meanwhile. Takes one {@link BuildRequest} over IPC, says how it went in
 * {@link BuildMessage}s, and ends when done or when the server goes away.
 */
import { openLogAt } from '../event-store/create-event-store';
import type { EventStore } from '../event-store/event-store.port';
import type { BuildMessage, BuildRequest } from '../projections/build-process';
import { ProjectionEngine, type EngineReporter } from '../projections/projection-engine';
import { serverProjections } from './server-projections';

/** How often at most the build tells the server how far it has come, in ms. */
const PROGRESS_MESSAGE_MS = 200;

function tell(message: BuildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) resolve();
    else process.send!(message, () => resolve());
  });
}

const reporter: EngineReporter = {
  info: (text) => void tell({ kind: 'line', level: 'info', text }),
  warn: (text) => void tell({ kind: 'line', level: 'warn', text }),
  // The engine's only error line is why it stopped, which ends the build: the 'failed' message carries it.
  error: () => undefined,
};

async function build({ log, target }: BuildRequest): Promise<BuildMessage> {
  reporter.info(`Projections: the build process (pid ${process.pid}) reads the log`);
  let store: EventStore | null = null;
  let outcome: BuildMessage;
  try {
    store = openLogAt(log);
    const engine = new ProjectionEngine(store, serverProjections(), null, reporter);
    // The server shows how far the build has come to whoever asks while it starts: a few times a second, and each new stage at once.
    let told = { at: 0, stage: '' };
    engine.onBuildProgress((progress) => {
      const now = performance.now();
      if (progress.stage === told.stage && now - told.at < PROGRESS_MESSAGE_MS) return;
      told = { at: now, stage: progress.stage };
      void tell({ kind: 'progress', ...progress });
    });
    // Installed only while the server still waits for it (a server that went away and started again builds anew).
    const applied = await engine.rebuild(target, () => process.connected);
    outcome = { kind: 'built', applied };
  } catch (error) {
    outcome = { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
  }
  // The database is installed or not, whatever closing the log says.
  await store?.close().catch(() => undefined);
  return outcome;
}

// The server is gone (stopped, killed): nobody waits for this build, and its next start builds again.
process.on('disconnect', () => process.exit(1));
// A signal to the server's whole process group (Ctrl-C, a service manager's stop) is the server's to act on: it
// ends this build itself (SIGKILL) as it stops, and its next start builds again.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
process.once('message', (request: BuildRequest) => {
  void build(request)
    .then(tell)
    .then(() => process.exit(0));
});
