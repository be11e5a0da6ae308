/**
 * The CLI's commands and options, parsed by commander. Each command's options
 * are declared in one place below, next to the handler it calls.
 *
 * Parsing rules (commander's, chosen because the README's examples need them):
 * an option that takes a value takes the next word whatever it looks like
 * (`--arg --release` passes `--release`); `--` ends the options (later words
 * are positional, e.g. more run arguments); options apply to the command they
 * follow, so a value like `--arg --json` is never read as the global flag.
 */
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { type Command as Handler, events, health, jobs, runs, scripts } from './commands';
import { completionScript } from './completion';
import { addBackupCommands } from './backup-commands';
import { addRunnerCommand } from './runner-command';
import { jobHistory, scriptHistory } from './history-commands';
import { DELAY_SECONDS, EVENTS_PAGE, JOB_CONCURRENCY, KEEP_RUNS, RUNS_PAGE, TIMEOUT_SECONDS, type WholeNumberRange } from '../shared/whole-number';

/** `1–500`: a number option's range in its help, the range its check (commands.ts) takes. */
const span = (range: WholeNumberRange): string => `${range.min}–${range.max}`;

/** What a command action receives: the handler, its positional words, and every option (global ones merged in). */
export type Dispatch = (handler: Handler, words: string[], options: Record<string, string | boolean | string[] | undefined>, needsKey: boolean) => Promise<void>;

/**
 * Commands that do not speak the REST API: completion prints a script, backup and restore
 * work on a data dir's files, runner speaks the runner protocol as a job server.
 */
export const NOT_REST_COMMANDS: readonly string[] = ['completion', 'backup', 'restore', 'runner'];

/** Collects a repeatable option: `--tag a --tag b` → `['a', 'b']`; absent stays undefined (so `jobs update` leaves it unchanged). */
const many = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
/** {@link many} for `--env`, whose `--no-env` shares its key (false once given). */
const manyEnv = (value: string, previous: string[] | false | undefined): string[] => {
  if (previous === false) throw new InvalidArgumentError('give either --env or --no-env, not both');
  return many(value, previous);
};

const CONNECTION = 'Connection (or ENDERCOMPUTE_URL, ENDERCOMPUTE_KEY, ENDERCOMPUTE_ACTOR, ENDERCOMPUTE_WAIT_FOR_START):';

/** The options every command takes, before or after its name. */
function withGlobals(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'the server (default http://127.0.0.1:3000)').helpGroup(CONNECTION))
    .addOption(new Option('--key <key>', 'the shared or a named key').helpGroup(CONNECTION))
    .addOption(new Option('--as <name>', 'who you are, recorded with every action (default $USER)').helpGroup(CONNECTION))
    .addOption(new Option('--wait-for-start <seconds>', 'how long to wait for a server that is starting (default 600; 0: not at all)').helpGroup(CONNECTION))
    .addOption(new Option('--json', 'print JSON instead of tables and messages').helpGroup(CONNECTION));
}

