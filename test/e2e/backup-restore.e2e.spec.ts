/**
 * Issue 16, item 3, with real processes: `endercompute backup` copies the embedded log
 * while the server runs a job writing output continuously; `endercompute restore` makes
 * a fresh data dir from the copy; a server started on it has every event acknowledged
 * before the backup began, and answers. Then the refusals: a non-empty data dir, a file
 * that is not a whole EnderCompute log, a backup over the live log, no data dir.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runCli } from '../support/cli';
import { createJob, getJson, outputOf, postJson, type Run, waitForRun } from '../support/rest';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

interface LoggedEvent {
  position: string;
  stream: string;
  revision: string;
  type: string;
  data: unknown;
  metadata: unknown;
}

/** Every event the server's log holds, through `GET /api/events` (oldest first). */
async function allEvents(server: ServerProcess): Promise<LoggedEvent[]> {
  const events: LoggedEvent[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { items: LoggedEvent[]; next: string | null } = await expectJson(
      await server.request(`/api/events?limit=1000${after !== null ? `&after=${after}` : ''}`),
      200,
    );
    events.push(...page.items);
    if (page.next === null || page.items.length === 0) return events;
    after = page.next;
  }
}

/** The CLI with no server: backup and restore work on files. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await runCli({ url: 'http://127.0.0.1:9', key: '' }, args, env);
  return { code: result.code, stdout: result.stdout.toString(), stderr: result.stderr };
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('backup and restore of the embedded log (built server and CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'endercompute-backup-'));
  let server: ServerProcess;
  let restored: ServerProcess | undefined;

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
    await restored?.stop();
    restored?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backs up while a run writes output continuously, and a server restored from the copy has every event acknowledged before', async () => {
    const marker = await createJob(server, 'marker', 'bash', 'echo "marked $1"');
    // ~80 KB of output every 10 ms or so, until cancelled: the log is written all the time.
    const chatter = await createJob(server, 'chatter', 'bash', 'while true; do head -c 60000 /dev/urandom | base64; sleep 0.01; done');
    const markerRun = await postJson<Run>(server, `/api/jobs/${marker}/runs`, { args: ['before'] }, 202);
    assert.equal((await waitForRun(server, markerRun.id)).status, 'succeeded');
    const chatterRun = await postJson<Run>(server, `/api/jobs/${chatter}/runs`, {}, 202);
    await eventually(async () => ((await getJson<Run & { outputBytes: number }>(server, `/api/runs/${chatterRun.id}`)).outputBytes > 8_000_000 ? true : undefined), 60_000, 'output to pile up');

    // Every event the API shows now was acknowledged (the read side only sees committed events).
    const acknowledged = await allEvents(server);
    const file = join(dir, 'nightly.db');
    const started = Date.now();
    const backup = await cli(['backup', '--data-dir', server.dataDir, file]);
    const took = Date.now() - started;
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /^Backed up \d+ events \(up to position \d+\) to .*nightly\.db: [\d.]+ MiB, integrity checked, in [\d.]+ s\n$/);
    const during = await getJson<Run & { outputBytes: number }>(server, `/api/runs/${chatterRun.id}`);
    assert.equal(during.status, 'running', 'the run went on writing during the backup');
    process.stdout.write(`# backup of a ${(statSync(file).size / 1e6).toFixed(1)} MB log under constant writes took ${took} ms\n`);
    assert.equal(mode(file), '600', 'the backup is private');
    assert.deepEqual(readdirSync(dir), ['nightly.db'], 'no temporary file is left beside it');
    assert.equal(existsSync(`${file}-wal`), false, 'the backup is one self-contained file');

    // The disk died: the server is gone (its run with it).
    await server.stop();

    const dataDir = join(dir, 'restored');
    const restore = await cli(['restore', file, '--data-dir', dataDir]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /^Restored \d+ events \(up to position \d+\) into .*restored\. Start the server/);
    assert.equal(mode(dataDir), '700');
    assert.equal(mode(join(dataDir, 'events.db')), '600');
    assert.equal(readFileSync(join(dataDir, 'runner-id'), 'utf8').trim(), readFileSync(join(server.dataDir, 'runner-id'), 'utf8').trim(), 'the runner id comes along');

    restored = await startServer({ dataDir });
    const after = await allEvents(restored);
    const byPosition = new Map(after.map((event) => [event.position, event]));
    for (const event of acknowledged) assert.deepEqual(byPosition.get(event.position), event, `event ${event.position} (${event.type}) is there as it was`);
    assert.ok(after.length >= acknowledged.length);

    // The restored server answers, from read models rebuilt from the log.
    const jobs = await getJson<{ items: Array<{ name: string }> }>(restored, '/api/jobs');
    assert.deepEqual(jobs.items.map((job) => job.name).sort(), ['chatter', 'marker']);
    assert.equal((await outputOf(restored, markerRun.id)).toString(), 'marked before\n');
    // It knows the run the old server was executing is gone (same runner id): not "running" forever.
    const lost = await waitForRun(restored, chatterRun.id, 30_000);
    assert.equal(lost.status, 'lost');
    const again = await postJson<Run>(restored, `/api/jobs/${marker}/runs`, { args: ['after'] }, 202);
    assert.equal((await waitForRun(restored, again.id)).status, 'succeeded');
    assert.equal((await outputOf(restored, again.id)).toString(), 'marked after\n');
  });

  it('refuses to restore into a data dir that is not empty, and changes nothing there', async () => {
    const backup = join(dir, 'nightly.db');
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'events.db'), 'precious');
    const result = await cli(['restore', backup, '--data-dir', busy]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /The data dir .*busy is not empty \(it holds events\.db\)\. Restore only into a new or empty directory/);
    assert.deepEqual(readdirSync(busy), ['events.db']);
    assert.equal(readFileSync(join(busy, 'events.db'), 'utf8'), 'precious');
  });

  it('refuses a file that is not a whole EnderCompute log, before writing anything', async () => {
    const good = join(dir, 'nightly.db');
    const cut = join(dir, 'cut.db');
    writeFileSync(cut, readFileSync(good));
    truncateSync(cut, Math.floor(statSync(good).size / 2) + 100);
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a database at all, just some words '.repeat(10));
    const other = join(dir, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE events (id TEXT)');
    db.close();
    const cases: Array<[string, RegExp]> = [
      [cut, /The backup is cut short: it has \d+ bytes, and its own header says \d+/],
      [text, /The backup is not an SQLite database \(it does not start with SQLite's header\)/],
      [other, /The backup is an SQLite file but not an EnderCompute event log/],
      [join(dir, 'missing.db'), /There is no backup at/],
    ];
    for (const [file, message] of cases) {
      const target = join(dir, `restore-of-${file.split('/').pop()}`);
      const result = await cli(['restore', file, '--data-dir', target]);
      assert.equal(result.code, 1, file);
      assert.match(result.stderr, message, file);
      assert.ok(!existsSync(target) || readdirSync(target).length === 0, `${file}: nothing is left in the data dir`);
    }
  });

  it('refuses to back up onto the live log, from a data dir without one, or without a data dir', async () => {
    const live = await startServer();
    try {
      const onto = await cli(['backup', '--data-dir', live.dataDir, join(live.dataDir, 'events.db')]);
      assert.equal(onto.code, 1);
      assert.match(onto.stderr, /is the live event log: write the backup to another file/);
      const empty = mkdtempSync(join(dir, 'empty-'));
      const none = await cli(['backup', '--data-dir', empty, join(dir, 'none.db')]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /There is no embedded event log at .*events\.db/);
      assert.equal(existsSync(join(dir, 'none.db')), false);
      const intoFolder = await cli(['backup', '--data-dir', live.dataDir, dir]);
      assert.equal(intoFolder.code, 1);
      assert.match(intoFolder.stderr, /is a directory: give the backup's file name/);
      const nowhere = await cli(['backup', '--data-dir', live.dataDir, join(dir, 'no', 'such', 'folder.db')]);
      assert.equal(nowhere.code, 1);
      assert.match(nowhere.stderr, /The folder .*no\/such does not exist/);
      const onFile = await cli(['restore', join(dir, 'nightly.db'), '--data-dir', join(dir, 'nightly.db')]);
      assert.equal(onFile.code, 1);
      assert.match(onFile.stderr, /nightly\.db is not a directory/);
      const noDir = await cli(['backup', join(dir, 'x.db')]);
      assert.equal(noDir.code, 2);
      assert.match(noDir.stderr, /Pass --data-dir DIR \(or set ENDERCOMPUTE_DATA_DIR\)/);
      // ENDERCOMPUTE_DATA_DIR works as the server reads it, and a second backup replaces the first whole.
      const first = await cli(['backup', join(dir, 'env.db')], { ENDERCOMPUTE_DATA_DIR: live.dataDir });
      assert.equal(first.code, 0, first.stderr);
      await postJson(live, '/api/scripts', { name: 'later', body: 'true' }, 201);
      const second = await cli(['backup', join(dir, 'env.db')], { ENDERCOMPUTE_DATA_DIR: live.dataDir });
      assert.equal(second.code, 0, second.stderr);
      const copy = new Database(join(dir, 'env.db'), { readonly: true });
      assert.equal((copy.prepare("SELECT count(*) AS n FROM events WHERE type = 'ScriptCreated'").get() as { n: number }).n, 1);
      copy.close();
    } finally {
      await live.stop();
      live.cleanup();
    }
  });
});
