import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram, NOT_REST_COMMANDS } from '../../src/cli/program';
import { runCli } from '../support/cli';
import { getJson, type Run, waitForRun } from '../support/rest';
import { scriptGates } from '../support/script-gates';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

interface CliText {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('The CLI against the built server', () => {
  const gates = scriptGates('endercompute-cli-');
  let server: ServerProcess;
  let dir: string;

  before(async () => {
    server = await startServer({ env: gates.sandboxEnv });
    dir = mkdtempSync(join(tmpdir(), 'endercompute-cli-'));
  });
  after(async () => {
    gates.openAll();
    await server.stop();
    server.cleanup();
    rmSync(dir, { recursive: true, force: true });
    gates.remove();
  });

  async function cli(args: string[], env: Record<string, string> = {}): Promise<CliText> {
    const result = await runCli(server, args, { ENDERCOMPUTE_ACTOR: 'carol', ...env });
    return { code: result.code, stdout: result.stdout.toString(), stderr: result.stderr };
  }
  async function ok(args: string[]): Promise<string> {
    const result = await cli(args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }
  function file(name: string, content: string): string {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  }

  it('creates a template and a job, attaches a file, runs it following the output, and exits with the run\'s code', async () => {
    const script = file('greet.sh', 'echo "hello $1 from $ENDERCOMPUTE_ACTOR"; cat data.txt; exit 3\n');
    const data = file('data.txt', 'file content\n');

    await ok(['scripts', 'create', 'greet', '--file', script]);
    assert.match(await ok(['jobs', 'create', 'Greeter', '--script', 'greet', '--arg', 'world', '--tag', 'demo']), /^Created job Greeter \(\w+\)/);
    await ok(['jobs', 'attach', 'greeter', data]);

    const run = await cli(['jobs', 'run', 'greeter', '--follow']);
    assert.equal(run.code, 3, run.stderr);
    assert.equal(run.stdout, 'hello world from carol\nfile content\n');
    assert.match(run.stderr, /^Requested Greeter #1 \(\S+\): (queued|running)\n/);
    assert.match(run.stderr, /Greeter #1: failed \(exit code 3\)/);

    const page = JSON.parse(await ok(['runs', 'list', '--job', 'greeter', '--json'])) as { items: Array<{ number: number; status: string; requestedBy: string }> };
    assert.deepEqual(page.items.map((r) => [r.number, r.status, r.requestedBy]), [[1, 'failed', 'carol']]);
    assert.match(await ok(['jobs', 'list']), /^NAME\s+TEMPLATE\s+TAGS\s+LAST RUN\nGreeter\s+greet\s+demo\s+#1 failed$/m);
  });

  it('lists a run whose output retention expired as such', async () => {
    await ok(['scripts', 'create', 'noop-keeper', '--file', file('noop.sh', 'echo kept\n')]);
    await ok(['jobs', 'create', 'Keeper', '--script', 'noop-keeper', '--keep-runs', '1']);
    for (let i = 0; i < 2; i++) assert.equal((await cli(['jobs', 'run', 'keeper', '--follow'])).code, 0);
    const listed = await eventually(async () => {
      const text = await ok(['runs', 'list', '--job', 'keeper']);
      return /#1\s+succeeded \(output expired\)/.test(text) ? text : undefined;
    }, 15_000, 'run #1 listed with its output expired');
    assert.match(listed, /Keeper #2\s+succeeded\s/, 'the run kept is listed as it is');
    // Following it writes nothing and says why, as `runs output` (a 410) does.
    const first = (JSON.parse(await ok(['runs', 'list', '--job', 'keeper', '--json'])) as { items: Array<{ id: string; number: number }> }).items.find((r) => r.number === 1)!;
    const followed = await cli(['runs', 'output', first.id, '--follow']);
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stdout, '');
    assert.match(followed.stderr, /^Its output expired \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(the job's keepRuns\): nothing of it is kept\n\nKeeper #1: succeeded \(exit code 0\)\n$/);
    const read = await cli(['runs', 'output', first.id]);
    assert.equal(read.code, 1);
    assert.match(read.stderr, /^410: /);
  });

  it('takes an option\'s value whatever it looks like, and words after -- as words', async () => {
    await ok(['scripts', 'create', 'args', '--file', file('args.sh', 'printf "[%s]" "$@"\n')]);
    // Values that look like options, the global ones included.
    await ok(['jobs', 'create', 'Dashes', '--script', 'args', '--arg', '--json', '--arg', '-v', '--tag', '-x', '--description', '--url', '--', '--key', '-']);
    const job = await getJson<{ args: string[]; tags: string[]; description: string }>(server, '/api/jobs/dashes');
    assert.deepEqual([job.args, job.tags, job.description], [['--json', '-v', '--key', '-'], ['-x'], '--url']);
    const run = await cli(['jobs', 'run', 'dashes', '--arg=--as', '--follow', '--', '--follow', '--help']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '[--json][-v][--key][-][--as][--follow][--help]');
    // A name that starts with a dash, after --.
    const missing = await cli(['jobs', 'show', '--', '--help']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, '404: No job "--help" exists\n');
  });

  it('says what went wrong: exit 1 with the server\'s message, exit 2 for a usage error', async () => {
    const missing = await cli(['jobs', 'show', 'no-such-job']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, '404: No job "no-such-job" exists\n');
    const wrongKey = await cli(['jobs', 'list'], { ENDERCOMPUTE_KEY: 'wrong-key' });
    assert.equal(wrongKey.code, 1);
    assert.equal(wrongKey.stderr, '401: You are not authenticated\n');
    const usage: Array<[string[], RegExp]> = [
      [['jobs', 'frobnicate'], /unknown command 'frobnicate'/],
      [['jobs', 'list', '--nope'], /unknown option '--nope'/],
      [['jobs', 'run', 'greeter', '--arg'], /option '--arg <value>' argument missing/],
      [['jobs', 'run', 'greeter', '--at', '2030-01-01T00:00:00Z', '--delay', '5'], /option '--delay <seconds>' cannot be used with option '--at <iso-time>'/],
      [['jobs', 'show'], /missing required argument 'job'/],
      [['jobs', 'show', 'a', 'b'], /too many arguments/],
      [['scripts', 'create', 'x'], /required option '--file <path>' not specified/],
      [['jobs', 'run', 'greeter', '--env', 'NOEQUALS'], /--env takes NAME=value, not "NOEQUALS"/],
      [['completion', 'fish'], /Allowed choices are bash, zsh/],
    ];
    for (const [args, message] of usage) {
      const result = await cli(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
      assert.match(result.stderr, /run "endercompute --help" for the commands/, args.join(' '));
    }
    const noKey = await runCli({ url: server.url, key: '' }, ['jobs', 'list']);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /^No key: pass --key or set ENDERCOMPUTE_KEY/);
    const nothing = await cli([]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /^Usage: endercompute/);
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: endercompute/);
  });

  it('keeps what the server sends from steering the terminal: control characters shown as ?, tabs and line breaks kept, JSON escaped losslessly', async () => {
    // What a terminal obeys: ESC sequences (clear screen, window title), CR, BEL, and U+009B (CSI in one character).
    const body = 'echo painted\n\tprintf "\x1b[2J\r\x07\u009b31m"\n';
    await ok(['scripts', 'create', 'painter', '--file', file('painter.sh', body)]);
    const obeyed = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
    const shown = await ok(['scripts', 'show', 'painter']);
    assert.ok(!obeyed.test(shown), JSON.stringify(shown));
    assert.match(shown, /\n\tprintf "\?\[2J\?\?\?31m"\n/);
    const json = await ok(['scripts', 'show', 'painter', '--json']);
    assert.ok(!obeyed.test(json), JSON.stringify(json));
    assert.equal((JSON.parse(json) as { body: string }).body, body, 'the same body, read back from the escapes');

    // The server's message quotes what it was asked for.
    const missing = await cli(['jobs', 'show', 'x\x1b]0;owned\x07\u009b2J']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, '404: No job "x?]0;owned??2J" exists\n');

    // Output followed as JSON lines: the job's text, escaped; followed plainly, its bytes as written (as cat shows a log).
    await ok(['jobs', 'create', 'Painter', '--script', 'painter']);
    const lines = await cli(['jobs', 'run', 'painter', '--follow', '--json']);
    assert.equal(lines.code, 0, lines.stderr);
    assert.ok(!obeyed.test(lines.stdout.replaceAll('\n', '')), JSON.stringify(lines.stdout));
    const text = lines.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; text?: string }).filter((line) => line.type === 'output').map((line) => line.text).join('');
    assert.equal(text, 'painted\n\x1b[2J\r\x07\u009b31m');
    const plain = await runCli(server, ['jobs', 'run', 'painter', '--follow'], { ENDERCOMPUTE_ACTOR: 'carol' });
    assert.equal(plain.stdout.toString(), 'painted\n\x1b[2J\r\x07\u009b31m');
  });

  it('names a file of its own it cannot read and exits 2, sending nothing', async () => {
    const missing = join(tmpdir(), `endercompute-missing-${process.pid}.txt`);
    const cases: Array<[string[], string]> = [
      [['jobs', 'attach', 'greeter', missing], `Cannot read ${missing}: there is no such file\n`],
      [['jobs', 'run', 'greeter', '--file', missing], `Cannot read ${missing}: there is no such file\n`],
      [['scripts', 'create', 'never-created', '--file', missing], `Cannot read ${missing}: there is no such file\n`],
      [['scripts', 'update', 'greet', '--file', tmpdir()], `Cannot read ${tmpdir()}: it is a directory\n`],
    ];
    for (const [args, stderr] of cases) {
      const result = await cli(args);
      assert.deepEqual([result.code, result.stderr], [2, stderr], args.join(' '));
    }
    assert.equal((await cli(['scripts', 'show', 'never-created'])).code, 1, 'nothing was created');
  });

  it('checks a number option itself: a usage error naming the option and what it takes, and no request', async () => {
    await ok(['scripts', 'create', 'noop', '--file', file('noop.sh', 'true\n')]);
    await ok(['jobs', 'create', 'Limited', '--script', 'noop', '--timeout', '60', '--keep-runs', '5']);
    const before = await getJson<{ version: number }>(server, '/api/jobs/limited');
    const usage: Array<[string[], string]> = [
      [['jobs', 'update', 'limited', '--keep-runs', '1.5'], '--keep-runs must be a whole number from 1 to 1000000, or all, not "1.5"'],
      [['jobs', 'update', 'limited', '--keep-runs', '0'], '--keep-runs must be a whole number from 1 to 1000000, or all, not "0"'],
      [['jobs', 'update', 'limited', '--timeout', 'abc'], '--timeout must be a whole number of seconds from 1 to 604800, or none, not "abc"'],
      [['jobs', 'create', 'zz2', '--script', 'noop', '--timeout', '5m'], '--timeout must be a whole number of seconds from 1 to 604800, or none, not "5m"'],
      [['jobs', 'run', 'limited', '--delay', '1h'], '--delay must be a whole number of seconds from 0 to 31622400, not "1h"'],
      [['jobs', 'run', 'limited', '--delay', ''], '--delay must be a whole number of seconds from 0 to 31622400, not ""'],
      [['runs', 'list', '--limit', '1.5'], '--limit must be a whole number from 1 to 500, not "1.5"'],
      [['events', '--limit', '1001'], '--limit must be a whole number from 1 to 1000, not "1001"'],
      [['jobs', 'version', 'limited', '1.5'], 'the version number must be a whole number from 1 to 999999999, not "1.5"'],
      [['jobs', 'version', 'limited', '1', '--compare-to', 'first'], '--compare-to must be a whole number from 1 to 999999999, not "first"'],
      [['scripts', 'restore', 'noop', '0'], 'the version number must be a whole number from 1 to 999999999, not "0"'],
      [['runner', '--url', server.url, '--max-concurrent', '0x10'], '--max-concurrent must be a whole number from 1 to 1024, not "0x10"'],
      [['jobs', 'update', 'limited', '--max-concurrent', '0'], '--max-concurrent must be a whole number from 1 to 1024, or none, not "0"'],
      [['jobs', 'update', 'limited', '--time-zone', 'Europe/Berlin'], '--time-zone is the time zone of the --schedule patterns: give them with it'],
      [['jobs', 'update', 'limited', '--schedule', '@daily', '--no-schedules'], 'give either --schedule (with --time-zone) or --no-schedules, not both'],
      [['jobs', 'update', 'limited', '--tag', 'x', '--no-tags'], 'give either --tag or --no-tags, not both'],
      [['jobs', 'update', 'limited', '--no-args', '--arg', 'x'], 'give either --arg or --no-args, not both'],
    ];
    for (const [args, message] of usage) {
      const result = await cli(args, { ENDERCOMPUTE_RUNNER_TOKEN: 'unused' });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr, `${message}\n(run "endercompute --help" for the commands)\n`, args.join(' '));
    }
    // Nothing was sent: the job is as it was, no job zz2, no run.
    const job = await getJson<{ version: number; timeoutSeconds: number; keepRuns: number }>(server, '/api/jobs/limited');
    assert.deepEqual([job.version, job.timeoutSeconds, job.keepRuns], [before.version, 60, 5]);
    assert.equal((await cli(['jobs', 'show', 'zz2'])).code, 1);
    assert.deepEqual((await getJson<{ items: unknown[] }>(server, '/api/runs?jobId=limited')).items, []);
    // Lists are replaced whole, and cleared with --no-…; other fields stay.
    await ok(['jobs', 'update', 'limited', '--arg', 'a', '--env', 'A=1', '--tag', 'nightly', '--artifact', 'out/*']);
    type Lists = { args: string[]; env: Record<string, string>; tags: string[]; artifacts: string[]; timeoutSeconds: number };
    const listsOf = async (): Promise<unknown[]> => getJson<Lists>(server, '/api/jobs/limited').then((j) => [j.args, j.env, j.tags, j.artifacts, j.timeoutSeconds]);
    assert.deepEqual(await listsOf(), [['a'], { A: '1' }, ['nightly'], ['out/*'], 60]);
    await ok(['jobs', 'update', 'limited', '--no-args', '--no-env', '--no-tags', '--no-artifacts']);
    assert.deepEqual(await listsOf(), [[], {}, [], [], 60]);
    // The words and the numbers it takes still work.
    await ok(['jobs', 'update', 'limited', '--timeout', 'none', '--keep-runs', 'all']);
    assert.deepEqual(await getJson<{ timeoutSeconds: null; keepRuns: null }>(server, '/api/jobs/limited').then((j) => [j.timeoutSeconds, j.keepRuns]), [null, null]);
    await ok(['jobs', 'update', 'limited', '--timeout', '604800', '--keep-runs', '1000000']);
    // At most so many at once, and schedules (in a time zone, or UTC), shown by jobs show; cleared again.
    await ok(['jobs', 'update', 'limited', '--max-concurrent', '2', '--schedule', '0 3 * * *', '--schedule', '30 4 * * 1-5', '--time-zone', 'Europe/Berlin', '--keep-runs', '1']);
    const scheduled = await getJson<{ maxConcurrent: number; schedules: Array<{ cron: string; timeZone: string }> }>(server, '/api/jobs/limited');
    assert.equal(scheduled.maxConcurrent, 2);
    assert.deepEqual(scheduled.schedules.map((x) => [x.cron, x.timeZone]), [['0 3 * * *', 'Europe/Berlin'], ['30 4 * * 1-5', 'Europe/Berlin']]);
    const shown = await ok(['jobs', 'show', 'limited']);
    assert.match(shown, /at once: {2}at most 2 runs\n/);
    assert.match(shown, /schedule: 0 3 \* \* \* \(Europe\/Berlin, next [^)]+\); 30 4 \* \* 1-5 \(Europe\/Berlin, next [^)]+\)\n/);
    assert.match(shown, /output: {3}kept for the newest finished run only\n/);
    await ok(['jobs', 'update', 'limited', '--schedule', '@hourly']);
    assert.deepEqual((await getJson<{ schedules: Array<{ cron: string; timeZone: string }> }>(server, '/api/jobs/limited')).schedules.map((x) => [x.cron, x.timeZone]), [['@hourly', 'UTC']]);
    const badZone = await cli(['jobs', 'update', 'limited', '--schedule', '@daily', '--time-zone', 'Mars/Olympus']);
    assert.equal(badZone.code, 1, 'the server refuses an unknown zone');
    assert.match(badZone.stderr, /timeZone must be an IANA time zone/);
    await ok(['jobs', 'update', 'limited', '--no-schedules', '--max-concurrent', 'none', '--keep-runs', '1000000']);
    const cleared = await getJson<{ maxConcurrent: number | null; schedules: unknown[] }>(server, '/api/jobs/limited');
    assert.deepEqual([cleared.maxConcurrent, cleared.schedules], [null, []]);
    await ok(['jobs', 'update', 'limited', '--timeout', '60']);
    // Options left out of an update stay as they were; --keep-workdir and --no-keep-workdir set it.
    await ok(['jobs', 'update', 'limited', '--description', 'still limited']);
    assert.deepEqual(await getJson<{ timeoutSeconds: number; keepWorkdir: boolean }>(server, '/api/jobs/limited').then((j) => [j.timeoutSeconds, j.keepWorkdir]), [60, false]);
    await ok(['jobs', 'update', 'limited', '--keep-workdir']);
    assert.equal((await getJson<{ keepWorkdir: boolean }>(server, '/api/jobs/limited')).keepWorkdir, true);
    await ok(['jobs', 'update', 'limited', '--no-keep-workdir']);
    assert.equal((await getJson<{ keepWorkdir: boolean }>(server, '/api/jobs/limited')).keepWorkdir, false);
  });

  it('lists runs in the order they finished with --finished, and WHEN says which time each row shows', async () => {
    const gate = gates.gate();
    await ok(['scripts', 'create', 'waits', '--file', file('waits.sh', `${gate.wait}\n`)]);
    await ok(['jobs', 'create', 'Slow', '--script', 'waits']);
    await ok(['jobs', 'create', 'Quick', '--script', 'noop']);
    const slow = (JSON.parse(await ok(['jobs', 'run', 'slow', '--json'])) as Run).id;
    const quick = (JSON.parse(await ok(['jobs', 'run', 'quick', '--json'])) as Run).id;
    await waitForRun(server, quick);
    const waiting = await ok(['runs', 'list', '--search', 'slow']);
    assert.match(waiting, new RegExp(`^${slow}\\s+Slow #1\\s+(running|queued)\\s+carol\\s+(started|requested) \\d{4}-`, 'm'));
    gate.open();
    await waitForRun(server, slow);

    const rows = (text: string): string[] => text.trim().split('\n').slice(1).filter((row) => !row.startsWith('(more:')).map((row) => row.split(/\s+/)[0]);
    const byRequest = await ok(['runs', 'list', '--status', 'succeeded', '--limit', '2']);
    assert.deepEqual(rows(byRequest).slice(0, 2), [quick, slow]);
    const byFinish = await ok(['runs', 'list', '--finished', '--limit', '2']);
    assert.deepEqual(rows(byFinish).slice(0, 2), [slow, quick]);
    assert.match(byFinish, new RegExp(`^${slow}\\s+Slow #1\\s+succeeded\\s+carol\\s+finished \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ`, 'm'));
    // The next page continues in the same order, of the same list.
    const more = /\(more: (--limit 2 --finished --before \d+)\)$/.exec(byFinish.trim());
    assert.ok(more, byFinish);
    const next = await ok(['runs', 'list', ...more[1].split(' ')]);
    const finishedAll = (await getJson<{ items: Run[] }>(server, '/api/runs?sort=finished')).items.map((r) => r.id);
    assert.deepEqual(rows(next), finishedAll.slice(2, 4));
    // Its filters too.
    const firstSucceeded = await ok(['runs', 'list', '--status', 'succeeded', '--by', 'carol', '--limit', '1']);
    const hint = /\(more: (--status succeeded --by carol --limit 1 --before \d+)\)$/.exec(firstSucceeded.trim());
    assert.ok(hint, firstSucceeded);
    const succeededAll = (await getJson<{ items: Run[] }>(server, '/api/runs?status=succeeded&by=carol')).items.map((r) => r.id);
    assert.deepEqual(rows(await ok(['runs', 'list', ...hint[1].split(' ')])), [succeededAll[1]]);
  });

  it('says a run is requested, not started, and that a cancel is requested while the run is still going', async () => {
    const scheduled = await ok(['jobs', 'run', 'quick', '--at', '2099-01-01T00:00:00Z']);
    const id = /\((\S+)\)/.exec(scheduled)?.[1] ?? '';
    assert.equal(scheduled, `Requested Quick #2 (${id}): scheduled for 2099-01-01 00:00:00Z\n`);
    assert.equal(await ok(['runs', 'cancel', id]), `Cancel requested for Quick #2 (${id}): cancelled\n`);

    // A run that takes its time to stop: the answer to the cancel comes while it still runs.
    const stop = gates.gate();
    await ok(['scripts', 'create', 'stubborn', '--file', file('stubborn.sh', `trap '${stop.wait.replace(/'/g, `'\\''`)}; exit 1' TERM\necho started\nwhile true; do sleep 0.02; done\n`)]);
    await ok(['jobs', 'create', 'Stubborn', '--script', 'stubborn']);
    const started = await ok(['jobs', 'run', 'stubborn']);
    assert.match(started, /^Requested Stubborn #1 \(\S+\): (queued|running)\n$/);
    const runId = /\((\S+)\)/.exec(started)?.[1] ?? '';
    await eventually(async () => ((await getJson<Run>(server, `/api/runs/${runId}`)).outputBytes > 0 ? true : undefined), 15_000, 'the run to start');
    assert.equal(await ok(['runs', 'cancel', runId]), `Cancel requested for Stubborn #1 (${runId}); still running for now\n`);
    stop.open();
    assert.equal((await waitForRun(server, runId)).status, 'cancelled');
    const rerun = await ok(['runs', 'rerun', runId]);
    assert.match(rerun, new RegExp(`^Requested Stubborn #2 \\(\\S+\\), a re-run of ${runId}: (queued|running)\\n$`));
    await ok(['runs', 'cancel', /\((\S+)\)/.exec(rerun)?.[1] ?? '']);
  });

  it('prints JSON with --json on every command that talks to the server', async () => {
    const gate = gates.gate();
    const used = new Set<string>();
    const json = async <T>(args: string[]): Promise<T> => {
      const words = args.filter((word) => /^[a-z]+$/.test(word)).slice(0, 2);
      used.add(words[0] === 'health' || words[0] === 'events' ? words[0] : words.join(' '));
      const stdout = await ok([...args, '--json']);
      try {
        return JSON.parse(stdout) as T;
      } catch {
        assert.fail(`${args.join(' ')} --json printed ${JSON.stringify(stdout)}`);
      }
    };
    assert.equal((await json<{ status: string }>(['health'])).status, 'ok');
    assert.equal((await json<{ name: string }>(['scripts', 'create', 'gated', '--file', file('gated.sh', `echo one\n${gate.wait}\necho two\n`)])).name, 'gated');
    assert.equal((await json<{ interpreter: string }>(['scripts', 'update', 'gated', '--interpreter', 'sh'])).interpreter, 'sh');
    assert.equal((await json<{ interpreter: string }>(['scripts', 'show', 'gated'])).interpreter, 'sh');
    assert.ok((await json<unknown[]>(['scripts', 'list'])).length > 0);
    await json(['scripts', 'create', 'spare', '--file', file('spare.sh', 'true\n')]);
    assert.deepEqual(await json(['scripts', 'remove', 'spare']), { removed: 'spare' });
    assert.equal((await json<{ name: string }>(['jobs', 'create', 'Gated', '--script', 'gated'])).name, 'Gated');
    assert.deepEqual((await json<{ tags: string[] }>(['jobs', 'update', 'gated', '--tag', 'json'])).tags, ['json']);
    assert.equal((await json<{ files: Array<{ name: string }> }>(['jobs', 'attach', 'gated', file('in.txt', 'x')])).files[0].name, 'in.txt');
    assert.deepEqual(await json(['jobs', 'detach', 'gated', 'in.txt']), { removed: 'in.txt' });
    assert.deepEqual((await json<{ tags: string[] }>(['jobs', 'show', 'gated'])).tags, ['json']);
    const jobVersions = await json<{ current: number; items: Array<{ version: number }> }>(['jobs', 'history', 'gated']);
    assert.equal(jobVersions.items[jobVersions.items.length - 1].version, jobVersions.current);
    assert.equal((await json<{ version: number }>(['jobs', 'version', 'gated', '1'])).version, 1);
    assert.equal((await json<{ name: string }>(['jobs', 'restore', 'gated', String(jobVersions.current)])).name, 'Gated');
    const scriptVersions = await json<{ current: number }>(['scripts', 'history', 'gated']);
    assert.equal((await json<{ version: number }>(['scripts', 'version', 'gated', '1'])).version, 1);
    assert.equal((await json<{ name: string }>(['scripts', 'restore', 'gated', String(scriptVersions.current)])).name, 'gated');
    assert.ok((await json<Array<{ name: string }>>(['jobs', 'list'])).some((j) => j.name === 'Gated'));
    await json(['jobs', 'create', 'Spare', '--script', 'gated']);
    assert.deepEqual(await json(['jobs', 'remove', 'spare']), { removed: 'spare' });

    const run = await json<Run>(['jobs', 'run', 'gated']);
    await eventually(async () => ((await getJson<Run>(server, `/api/runs/${run.id}`)).outputBytes > 0 ? true : undefined), 15_000, 'the run to print');
    assert.equal((await json<Run>(['runs', 'pause', run.id])).id, run.id);
    await eventually(async () => ((await getJson<Run>(server, `/api/runs/${run.id}`)).status === 'paused' ? true : undefined), 15_000, 'the run to pause');
    assert.equal((await json<Run>(['runs', 'resume', run.id])).id, run.id);
    assert.deepEqual(await json(['runs', 'output', run.id]), { id: run.id, outputBytes: 4, text: 'one\n' });
    const following = cli(['runs', 'output', run.id, '--follow', '--json']);
    gate.open();
    const followed = await following;
    assert.equal(followed.code, 0, followed.stderr);
    used.add('runs output');
    const lines = followed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; text?: string; status?: string; outputBytes?: number });
    assert.equal(lines.filter((line) => line.type === 'output').map((line) => line.text).join(''), 'one\ntwo\n');
    assert.deepEqual(lines.at(-1) && [lines.at(-1)?.type, lines.at(-1)?.status, lines.at(-1)?.outputBytes], ['end', 'succeeded', 8]);
    assert.equal((await json<Run>(['runs', 'show', run.id])).status, 'succeeded');
    assert.deepEqual(await json(['runs', 'artifacts', run.id]), { items: [], skipped: [] });
    const rerun = await json<Run>(['runs', 'rerun', run.id]);
    await waitForRun(server, rerun.id);
    const later = await json<Run>(['jobs', 'run', 'gated', '--delay', '3600']);
    assert.equal((await json<Run>(['runs', 'cancel', later.id])).status, 'cancelled');
    assert.ok((await json<{ items: Run[] }>(['runs', 'list', '--job', 'gated'])).items.length === 3);
    assert.ok((await json<{ items: unknown[] }>(['events', '--job', 'gated'])).items.length > 0);

    // Every command of the program that speaks the API was tried (the others, NOT_REST_COMMANDS, have
    // tests of their own: backup-restore.e2e.spec.ts, job-server.e2e.spec.ts).
    const leaves = (command: Command, path: string[] = []): string[] =>
      command.commands.flatMap((sub) => (sub.commands.length > 0 ? leaves(sub, [...path, sub.name()]) : [[...path, sub.name()].join(' ')]));
    const all = leaves(buildProgram(async () => undefined, '0')).filter((path) => !NOT_REST_COMMANDS.includes(path));
    assert.deepEqual([...used].sort(), all.sort());
  });
});