/** The endercompute program; `dispatch` runs a handler (the caller owns the connection and the exit code). */
export function buildProgram(dispatch: Dispatch, version: string): Command {
  const program = withGlobals(new Command('endercompute'))
    .description('The EnderCompute command-line client: it speaks the REST API (docs/API.md).')
    .version(version, '-V, --version')
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError('(run "endercompute --help" for the commands)')
    .addHelpText(
      'after',
      '\n<template> and <job> are an id or a name. Exit codes: 0 success, 1 the server refused (its message is printed),\n' +
        "2 a usage error; with --follow, the run's own exit code.",
    );

  /** A command that calls `handler`, with the global options; `needsKey` false for commands that work without a server key. */
  const leaf = (parent: Command, spec: string, description: string, handler: Handler, needsKey = true): Command =>
    withGlobals(parent.command(spec).description(description)).action(async function (this: Command) {
      const words = this.processedArgs.flat().filter((word): word is string => typeof word === 'string');
      await dispatch(handler, words, this.optsWithGlobals(), needsKey);
    });
  const group = (name: string, description: string): Command => program.command(name).description(description);
  /** `history`, `version` and `restore` of a job or template (API.md, "History"). */
  const historyLeaves = (parent: Command, word: string, what: string, handlers: typeof jobHistory): void => {
    leaf(parent, `history ${word}`, `${what}'s versions: who changed what, when`, handlers.history);
    leaf(parent, `version ${word} <n>`, `version n of ${what}, and what it changed`, handlers.version).option(
      '--compare-to <m>',
      'what changed since version m (default: the version before)',
    );
    leaf(parent, `restore ${word} <n>`, `make ${what} as it was at version n (recorded as a new version)`, handlers.restore);
  };

  leaf(program, 'health', 'whether the server is up, its store and sandbox', health, false);

  // ---- scripts (templates) ----
  const s = group('scripts', 'script templates');
  leaf(s, 'list', 'every template', scripts.list).option('--as-of <time>', 'as they stood then (ISO 8601 with a time zone)');
  leaf(s, 'show <template>', "a template and its body", scripts.show);
  leaf(s, 'create <name>', 'a new template', scripts.create)
    .requiredOption('--file <path>', 'the script body')
    .option('--interpreter <name>', 'bash (default), sh, python3, node, …');
  leaf(s, 'update <template>', 'change a template (a new version)', scripts.update)
    .option('--name <name>', 'rename it')
    .option('--file <path>', 'a new body')
    .option('--interpreter <name>', 'a new interpreter');
  leaf(s, 'remove <template>', 'remove a template no job uses', scripts.remove);
  historyLeaves(s, '<template>', 'a template', scriptHistory);

  // ---- jobs ----
  const j = group('jobs', 'jobs: a template with arguments, environment and files');
  leaf(j, 'list', 'every job, with its last run', jobs.list)
    .option('--search <text>', 'name or description contains')
    .option('--tag <tag>', 'has this tag')
    .option('--last-status <status>', 'its last run ended so (or never)')
    .option('--as-of <time>', 'as they stood then (ISO 8601 with a time zone)');
  leaf(j, 'show <job>', "a job's definition", jobs.show).option('--as-of <time>', 'as it stood then (ISO 8601 with a time zone)');
  jobOptions(leaf(j, 'create <name> [args...]', 'a new job; words after -- are more arguments', jobs.create).requiredOption('--script <template>', 'the template it runs'));
  jobOptions(
    leaf(j, 'update <job>', 'change a job (options left out stay as they are)', jobs.update)
      .option('--name <name>', 'rename it')
      .option('--script <template>', 'run another template'),
  )
    // After --keep-workdir: declared alone, commander would default it to true.
    .option('--no-keep-workdir', 'remove the work directory when each run ends');
  leaf(j, 'remove <job>', 'remove a job (its runs stay in the log)', jobs.remove);
  historyLeaves(j, '<job>', 'a job', jobHistory);
  leaf(j, 'attach <job> <files...>', 'add or replace input files', jobs.attach);
  leaf(j, 'detach <job> <file>', 'remove an input file by name', jobs.detach);
  leaf(j, 'run <job> [args...]', 'request a run; words after -- are more arguments for this run', jobs.run)
    .option('--arg <value>', 'an argument for this run, after the job\'s (repeatable)', many)
    .option('--env <NAME=value>', 'an environment variable for this run (repeatable)', many)
    .option('--file <path>', 'an extra input file for this run (repeatable)', many)
    .option('--at <iso-time>', 'run at this time (ISO 8601 with a time zone: 2026-12-01T08:00:00+01:00)')
    .addOption(new Option('--delay <seconds>', `run in this many seconds (${span(DELAY_SECONDS)}: up to 366 days)`).conflicts('at'))
    .option('--follow', "stream the output; exit with the run's exit code");

  // ---- runs ----
  const r = group('runs', 'runs: list, read, follow, control');
  leaf(r, 'list', 'runs, newest request first (or latest finished first)', runs.list)
    .option('--status <status>', 'a status, active, finished, or several with commas')
    .option('--job <job>', 'runs of this job')
    .option('--by <name>', 'requested by')
    .option('--search <text>', 'job name, number, who, arguments or reason contain')
    .option('--finished', 'finished runs only, the latest to finish first')
    .option('--limit <n>', `at most this many (${span(RUNS_PAGE)}, default 50)`)
    .option('--before <cursor>', 'the next page (the cursor the previous page printed)');
  leaf(r, 'show <run>', 'a run: status, times, exit code', runs.show);
  leaf(r, 'output <run>', "a run's output, exactly as written", runs.output).option('--follow', "follow it live until the run ends; exit with the run's exit code");
  leaf(r, 'artifacts <run>', "a run's artifacts: list them, or write them under a directory", runs.artifacts).option(
    '--download <dir>',
    'write every artifact under this directory at its path (nothing is written outside it)',
  );
  leaf(r, 'cancel <run>', 'cancel a waiting or running run', runs.cancel);
  leaf(r, 'pause <run>', 'pause a running run', runs.pause);
  leaf(r, 'resume <run>', 'resume a paused run', runs.resume);
  leaf(r, 'rerun <run>', 'request a new run with the same inputs', runs.rerun);

  // ---- events ----
  leaf(program, 'events', 'the audit trail: who did what, when (oldest first)', events)
    .option('--job <job>', "a job's events and its runs'")
    .option('--actor <name>', 'done by')
    .option('--type <types>', 'event types, separated by commas')
    .option('--stream <stream>', 'one stream')
    .option('--after <cursor>', 'the next page')
    .option('--limit <n>', `at most this many (${span(EVENTS_PAGE)}, default 100)`);

  // ---- backup and restore of the embedded log (on this machine, no server needed) ----
  addBackupCommands(program);

  // ---- a job server on this machine (runner token, no key) ----
  addRunnerCommand(program);

  // ---- completion ----
  program
    .command('completion')
    .description('print a shell completion script: source <(endercompute completion bash)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action((shell: 'bash' | 'zsh') => {
      process.stdout.write(completionScript(program, shell));
    });

  return program;
}

