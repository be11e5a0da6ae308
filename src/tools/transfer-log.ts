/**
 * `node dist/src/tools/transfer-log.js --from <store> --to <store> [--dry-run]`
 *
 * Moves an event log between stores, keeping event ids, order, stream revisions and
 * metadata (see `log-transfer.ts`). A store is `sqlite:<path to events.db>` or an
 * EventStoreDB connection string (`esdb://host:2113?tls=false`, `esdb+discover://…`).
 * Stop the servers using either store first. Exit codes: 0 done, 1 refused or failed,
 * 2 wrong arguments.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { EsdbEventStore } from '../event-store/esdb-event-store';
import type { EventStore } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite-event-store';
import { type TransferProgress, transferLog, TransferRefusedError } from './log-transfer';

const USAGE = `Moves an EnderCompute event log between stores, keeping event ids, order, revisions and metadata.

Usage: node dist/src/tools/transfer-log.js --from <store> --to <store> [--dry-run]

  <store>     sqlite:<path>            the embedded log, e.g. sqlite:./data/events.db
              esdb://host:2113?tls=false (or any EventStoreDB connection string)
  --dry-run   compare the two logs and report what would be copied; write nothing

Stop the servers that use either store first. Running it again continues or confirms an
earlier transfer; it refuses (and writes nothing) when the target holds other events in
the same streams.`;

class UsageError extends Error {}

interface Arguments {
  from: string;
  to: string;
  dryRun: boolean;
}

function parseArguments(argv: readonly string[]): Arguments | 'help' {
  const values: Partial<Record<'from' | 'to', string>> = {};
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--dry-run') {
      dryRun = true;
      continue;
    }
    const match = /^--(from|to)(?:=(.*))?$/.exec(arg);
    if (!match) throw new UsageError(`Unknown argument: ${arg}`);
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`--${match[1]} needs a store`);
    values[match[1] as 'from' | 'to'] = value;
  }
  if (values.from === undefined || values.to === undefined) throw new UsageError('Give both --from and --to');
  return { from: values.from, to: values.to, dryRun };
}

/** Opens a store named on the command line; the source must already exist. */
function openStore(spec: string, role: 'source' | 'target'): { store: EventStore; label: string } {
  if (spec.startsWith('sqlite:')) {
    const path = resolve(spec.slice('sqlite:'.length));
    // Opening creates a missing file: fine for a target, a typo for a source.
    if (role === 'source' && !existsSync(path)) throw new UsageError(`The source ${path} does not exist`);
    return { store: SqliteEventStore.open(path), label: `sqlite:${path}` };
  }
  if (/^esdb(\+discover)?:\/\//.test(spec)) {
    // The connection string may hold credentials: show only where it points.
    return { store: EsdbEventStore.connect(spec), label: `EventStoreDB at ${spec.replace(/^[^/]*\/\/(?:[^@/]*@)?([^/?]*).*$/, '$1')}` };
  }
  throw new UsageError(`A store is sqlite:<path> or an esdb:// connection string, not "${spec}"`);
}

function line(progress: TransferProgress): string {
  const done = progress.copied + progress.alreadyThere;
  const percent = progress.total === 0 ? 100 : Math.floor((done * 100) / progress.total);
  return `${done}/${progress.total} events (${percent}%) in ${progress.streams} streams: ${progress.copied} copied, ${progress.alreadyThere} already there`;
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArguments(argv);
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.from === args.to) throw new UsageError('--from and --to name the same store');
  const source = openStore(args.from, 'source');
  let target: { store: EventStore; label: string } | undefined;
  try {
    target = openStore(args.to, 'target');
    await source.store.ping();
    await target.store.ping();
    process.stdout.write(`${args.dryRun ? 'Comparing' : 'Copying'} ${source.label} → ${target.label}\n`);
    const live = process.stdout.isTTY === true;
    let shownAt = 0;
    const progress = await transferLog(source.store, target.store, {
      dryRun: args.dryRun,
      onProgress: (p) => {
        // One line, rewritten in place on a terminal; a line a second in a log file.
        if (live) process.stdout.write(`\r${line(p)}`);
        else if (Date.now() - shownAt >= 1000) {
          shownAt = Date.now();
          process.stdout.write(`${line(p)}\n`);
        }
      },
    });
    if (live) process.stdout.write('\n');
    const summary = args.dryRun
      ? `Would copy ${progress.total - progress.alreadyThere} of ${progress.total} events; ${progress.alreadyThere} are already there.`
      : `Done: ${line(progress)}.`;
    process.stdout.write(`${summary}\n`);
    return 0;
  } finally {
    await source.store.close();
    await target?.store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`${error instanceof TransferRefusedError ? error.message : `The transfer failed: ${error instanceof Error ? error.message : String(error)}`}\n`);
    process.exit(1);
  },
);
