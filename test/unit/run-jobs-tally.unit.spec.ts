/**
 * The build's tally of `run_jobs` (src/runs/run-jobs-tally.ts): per job, how many runs,
 * the latest requested and the latest to finish; and a batch counts only once its
 * transaction committed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { RunJobsTally } from '../../src/runs/run-jobs-tally';

/** A database with the `runs` columns the tally reads and an empty `run_jobs`, as a build has them. */
function buildDb(runs: Array<{ seq: number; status: string }>): Database.Database {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE runs (seq INTEGER PRIMARY KEY, status_key TEXT NOT NULL, scheduled_ms INTEGER);
    CREATE TABLE run_jobs (job_id TEXT PRIMARY KEY, runs INTEGER NOT NULL, latest_seq INTEGER NOT NULL, latest_status_key TEXT NOT NULL,
      latest_scheduled_ms INTEGER, last_finished_seq INTEGER, last_finished_at TEXT, last_outcome TEXT) WITHOUT ROWID;`);
  const insert = db.prepare('INSERT INTO runs (seq, status_key) VALUES (?, ?)');
  for (const run of runs) insert.run(run.seq, run.status);
  return db;
}

const rows = (db: Database.Database): unknown[] => db.prepare('SELECT * FROM run_jobs ORDER BY job_id').all();

describe('RunJobsTally', () => {
  it('keeps per job the run count, the latest requested with its status now, and the latest to finish (then the highest place)', () => {
    const db = buildDb([
      { seq: 1, status: 'succeeded' },
      { seq: 2, status: 'failed' },
      { seq: 3, status: 'running' },
      { seq: 4, status: 'cancelled' },
    ]);
    const tally = new RunJobsTally();
    tally.requested('a', 1);
    tally.requested('a', 2);
    tally.requested('b', 4);
    tally.requested('a', 3);
    // Runs 1 and 2 finished at the same instant: the higher place wins the tie, whichever is told first.
    tally.finished('a', 2, '2026-01-01T00:00:05.000Z', 'failed');
    tally.finished('a', 1, '2026-01-01T00:00:05.000Z', 'succeeded');
    tally.finished('b', 4, '2026-01-01T00:00:01.000Z', 'cancelled');
    tally.committed();
    tally.write(db);
    assert.deepEqual(rows(db), [
      { job_id: 'a', runs: 3, latest_seq: 3, latest_status_key: 'running', latest_scheduled_ms: null, last_finished_seq: 2, last_finished_at: '2026-01-01T00:00:05.000Z', last_outcome: 'failed' },
      { job_id: 'b', runs: 1, latest_seq: 4, latest_status_key: 'cancelled', latest_scheduled_ms: null, last_finished_seq: 4, last_finished_at: '2026-01-01T00:00:01.000Z', last_outcome: 'cancelled' },
    ]);
  });

  it('counts a batch once its transaction committed, and drops one rolled back however far it got', () => {
    const db = buildDb([
      { seq: 1, status: 'succeeded' },
      { seq: 2, status: 'waiting' },
    ]);
    const tally = new RunJobsTally();
    tally.requested('a', 1);
    tally.finished('a', 1, '2026-01-01T00:00:01.000Z', 'succeeded');
    tally.committed();
    // The next batch fails at its first event, having told nothing: the committed one stays.
    tally.rollBack();
    // Then it fails at its checkpoint (a full disk), having told everything …
    tally.requested('a', 2);
    tally.rollBack();
    // … and is applied again.
    tally.requested('a', 2);
    tally.committed();
    tally.write(db);
    assert.deepEqual(rows(db), [
      { job_id: 'a', runs: 2, latest_seq: 2, latest_status_key: 'waiting', latest_scheduled_ms: null, last_finished_seq: 1, last_finished_at: '2026-01-01T00:00:01.000Z', last_outcome: 'succeeded' },
    ]);
  });
});