/** The options `jobs create` and `jobs update` share: what a job is made of. */
function jobOptions(command: Command): Command {
  return command
    .option('--arg <value>', 'an argument (repeatable; on update, replaces them all)', many)
    .option('--no-args', 'no arguments (clears --arg)')
    .option('--env <NAME=value>', 'an environment variable (repeatable; on update, replaces them all)', manyEnv)
    .option('--no-env', 'no environment variables of its own (clears --env)')
    .option('--tag <tag>', 'a tag (repeatable; on update, replaces them all)', many)
    .option('--no-tags', 'no tags (clears --tag)')
    .option('--timeout <seconds|none>', `the time limit of each run in seconds (${span(TIMEOUT_SECONDS)}: up to a week; none: no limit)`)
    .option('--description <text>', 'what it is for')
    .option('--keep-runs <N|all>', `keep the output of only the newest N finished runs (${span(KEEP_RUNS)}; all: every run)`)
    .option('--keep-workdir', "keep each run's work directory after it ends, for debugging")
    .option('--artifact <pattern>', 'a glob of files each run keeps, relative to the work directory (repeatable; on update, replaces them all)', many)
    .option('--no-artifacts', 'keeps no files (clears --artifact)')
    .option('--runs-on <label>', 'a runner label its runs need: they go only to a runner with every one (repeatable; on update, replaces them all)', many)
    .option('--any-runner', 'its runs may go to any runner (clears --runs-on)')
    .option('--max-concurrent <N|none>', `how many of its runs may run at once (${span(JOB_CONCURRENCY)}; none: no limit of its own)`)
    .option('--schedule <cron>', 'a cron pattern it runs on, 5 fields or 6 with seconds (repeatable; on update, replaces them all)', many)
    .option('--time-zone <zone>', 'the IANA time zone of the --schedule patterns (default UTC)')
    .option('--no-schedules', 'it runs on no schedule (clears --schedule)');
}
