/**
 * The projection engine on a real projection database file: checkpoints, warm restarts,
 * versions and rebuilds, damaged and foreign files, events a projection cannot apply,
 * the offline rebuild, and a crash between applying and checkpointing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { formatPosition } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { readStoredState } from '../../src/projections/projection-database';
import { type BuildProgress, ProjectionEngine, ProjectionStoppedError } from '../../src/projections/projection-engine';
import { createTemplates, newEvent, recordingReporter, testProjections } from './engine-fixtures';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'endercompute-projections-'));
  dirs.push(dir);
  return dir;
}

/** Starts an engine on `dir`'s log and projection database; close it (and the store) with `stop`. */
async function startEngine(dir: string, version = 1, prepare?: (p: ReturnType<typeof testProjections>) => void) {
  const store = SqliteEventStore.open(join(dir, 'events.db'));
  const projections = testProjections(version);
  prepare?.(projections);
  const reporter = recordingReporter();
  const engine = new ProjectionEngine(store, projections.all, join(dir, 'projections.db'), reporter);
  await engine.start();
  return {
    store,
    engine,
    ...projections,
    reporter,
    stop: async () => {
      await engine.close();
      await store.close();
    },
  };
}

async function seed(dir: string, from: number, count: number): Promise<void> {
  const store = SqliteEventStore.open(join(dir, 'events.db'));
  await createTemplates(store, from, count);
  await store.close();
}

function storedState(dir: string) {
  const db = new Database(join(dir, 'projections.db'), { readonly: true });
  try {
    return readStoredState(db);
  } finally {
    db.close();
  }
}

