#!/usr/bin/env node
/**
 * `endercompute`: the command-line client. It speaks the REST API, so it works
 * against any EnderCompute server it can reach with the key.
 */
import { parseArgs } from 'node:util';
import { ApiClient, ApiError } from './client';
import { type Command, events, health, jobs, runs, scripts, UsageError } from './commands';
import { packageVersion } from '../shared/version';

const USAGE = `Usage: endercompute [--url URL] [--key KEY] [--as NAME] [--json] <command>

Connection (or the environment: ENDERCOMPUTE_URL, ENDERCOMPUTE_KEY, ENDERCOMPUTE_ACTOR):
  --url URL       the server (default http://127.0.0.1:3000)
  --key KEY       the shared or a named key
  --as NAME       who you are, recorded with every action (default $USER)
  --json          print JSON instead of tables

Commands:
  health
  scripts list | show <t> | create <name> --file F [--interpreter I] | update <t> [--name N] [--file F] [--interpreter I] | remove <t>
  jobs list [--search Q] [--tag T] [--last-status S]
  jobs show <job> | remove <job>
  jobs create <name> --script <t> [--arg A]… [--env K=V]… [--tag T]… [--timeout SECONDS|none] [--keep-runs N|all] [--description D] [--keep-workdir]
  jobs update <job> [--name N] [--script <t>] [--arg A]… [--env K=V]… [--tag T]… [--timeout SECONDS|none] [--keep-runs N|all] [--keep-workdir | --no-keep-workdir]
  jobs attach <job> <file>… | detach <job> <file name>
  jobs run <job> [--arg A]… [--env K=V]… [--file F]… [--at ISO-TIME | --delay SECONDS] [--follow]
  runs list [--status S] [--job J] [--by NAME] [--search Q] [--limit N] [--before CURSOR]
  runs show <run> | output <run> [--follow] | cancel <run> | pause <run> | resume <run> | rerun <run>
  events [--job J] [--actor NAME] [--type T] [--stream S] [--after CURSOR] [--limit N]

<t> and <job> are an id or a name. --keep-workdir keeps the job's runs' work directories for debugging. With --follow, the output is streamed and the exit code is the run's.`;

const COMMANDS: Record<string, Command | Record<string, Command>> = { health, scripts, jobs, runs, events };

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      as: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      file: { type: 'string', multiple: true },
      interpreter: { type: 'string' },
      name: { type: 'string' },
      script: { type: 'string' },
      description: { type: 'string' },
      arg: { type: 'string', multiple: true },
      env: { type: 'string', multiple: true },
      tag: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      'keep-workdir': { type: 'boolean' },
      'no-keep-workdir': { type: 'boolean' },
      'keep-runs': { type: 'string' },
      search: { type: 'string' },
      'last-status': { type: 'string' },
      at: { type: 'string' },
      delay: { type: 'string' },
      follow: { type: 'boolean' },
      status: { type: 'string' },
      job: { type: 'string' },
      by: { type: 'string' },
      limit: { type: 'string' },
      before: { type: 'string' },
      after: { type: 'string' },
      actor: { type: 'string' },
      type: { type: 'string' },
      stream: { type: 'string' },
    },
  });
  const [noun, verb, ...rest] = positionals;
  if (values.help || noun === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return noun === undefined && !values.help ? 2 : 0;
  }
  const entry = COMMANDS[noun];
  const command = typeof entry === 'function' ? entry : entry?.[verb ?? 'list'];
  if (!command) throw new UsageError(`Unknown command: ${[noun, verb].filter(Boolean).join(' ')}`);
  const words = typeof entry === 'function' ? positionals.slice(1) : rest;
  const key = values.key ?? process.env.ENDERCOMPUTE_KEY;
  if (!key) throw new UsageError('No key: pass --key or set ENDERCOMPUTE_KEY');
  const connection = {
    url: values.url ?? process.env.ENDERCOMPUTE_URL ?? 'http://127.0.0.1:3000',
    key,
    actor: values.as ?? process.env.ENDERCOMPUTE_ACTOR ?? process.env.USER ?? null,
  };
  // --file is repeatable for runs, single for templates: commands read what they need.
  const options = { ...values, file: typeof entry === 'function' || noun !== 'scripts' ? values.file : values.file?.[0] };
  const api = new ApiClient(connection, packageVersion());
  return command({ api, options, words, json: values.json === true, out: (text) => process.stdout.write(`${text}\n`) });
}


main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    if (error instanceof UsageError || (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`${error.message}\nRun "endercompute --help" for the commands.\n`);
      process.exitCode = 2;
    } else if (error instanceof ApiError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
