#!/usr/bin/env node
/**
 * `endercompute`: the command-line client. It speaks the REST API, so it works
 * against any EnderCompute server it can reach with the key. The commands and
 * their options are in ./program.ts; this file connects and sets the exit code:
 * 0 success, 1 the server refused (its message is printed), 2 a usage error;
 * with `--follow`, the run's own exit code.
 */
import { CommanderError } from 'commander';
import { ApiClient, DEFAULT_START_WAIT_MS } from './client';
import { UsageError, wholeNumberOption } from './commands';
import { cleanText } from './format';
import { LocalFileError } from './local-file';
import { buildProgram } from './program';
import { packageVersion } from '../shared/version';
import { START_WAIT_SECONDS } from '../shared/whole-number';

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram(async (handler, words, options, needsKey) => {
    const key = (options.key as string | undefined) ?? process.env.ENDERCOMPUTE_KEY;
    if (!key && needsKey) throw new UsageError('No key: pass --key or set ENDERCOMPUTE_KEY');
    const connection = {
      url: (options.url as string | undefined) ?? process.env.ENDERCOMPUTE_URL ?? 'http://127.0.0.1:3000',
      key: key ?? '',
      actor: (options.as as string | undefined) ?? process.env.ENDERCOMPUTE_ACTOR ?? process.env.USER ?? null,
    };
    // An empty variable is as good as none (`ENDERCOMPUTE_WAIT_FOR_START= endercompute …`).
    const fromEnvironment = options.waitForStart === undefined && (process.env.ENDERCOMPUTE_WAIT_FOR_START ?? '') !== '';
    const waitForStart = fromEnvironment ? process.env.ENDERCOMPUTE_WAIT_FOR_START : (options.waitForStart as string | undefined);
    const note = (text: string): void => void process.stderr.write(`${cleanText(text)}\n`);
    // Whether output written so far ends mid-line, so that a note on stderr starts a line of its own.
    let midLine = false;
    const startWait = {
      limitMs:
        waitForStart === undefined
          ? DEFAULT_START_WAIT_MS
          : wholeNumberOption(fromEnvironment ? 'ENDERCOMPUTE_WAIT_FOR_START' : '--wait-for-start', waitForStart, START_WAIT_SECONDS) * 1000,
      onStarting: (message: string) => note(`${midLine ? '\n' : ''}${message} (waiting for it to start)`),
    };
    code = await handler({
      api: new ApiClient(connection, packageVersion(), startWait),
      options,
      words,
      json: options.json === true,
      out: (text) => process.stdout.write(`${text}\n`),
      bytes: (bytes) => {
        if (bytes.length > 0) midLine = bytes[bytes.length - 1] !== 0x0a;
        process.stdout.write(bytes);
      },
      note,
    });
  }, packageVersion());
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation());
    return 2;
  }
  await program.parseAsync(argv, { from: 'user' });
  return code;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    if (error instanceof CommanderError) {
      // Commander has printed the help, the version or the problem already.
      process.exitCode = ['commander.helpDisplayed', 'commander.version'].includes(error.code) ? 0 : 2;
    } else if (error instanceof UsageError) {
      process.stderr.write(`${cleanText(error.message)}\n(run "endercompute --help" for the commands)\n`);
      process.exitCode = 2;
    } else if (error instanceof LocalFileError) {
      process.stderr.write(`${cleanText(error.message)}\n`);
      process.exitCode = 2;
    } else {
      // The server's refusal (an ApiError carries its message, which may quote what a job chose) or anything else that went wrong.
      process.stderr.write(`${cleanText(error instanceof Error ? error.message : String(error))}\n`);
      process.exitCode = 1;
    }
  },
);
