/**
 * `npm run projections:rebuild -- --data-dir DIR` (`node dist/src/tools/rebuild-projections.js`)
 *
 * Rebuilds the projection database of a data dir from the whole log, offline: the log is
 * the embedded one in the data dir, or EventStoreDB when `EVENTSTORE_CONNECTION_STRING`
 * (or `EVENTSTORE_CONNECTION_STRING_FILE`) is set, read as the server reads it. The new
 * database is built beside the one in use and left as `projections.db.ready`; the next
 * server start takes it in place of the old one (one rename) and only catches up the
 * events appended since. A server may keep running meanwhile: it serves from its own
 * database until it restarts. Run it before an upgrade that changes a projection's
 * version, and the upgraded server starts warm. Exit codes: 0 done, 1 failed, 2 wrong
 * arguments.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDotEnv } from '../config/app-config';
import { readConnectionString, redactConnectionString } from '../config/connection-string';
import { restrictUmask } from '../config/data-directory';
import { logLocation, openLogAt } from '../event-store/create-event-store';
import type { EventStore } from '../event-store/event-store.port';
import { checkLogFileHeader } from '../event-store/sqlite/log-file-check';
import { PROJECTIONS_FILE, READY_SUFFIX } from '../projections/projection-database';
import { ProjectionEngine } from '../projections/projection-engine';
import { serverProjections } from './server-projections';

const USAGE = `Rebuilds EnderCompute's projection database (the read models) from the event log, offline.

Usage: npm run projections:rebuild -- --data-dir DIR
       node dist/src/tools/rebuild-projections.js --data-dir DIR

  --data-dir DIR   the server's data directory (default: ENDERCOMPUTE_DATA_DIR, else ./data)

The log is DIR/events.db, or EventStoreDB when EVENTSTORE_CONNECTION_STRING (or
EVENTSTORE_CONNECTION_STRING_FILE) is set, as for the server. The result is left as
DIR/${PROJECTIONS_FILE}${READY_SUFFIX}; the next server start takes it in place of DIR/${PROJECTIONS_FILE}.`;

class UsageError extends Error {}

function parseArguments(argv: readonly string[]): { dataDir: string } | 'help' {
  let dataDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    const match = /^--data-dir(?:=(.*))?$/.exec(arg);
    if (!match) throw new UsageError(`Unknown argument: ${arg}`);
    const value = match[1] ?? argv[++i];
    if (value === undefined || value.trim() === '') throw new UsageError('--data-dir needs a directory');
    dataDir = value;
  }
  return { dataDir: resolve(dataDir ?? (process.env.ENDERCOMPUTE_DATA_DIR?.trim() || './data')) };
}

function openLog(dataDir: string): { store: EventStore; label: string } {
  const problems: string[] = [];
  const { connectionString } = readConnectionString(process.env, problems);
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  const location = logLocation({ eventStoreConnectionString: connectionString, dataDir });
  if (location.store === 'esdb') return { store: openLogAt(location), label: `EventStoreDB at ${redactConnectionString(location.connectionString)}` };
  // Opening would create a missing log: a typo in the path must not rebuild from nothing.
  if (!existsSync(location.file)) throw new UsageError(`There is no event log at ${location.file}: is ${dataDir} the server's data directory?`);
  checkLogFileHeader(location.file);
  return { store: openLogAt(location), label: location.file };
}

async function main(argv: readonly string[]): Promise<number> {
  // The database holds everything the log does: private from the moment it exists, like the log.
  restrictUmask();
  loadDotEnv();
  const args = parseArguments(argv);
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!existsSync(args.dataDir)) throw new UsageError(`The data directory ${args.dataDir} does not exist`);
  const { store, label } = openLog(args.dataDir);
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  try {
    await store.ping();
    const target = join(args.dataDir, PROJECTIONS_FILE);
    say(`Rebuilding ${target} from ${label}`);
    const engine = new ProjectionEngine(store, serverProjections(), null, { info: say, warn: say, error: (line) => process.stderr.write(`${line}\n`) });
    const started = performance.now();
    const applied = await engine.rebuildOffline(target);
    const seconds = (performance.now() - started) / 1000;
    say(`Done: ${applied} events applied in ${seconds.toFixed(1)} s. ${target}${READY_SUFFIX} is ready: the next server start takes it in place of ${PROJECTIONS_FILE}.`);
    return 0;
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`The rebuild failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
