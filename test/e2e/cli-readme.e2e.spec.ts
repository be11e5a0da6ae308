import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, runShellLine } from '../support/cli';
import { getJson, type Run } from '../support/rest';
import { type ServerProcess, startServer } from '../support/server-process';

/** The shell lines of the README's CLI section, as written (the first block after `## CLI`). */
function readmeCliLines(): string[] {
  const readme = readFileSync(resolve(__dirname, '../../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## CLI\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'the README has a CLI example');
  return block[1].split('\n').filter((line) => line.trim() !== '');
}

/** A line without its trailing `# comment` (bash drops it too), for matching it to its check. */
const commandOf = (line: string): string => line.replace(/\s+# .*$/, '').trim();

type RunInfo = Run & { jobName: string; args: string[]; scheduledFor: string | null };

describe('Every endercompute command in the README, as written, against the built server', () => {
  let server: ServerProcess;
  let dir: string;

  before(async () => {
    server = await startServer();
    dir = mkdtempSync(join(tmpdir(), 'endercompute-readme-'));
    // The files the example names, in the directory it is typed in.
    writeFileSync(join(dir, 'build.sh'), 'echo "building $* for $TARGET"\ncat config.toml\n');
    writeFileSync(join(dir, 'config.toml'), 'optimise = true\n');
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const runsOf = async (): Promise<RunInfo[]> => (await getJson<{ items: RunInfo[] }>(server, '/api/runs?jobId=release%20build')).items;
  const run = async (number: number): Promise<RunInfo> => {
    const found = (await runsOf()).find((r) => r.number === number);
    assert.ok(found, `run #${number}`);
    return found;
  };

  /**
   * What each README command must do, in the README's order; `fill` gives the
   * placeholders' values. A README command without a check here (or a check
   * whose command left the README) fails the test.
   */
  const checks: Array<{ command: string; fill?: () => Promise<Record<string, string>>; after?: string; check: (result: CliResult, stdout: string) => Promise<void> | void }> = [
    {
      command: 'endercompute scripts create build --file build.sh --interpreter bash',
      check: (_, stdout) => assert.match(stdout, /^Created template build \(\S+\)\n$/),
    },
    {
      command: 'endercompute jobs create "Release build" --script build --arg --release --env TARGET=linux --tag release',
      check: async (_, stdout) => {
        assert.match(stdout, /^Created job Release build \(\S+\)\n$/);
        const job = await getJson<{ args: string[]; env: Record<string, string>; tags: string[] }>(server, '/api/jobs/release%20build');
        assert.deepEqual([job.args, job.env, job.tags], [['--release'], { TARGET: 'linux' }, ['release']]);
      },
    },
    {
      command: 'endercompute jobs attach "release build" config.toml',
      check: (_, stdout) => assert.equal(stdout, 'Job Release build now has: config.toml\n'),
    },
    {
      command: 'endercompute jobs update "release build" --keep-runs 20',
      check: async (_, stdout) => {
        assert.match(stdout, /^Updated job Release build \(version \d+\)\n$/);
        assert.equal((await getJson<{ keepRuns: number | null }>(server, '/api/jobs/release%20build')).keepRuns, 20);
      },
    },
    {
      command: 'endercompute jobs run "release build" --arg --fast --follow',
      check: async (result, stdout) => {
        assert.equal(stdout, 'building --release --fast for linux\noptimise = true\n');
        assert.match(result.stderr, /^Requested Release build #1 \(\S+\): (queued|running)\n/);
        assert.match(result.stderr, /\nRelease build #1: succeeded \(exit code 0\)\n$/);
        assert.equal((await run(1)).requestedBy, 'alice');
      },
    },
    {
      command: 'endercompute jobs run "release build" --delay 3600 -- --fast -v',
      check: async (_, stdout) => {
        assert.match(stdout, /^Requested Release build #2 \(\S+\): scheduled for \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n$/);
        assert.deepEqual((await run(2)).args, ['--release', '--fast', '-v']);
      },
    },
    {
      command: 'endercompute runs list --status active',
      check: async (_, stdout) => {
        const id = (await run(2)).id;
        assert.match(stdout, /^ID\s+RUN\s+STATUS\s+BY\s+WHEN\s+DURATION\n/);
        assert.match(stdout, new RegExp(`^${id}\\s+Release build #2\\s+scheduled\\s+alice\\s+scheduled for \\d{4}-`, 'm'));
        assert.equal(stdout.trim().split('\n').length, 2, 'only the scheduled run is active');
      },
    },
    {
      command: 'endercompute runs cancel <run id>',
      fill: async () => ({ '<run id>': (await run(2)).id }),
      check: async (_, stdout) => assert.equal(stdout, `Cancel requested for Release build #2 (${(await run(2)).id}): cancelled\n`),
    },
    {
      command: 'endercompute runs list --finished',
      check: async (_, stdout) => {
        const rows = stdout.trim().split('\n').slice(1);
        // #2 was cancelled after #1 finished: the latest to finish first, with the time it finished.
        assert.match(rows[0], /Release build #2\s+cancelled\s+alice\s+finished \d{4}-/);
        assert.match(rows[1], /Release build #1\s+succeeded\s+alice\s+finished \d{4}-/);
        assert.equal(rows.length, 2);
      },
    },
    {
      command: 'endercompute runs output <run id>',
      fill: async () => ({ '<run id>': (await run(1)).id }),
      check: (_, stdout) => assert.equal(stdout, 'building --release --fast for linux\noptimise = true\n'),
    },
    {
      command: 'endercompute runs show <run id> --json',
      fill: async () => ({ '<run id>': (await run(1)).id }),
      check: async (_, stdout) => {
        const shown = JSON.parse(stdout) as RunInfo;
        assert.deepEqual([shown.id, shown.status, shown.exitCode, shown.args], [(await run(1)).id, 'succeeded', 0, ['--release', '--fast']]);
      },
    },
    {
      command: 'endercompute events --job "release build"',
      check: (_, stdout) => {
        assert.match(stdout, /^POSITION\s+AT\s+ACTOR\s+TYPE\s+STREAM\n/);
        for (const type of ['JobCreated', 'JobFileAttached', 'RunRequested', 'RunFinished']) assert.match(stdout, new RegExp(`\\s${type}\\s`), type);
        assert.match(stdout, /\salice\s+JobCreated\s/);
      },
    },
    {
      command: 'endercompute jobs history "release build"',
      check: (_, stdout) => {
        assert.match(stdout, /^VERSION\s+WHEN\s+BY\s+SOURCE\s+CHANGE\s+FIELDS\n1\s.*\salice\s+cli\s+JobCreated\s/);
        assert.match(stdout, /\n2\s.*\salice\s+cli\s+JobFileAttached\s+files\n/);
        assert.match(stdout, /\n3 \(current\)\s.*\salice\s+cli\s+JobUpdated\s+keepRuns\n$/);
      },
    },
    {
      command: 'endercompute jobs version "release build" 3',
      check: (_, stdout) => assert.match(stdout, /^job Release build \(\S+\), version 3 of 3\nJobUpdated by alice \(cli\) at .*\n\nChanged since version 2:\n {2}keepRuns: null → 20\n$/),
    },
    {
      command: 'endercompute jobs restore "release build" 2',
      check: async (_, stdout) => {
        // A new version after the runs admitted since version 3 (bookkeeping events take numbers too).
        const now = /^Restored job Release build to version 2: it is now version (\d+)\n$/.exec(stdout);
        assert.ok(now && Number(now[1]) > 3, stdout);
        assert.equal((await getJson<{ keepRuns: number | null }>(server, '/api/jobs/release%20build')).keepRuns, null);
      },
    },
    {
      command: 'endercompute jobs show "release build" --as-of <time>',
      // The moment version 3 (--keep-runs 20) was recorded: the job as it was then.
      fill: async () => ({ '<time>': (await getJson<{ items: Array<{ version: number; at: string }> }>(server, '/api/jobs/release%20build/versions')).items[2].at }),
      check: (_, stdout) => {
        assert.match(stdout, /^Release build \(\S+, version 3\), as it stood at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n/);
        assert.match(stdout, /\noutput: {3}kept for the newest 20 finished runs\n/);
      },
    },
    {
      command: 'source <(endercompute completion bash)',
      // Then, in the same shell, what pressing Tab after `endercompute jobs r` offers.
      after: 'complete -p endercompute; COMP_WORDS=(endercompute jobs r); COMP_CWORD=2; _endercompute; echo "${COMPREPLY[*]}"',
      check: (_, stdout) => assert.equal(stdout, 'complete -o default -F _endercompute endercompute\nremove restore run\n'),
    },
  ];

  it('runs each one and it does what the README says', async () => {
    const lines = readmeCliLines();
    const [setup, ...commands] = lines;
    assert.match(setup, /^export ENDERCOMPUTE_URL=\S+ ENDERCOMPUTE_KEY=… ENDERCOMPUTE_ACTOR=alice$/);
    const exportLine = setup.replace(/ENDERCOMPUTE_URL=\S+/, `ENDERCOMPUTE_URL=${server.url}`).replace('…', server.key);
    assert.deepEqual(commands.map(commandOf), checks.map((c) => c.command), 'the README commands and the checks here, one for one');
    for (const [i, line] of commands.entries()) {
      const { fill, check, after: afterLine } = checks[i];
      let typed = line;
      for (const [placeholder, value] of Object.entries((await fill?.()) ?? {})) typed = typed.replaceAll(placeholder, value);
      assert.doesNotMatch(typed, /<[a-z ]+>|…/, `${line}: every placeholder is filled`);
      const result = await runShellLine(typed, { cwd: dir, setup: exportLine, after: afterLine });
      assert.equal(result.code, 0, `${typed}\n${result.stderr}`);
      await check(result, result.stdout.toString());
    }
  });
});
