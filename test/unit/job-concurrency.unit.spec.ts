/** A job's places on one server: what counts against `maxConcurrent`, and reservations by several claimers of one run. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobsReadModel } from '../../src/jobs/jobs.read-model';
import { JobConcurrency } from '../../src/runs/execution/job-concurrency';
import type { RunExecutor } from '../../src/runs/execution/run-executor';
import type { RunsReadModel } from '../../src/runs/runs.read-model';

/** A ledger over a job `j` with `limit`, whose runs `executing` the read model shows and `active` this runner executes. */
function ledger(limit: number | null, executing: string[] = [], active: string[] = []): JobConcurrency {
  const jobs = { get: (id: string) => (id === 'j' ? { maxConcurrent: limit } : undefined) } as unknown as JobsReadModel;
  const runs = { executingRunIdsForJob: () => executing } as unknown as RunsReadModel;
  const executor = { activeRunIdsForJob: () => active } as unknown as RunExecutor;
  return new JobConcurrency(jobs, runs, executor);
}

describe('JobConcurrency', () => {
  it('counts the runs the read model shows, those this runner executes and the claims under way, each once', () => {
    const places = ledger(3, ['a', 'b'], ['b']);
    assert.equal(places.hasRoom({ jobId: 'j' }), true);
    const release = places.reserve({ id: 'c', jobId: 'j' });
    assert.equal(places.hasRoom({ jobId: 'j' }), false);
    release();
    assert.equal(places.hasRoom({ jobId: 'j' }), true);
    assert.equal(ledger(null, ['a', 'b', 'c']).hasRoom({ jobId: 'j' }), true, 'no limit');
    assert.equal(ledger(1).hasRoom({ jobId: 'other' }), true, 'a job that is gone has no limit');
  });

  it('keeps a run reserved while any of the claimers that went for it still holds it', () => {
    const places = ledger(2);
    const first = places.reserve({ id: 'r1', jobId: 'j' });
    const second = places.reserve({ id: 'r1', jobId: 'j' });
    assert.equal(places.hasRoom({ jobId: 'j' }), true, 'one run, counted once');
    const third = places.reserve({ id: 'r2', jobId: 'j' });
    assert.equal(places.hasRoom({ jobId: 'j' }), false);
    // The loser of r1 gives its reservation back: the winner's still holds the place.
    second();
    second();
    assert.equal(places.hasRoom({ jobId: 'j' }), false);
    first();
    assert.equal(places.hasRoom({ jobId: 'j' }), true);
    third();
  });

  it('tells its listeners when a place is given back, once per reservation', () => {
    const places = ledger(1);
    let told = 0;
    const stop = places.onRelease(() => told++);
    const release = places.reserve({ id: 'r1', jobId: 'j' });
    release();
    release();
    assert.equal(told, 1);
    stop();
    places.reserve({ id: 'r2', jobId: 'j' })();
    assert.equal(told, 1);
  });
});
