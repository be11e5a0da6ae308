/**
 * The server's build process (see `projections/build-process.ts`): builds the projection
 * database from the whole log with its own connection to the log, and installs it at the
 * path the server gave, where the server then opens it and catches up what was appended
 * meanwhile. Takes one {@link BuildRequest} over IPC, says how it went in
 * {@link BuildMessage}s, and ends when done or when the server goes away.
 */
import { openLogAt } from '../event-store/create-event-store';
import type { BuildMessage, BuildRequest } from '../projections/build-process';
import { ProjectionEngine, type EngineReporter } from '../projections/projection-engine';
import { serverProjections } from './server-projections';

function tell(message: BuildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) resolve();
    else process.send!(message, () => resolve());
  });
}

const reporter: EngineReporter = {
  info: (text) => void tell({ kind: 'line', level: 'info', text }),
  warn: (text) => void tell({ kind: 'line', level: 'warn', text }),
  error: (text) => void tell({ kind: 'line', level: 'error', text }),
};

async function build({ log, target }: BuildRequest): Promise<BuildMessage> {
  const store = openLogAt(log);
  try {
    const applied = await new ProjectionEngine(store, serverProjections(), null, reporter).rebuild(target);
    return { kind: 'built', applied };
  } catch (error) {
    return { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
  } finally {
    await store.close();
  }
}

// The server is gone (stopped, killed): nobody waits for this build, and its next start builds again.
process.on('disconnect', () => process.exit(1));
process.once('message', (request: BuildRequest) => {
  void build(request)
    .then(tell)
    .then(() => process.exit(0));
});
