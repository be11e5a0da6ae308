/**
 * The `backup` and `restore` commands (see ./backup.ts). They work on a data dir on this
 * machine, not through the server: no URL or key. Exit codes: 0 done, 1 refused or
 * failed (the message says why; nothing was changed), 2 a usage error.
 */
import type { Command } from 'commander';
import { UsageError } from './commands';
import { bytes } from '../web/view-helpers';

/**
 * ./backup.ts, loaded when a command uses it: it brings the log's modules (SQLite, the
 * schema, the header check and with it Nest's logger), which took about 0.2 s of every
 * other command's start (0.38 s to print `--help`, 0.18 s without them).
 */
function backupModule(): typeof import('./backup') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./backup') as typeof import('./backup');
}

/** `--data-dir`, else `ENDERCOMPUTE_DATA_DIR` (as the server reads it); one is required. */
function dataDirOf(options: { dataDir?: string }): string {
  const dir = options.dataDir ?? process.env.ENDERCOMPUTE_DATA_DIR?.trim();
  if (!dir) throw new UsageError('Which data dir? Pass --data-dir DIR (or set ENDERCOMPUTE_DATA_DIR)');
  return dir;
}

/** Adds `backup` and `restore` to the program. */
export function addBackupCommands(program: Command): void {
  program
    .command('backup <file>')
    .description("copy the embedded event log of a data dir to FILE, while its server runs (checked, written atomically, mode 0600)")
    .option('--data-dir <dir>', 'the server\'s data dir (default $ENDERCOMPUTE_DATA_DIR)')
    .action(async (file: string, options: { dataDir?: string }) => {
      const dataDir = dataDirOf(options);
      const started = Date.now();
      const { backupLog } = backupModule();
      const summary = await backupLog(dataDir, file);
      process.stdout.write(
        `Backed up ${summary.events} events (up to position ${summary.lastPosition}) to ${file}: ${bytes(summary.bytes)}, ` +
          `integrity checked, in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
    });
  program
    .command('restore <file>')
    .description('make a new or empty data dir from a backup; start the server on it afterwards')
    .option('--data-dir <dir>', 'the data dir to create (default $ENDERCOMPUTE_DATA_DIR); it must be new or empty')
    .action((file: string, options: { dataDir?: string }) => {
      const dataDir = dataDirOf(options);
      const { restoreLog } = backupModule();
      const summary = restoreLog(file, dataDir);
      process.stdout.write(
        `Restored ${summary.events} events (up to position ${summary.lastPosition}) into ${dataDir}. ` +
          'Start the server with ENDERCOMPUTE_DATA_DIR set to it; its read models rebuild from the log.\n',
      );
    });
}