describe('The projection engine and its database', () => {
  it('resumes from its checkpoint: a restart applies only what was appended meanwhile, each event once', async () => {
    const dir = dataDir();
    await seed(dir, 0, 50);
    const first = await startEngine(dir);
    assert.equal(first.engine.appliedCount, 50);
    assert.match(first.reporter.lines.join('\n'), /warn: Projections: building projections\.db from the log: there is none yet/, 'history to build: a warning');
    await createTemplates(first.store, 50, 10);
    await first.engine.waitFor((await first.store.headPosition())!);
    await first.stop();

    // Appended while no engine followed the log (another server, or a tool).
    await seed(dir, 60, 15);
    const second = await startEngine(dir);
    assert.equal(second.engine.appliedCount, 15, 'only the events after the checkpoint');
    assert.doesNotMatch(second.reporter.lines.join('\n'), /building/);
    assert.match(second.reporter.lines.join('\n'), /caught up from checkpoint \d+: 15 events applied/);
    assert.equal(second.counting.count, 75);
    assert.equal(second.counting.distinctPositions, 75);
    assert.equal(second.scripts.size, 75);
    assert.deepEqual(second.scripts.find('T74'), second.scripts.get('script000074'));
    assert.equal(storedState(dir).checkpoint === null, false);
    await second.stop();

    const third = await startEngine(dir);
    assert.equal(third.engine.appliedCount, 0, 'nothing to apply: warm');
    assert.equal(third.counting.count, 75);
    await third.stop();
  });

  it('wakes a change listener only for the events that concern it, once per burst', async () => {
    const started = await startEngine(dataDir());
    let every = 0;
    let scripts = 0;
    const stopEvery = started.engine.onChange(() => every++);
    const stopScripts = started.engine.onChange(() => scripts++, (event) => event.type === 'ScriptCreated');
    const settle = async (): Promise<void> => {
      await started.engine.waitFor((await started.store.headPosition())!);
      await new Promise((resolve) => setImmediate(resolve));
    };
    await started.store.append('elsewhere-1', [newEvent('SomethingElse', {}), newEvent('SomethingElse', {})], 'no_stream');
    await settle();
    assert.deepEqual({ every, scripts }, { every: 1, scripts: 0 }, 'not woken for what does not concern it');
    await createTemplates(started.store, 0, 1);
    await started.store.append('elsewhere-2', [newEvent('SomethingElse', {})], 'no_stream');
    await settle();
    assert.equal(scripts, 1, 'woken once for a burst that holds one event of its concern');
    stopEvery();
    stopScripts();
    await started.stop();
  });

  it('starts a new data dir (nothing logged) without a warning', async () => {
    const fresh = await startEngine(dataDir());
    assert.match(fresh.reporter.lines.join('\n'), /info: Projections: building projections\.db from the log: there is none yet/);
    assert.deepEqual(fresh.reporter.lines.filter((line) => !line.startsWith('info: ')), []);
    await fresh.stop();
  });

  it('rebuilds a projection whose version changed, in a new file that replaces the old one once caught up', async () => {
    const dir = dataDir();
    await seed(dir, 0, 30);
    const v1 = await startEngine(dir, 1);
    await v1.stop();
    assert.equal(storedState(dir).versions.get('counting'), 1);

    const v2 = await startEngine(dir, 2);
    assert.equal(v2.engine.appliedCount, 30, 'the whole log again');
    assert.match(v2.reporter.lines.join('\n'), /warn: Projections: building projections\.db from the log: projection versions changed \(counting 1 → 2\)/);
    assert.match(v2.reporter.lines.join('\n'), /rebuilt from the log: 30 events applied/);
    assert.equal(v2.counting.count, 30, 'a fresh database: counted once, not on top of the old count');
    assert.equal(existsSync(join(dir, 'projections.db.building')), false, 'the new file took the old one\'s place');
    // It goes on in the installed file: live events land there, and a restart is warm.
    await createTemplates(v2.store, 30, 2);
    await v2.engine.waitFor((await v2.store.headPosition())!);
    await v2.stop();
    assert.equal(storedState(dir).versions.get('counting'), 2);
    const again = await startEngine(dir, 2);
    assert.equal(again.engine.appliedCount, 0);
    assert.equal(again.counting.count, 32);
    assert.equal(again.scripts.size, 32);
    await again.stop();
  });

  it('tells how far a build from the whole log has come: after each batch, then as it builds the indexes', async () => {
    const dir = dataDir();
    const store = SqliteEventStore.open(join(dir, 'events.db'));
    // Appended together: one transaction per turn rather than one per template.
    await Promise.all(Array.from({ length: 10 }, (_, i) => createTemplates(store, i * 500, 500)));
    const engine = new ProjectionEngine(store, testProjections().all, join(dir, 'projections.db'), recordingReporter());
    const seen: BuildProgress[] = [];
    let unlikeTheGetter = 0;
    engine.onBuildProgress((progress) => {
      seen.push(progress);
      if (JSON.stringify(progress) !== JSON.stringify(engine.buildProgress)) unlikeTheGetter++;
    });
    assert.equal(engine.buildProgress, null, 'no build before the start');
    await engine.start();
    assert.equal(engine.buildProgress, null, 'none once started');
    const applying = seen.filter((progress) => progress.stage === 'applying');
    assert.ok(applying.length >= 2, `a word per batch (${applying.length})`);
    for (let i = 1; i < applying.length; i++) {
      assert.ok(applying[i].applied > applying[i - 1].applied && applying[i].percent >= applying[i - 1].percent, 'it only moves forward');
    }
    assert.deepEqual(seen.at(-1), { applied: engine.appliedCount, percent: 100, stage: 'indexing' }, 'last: the whole log applied, the indexes under way');
    assert.equal(seen.filter((progress) => progress.stage === 'indexing').length, 1);
    assert.equal(unlikeTheGetter, 0, 'what it tells is what buildProgress answers');

    // A warm start catches up from its checkpoint: no build, nothing to tell.
    await engine.close();
    await createTemplates(store, 10_000, 5);
    const warm = new ProjectionEngine(store, testProjections().all, join(dir, 'projections.db'), recordingReporter());
    const told: BuildProgress[] = [];
    warm.onBuildProgress((progress) => told.push(progress));
    await warm.start();
    assert.equal(warm.appliedCount, 5);
    assert.deepEqual(told, []);
    await warm.close();
    await store.close();
  });

  it('keeps the previous database when a rebuild does not finish', async () => {
    const dir = dataDir();
    await seed(dir, 0, 5);
    const v1 = await startEngine(dir, 1);
    await v1.stop();
    // Version 2 cannot apply an event of the log: its rebuild stops half-way.
    const store = SqliteEventStore.open(join(dir, 'events.db'));
    await store.append('odd-1', [newEvent('Odd', {})], 'no_stream');
    await store.close();
    const v2 = await startEngine(dir, 2, (p) => (p.counting.throwOn = 'Odd'));
    assert.ok(v2.engine.stoppedBecause instanceof ProjectionStoppedError);
    await v2.stop();
    const state = storedState(dir);
    assert.equal(state.versions.get('counting'), 1, 'projections.db is still the version 1 database');
    assert.equal(state.eventsApplied, 5);
  });

  it('stops on an event a projection cannot apply, naming it, with the whole batch rolled back: never skipped', async () => {
    const dir = dataDir();
    await seed(dir, 0, 3);
    const t = await startEngine(dir, 1, (p) => (p.counting.throwOn = 'Odd'));
    const before = t.engine.currentPosition!;
    // One append: the good event and the bad one arrive in one batch.
    const appended = await t.store.append('odd-7', [newEvent('Fine', {}), newEvent('Odd', { x: 1 })], 'no_stream');
    const error = await t.engine.waitFor(appended.position).then(
      () => assert.fail('waitFor resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ProjectionStoppedError);
    assert.equal(
      error.message.split(':')[0] + ':' + error.message.split(':')[1],
      `The read models stopped: projection "counting" cannot apply the event at position ${formatPosition(appended.position)} (stream odd-7, revision 1, type Odd)`,
    );
    assert.match(t.reporter.lines.join('\n'), /error: The read models stopped: projection "counting" cannot apply the event at position \d+ \(stream odd-7, revision 1, type Odd\): cannot apply Odd/);
    assert.deepEqual(t.engine.currentPosition, before, 'the batch, good event included, was rolled back');
    assert.equal(t.counting.count, 3);
    assert.equal(t.engine.stoppedBecause, error);
    await assert.rejects(t.engine.waitFor(appended.position), /cannot apply the event/);
    await t.stop();

    // A restart does not skip it: it stops at the same event again.
    const again = await startEngine(dir, 1, (p) => (p.counting.throwOn = 'Odd'));
    assert.match(again.engine.stoppedBecause?.message ?? '', /stream odd-7, revision 1, type Odd/);
    assert.equal(again.counting.count, 3);
    await again.stop();
  });

  it('waits out a full disk: the batch is applied again once there is room, not blamed on an event', async () => {
    const dir = dataDir();
    await seed(dir, 0, 3);
    const t = await startEngine(dir);
    t.counting.diskFullTimes = 2;
    await createTemplates(t.store, 3, 2);
    const head = (await t.store.headPosition())!;
    // Two tries fail (2 s apart), the third applies: within the read-your-writes wait.
    await t.engine.waitFor(head, 15_000);
    assert.equal(t.engine.stoppedBecause, null);
    assert.equal(t.counting.count, 5);
    assert.equal(t.counting.distinctPositions, 5);
    assert.match(t.reporter.lines.join('\n'), /warn: Projections: the disk is full, so \d+ events wait to be applied; trying again in 2 s/);
    await t.stop();
  });

  it('rebuilds a damaged or foreign projection database, and says so', async () => {
    const dir = dataDir();
    await seed(dir, 0, 8);
    const first = await startEngine(dir);
    await first.stop();
    writeFileSync(join(dir, 'projections.db'), 'this is not a database at all, it was overwritten'.repeat(100));
    const damaged = await startEngine(dir);
    assert.match(damaged.reporter.lines.join('\n'), /warn: Projections: building projections\.db from the log: the file could not be used \(.*projections\.db is not an SQLite database.*\), so it was removed/);
    assert.equal(damaged.counting.count, 8);
    await damaged.stop();
    // Damage SQLite reported while a server ran is marked beside the file: the next start rebuilds.
    writeFileSync(join(dir, 'projections.db.damaged'), 'database disk image is malformed\n');
    const marked = await startEngine(dir);
    assert.match(marked.reporter.lines.join('\n'), /building projections\.db from the log: SQLite found it damaged while the server ran \(database disk image is malformed\), so it was removed/);
    assert.equal(marked.engine.appliedCount, 8);
    assert.equal(existsSync(join(dir, 'projections.db.damaged')), false);
    await marked.stop();

    // Another data dir's log (same kind, other events): its checkpoint means nothing here.
    const other = dataDir();
    await seed(other, 100, 3);
    rmSync(join(dir, 'events.db'));
    rmSync(join(dir, 'events.db-wal'), { force: true });
    rmSync(join(dir, 'events.db-shm'), { force: true });
    await seed(dir, 200, 4);
    const foreign = await startEngine(dir);
    assert.match(foreign.reporter.lines.join('\n'), /it was built from another log \(its first event differs\)/);
    assert.equal(foreign.counting.count, 4);
    assert.equal(foreign.scripts.size, 4);
    await foreign.stop();
  });

  it('rebuilds when its checkpoint is beyond the end of the log (a log restored from an older backup)', async () => {
    const dir = dataDir();
    await seed(dir, 0, 4);
    const backup = join(dir, 'backup.db');
    const store = SqliteEventStore.open(join(dir, 'events.db'));
    await store.close();
    // The log as it was with 4 events, then 4 more applied.
    const { copyFileSync } = await import('node:fs');
    copyFileSync(join(dir, 'events.db'), backup);
    await seed(dir, 4, 4);
    const t = await startEngine(dir);
    await t.stop();
    for (const suffix of ['-wal', '-shm']) rmSync(join(dir, `events.db${suffix}`), { force: true });
    copyFileSync(backup, join(dir, 'events.db'));
    const restored = await startEngine(dir);
    assert.match(restored.reporter.lines.join('\n'), /its checkpoint \d+ is beyond the log's end \d+/);
    assert.equal(restored.counting.count, 4);
    await restored.stop();
  });

  it('rebuilds offline beside the database in use; the next start takes the new one and goes on warm', async () => {
    const dir = dataDir();
    await seed(dir, 0, 20);
    const running = await startEngine(dir, 1);
    // The offline tool's work, while a server keeps serving from its own database.
    const store = SqliteEventStore.open(join(dir, 'events.db'));
    const tool = new ProjectionEngine(store, testProjections(2).all, null, recordingReporter());
    assert.equal(await tool.rebuildOffline(join(dir, 'projections.db')), 20);
    await store.close();
    assert.ok(existsSync(join(dir, 'projections.db.ready')));
    assert.equal(running.counting.count, 20, 'the running engine still serves from its database');
    await createTemplates(running.store, 20, 3);
    await running.engine.waitFor((await running.store.headPosition())!);
    await running.stop();

    const upgraded = await startEngine(dir, 2);
    const log = upgraded.reporter.lines.join('\n');
    assert.match(log, /took projections\.db\.ready, rebuilt offline, in place of projections\.db/);
    assert.doesNotMatch(log, /building/);
    assert.equal(upgraded.engine.appliedCount, 3, 'only the events appended after the offline rebuild');
    assert.equal(upgraded.counting.count, 23);
    assert.equal(upgraded.scripts.size, 23);
    assert.equal(existsSync(join(dir, 'projections.db.ready')), false);
    await upgraded.stop();
  });

  it('applies nothing twice after a crash between applying a batch and writing its checkpoint', async () => {
    const dir = dataDir();
    await seed(dir, 0, 40);
    const child = spawn(process.execPath, [join(__dirname, 'engine-child.js'), dir, '40', '30'], {
      env: { ...process.env, ENDERCOMPUTE_TEST_KILL_BEFORE_CHECKPOINT: '55' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // 'close', not 'exit': the output is read to its end by then.
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    assert.equal(signal, 'SIGKILL', `the child was killed inside a transaction (exit ${code}, output ${out})`);
    assert.match(out, /caught up 40/);
    assert.doesNotMatch(out, /applied/);
    const committed = storedState(dir).eventsApplied;
    assert.ok(committed >= 40 && committed < 55, `the checkpoint is the last committed batch (${committed})`);

    const store = SqliteEventStore.open(join(dir, 'events.db'));
    const appended = (await store.readAll()).length;
    await store.close();
    assert.ok(appended >= 55, `the child appended up to the crash point (${appended} events)`);
    const restarted = await startEngine(dir);
    assert.equal(restarted.engine.appliedCount, appended - committed, 'it resumed from the last committed checkpoint');
    assert.equal(restarted.counting.count, appended, 'every event counted exactly once');
    assert.equal(restarted.counting.distinctPositions, appended);
    assert.equal(restarted.scripts.size, appended);
    assert.deepEqual(
      restarted.scripts.list().map((s) => s.name).sort(),
      Array.from({ length: appended }, (_, i) => `t${i}`).sort(),
    );
    await restarted.stop();
  });
});
