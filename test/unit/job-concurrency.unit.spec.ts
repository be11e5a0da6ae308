/** A job's places on one server: what counts against `maxConcurrent`, and reservations by several claimers of one run. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobsReadModel } from '../../src/jobs/jobs.read-model';
import type { ProjectionEngine } from '../../src/projections/projection-engine';
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import { JobConcurrency } from '../../src/runs/execution/job-concurrency';
import type { RunExecutor } from '../../src/runs/execution/run-executor';
import type { RunsReadModel } from '../../src/runs/runs.read-model';

/** The listeners of committed batches a ledger registered, to tell them of events applied (of `streams`). */
const commitListeners: Array<(events: readonly RecordedEvent[]) => void> = [];
const applied = (...streams: string[]): void => {
  for (const listener of commitListeners) listener(streams.map((stream) => ({ stream }) as RecordedEvent));
};

/** A ledger over a job `j` with `limit`, whose runs `executing` the read model shows and `active` this runner executes. */
function ledger(limit: number | null, executing: string[] = [], active: string[] = []): JobConcurrency {
  const jobs = { get: (id: string) => (id === 'j' ? { maxConcurrent: limit } : undefined) } as unknown as JobsReadModel;
  const runs = { executingRunIdsForJob: () => executing } as unknown as RunsReadModel;
  const executor = { activeRunIdsForJob: () => active } as unknown as RunExecutor;
  commitListeners.length = 0;
  const projections = { onCommitted: (listener: (events: readonly RecordedEvent[]) => void) => commitListeners.push(listener) } as unknown as ProjectionEngine;
  return new JobConcurrency(jobs, runs, executor, projections);
}

/** Claimers: the scheduler, and two claim requests of job servers. */
const scheduler = {};
const claimOne = {};
const claimTwo = {};

describe('JobConcurrency', () => {
  it('counts the runs the read model shows, those this runner executes and the claims under way, each once', () => {
    const places = ledger(3, ['a', 'b'], ['b']);
    assert.equal(places.hasRoom({ jobId: 'j' }), true);
    const release = places.reserve({ id: 'c', jobId: 'j' }, scheduler);
    assert.equal(places.hasRoom({ jobId: 'j' }), false);
    release();
    assert.equal(places.hasRoom({ jobId: 'j' }), true);
    assert.equal(ledger(null, ['a', 'b', 'c']).hasRoom({ jobId: 'j' }), true, 'no limit');
    assert.equal(ledger(1).hasRoom({ jobId: 'other' }), true, 'a job that is gone has no limit');
  });

  it('keeps a run reserved while any of the claimers that went for it still holds it', () => {
    const places = ledger(2);
    const first = places.reserve({ id: 'r1', jobId: 'j' }, claimOne);
    const second = places.reserve({ id: 'r1', jobId: 'j' }, scheduler);
    assert.equal(places.hasRoom({ jobId: 'j' }), true, 'one run, counted once');
    const third = places.reserve({ id: 'r2', jobId: 'j' }, claimTwo);
    assert.equal(places.hasRoom({ jobId: 'j' }), false);
    // The loser of r1 gives its reservation back: the winner's still holds the place.
    second();
    second();
    assert.equal(places.hasRoom({ jobId: 'j' }), false);
    first();
    assert.equal(places.hasRoom({ jobId: 'j' }), true);
    third();
  });

  it('tells its listeners when a place is given back, once per reservation, but not the claimer that gave it back', () => {
    const places = ledger(1);
    const told = { scheduler: 0, claimOne: 0, anyone: 0 };
    places.onRelease(() => told.scheduler++, scheduler);
    const stop = places.onRelease(() => told.claimOne++, claimOne);
    places.onRelease(() => told.anyone++);
    const release = places.reserve({ id: 'r1', jobId: 'j' }, claimOne);
    release();
    release();
    assert.deepEqual(told, { scheduler: 1, claimOne: 0, anyone: 1 }, 'a claimer woken by its own failure would try again at once');
    places.reserve({ id: 'r1', jobId: 'j' }, scheduler)();
    assert.deepEqual(told, { scheduler: 1, claimOne: 1, anyone: 2 });
    stop();
    places.reserve({ id: 'r2', jobId: 'j' }, claimTwo)();
    assert.deepEqual(told, { scheduler: 2, claimOne: 1, anyone: 3 });
  });

  it('keeps a run a claim found taken in the log stale until the read models apply an event of its stream, a minute at most', () => {
    const places = ledger(null);
    assert.equal(places.isStale('r1'), false);
    places.markStale('r1');
    places.markStale('r2', 1_000);
    assert.equal(places.isStale('r1'), true);
    applied('run-r3', 'output-r1', 'job-j');
    assert.equal(places.isStale('r1'), true, 'nothing of what the log has about r1');
    applied('run-r1');
    assert.equal(places.isStale('r1'), false);
    assert.equal(places.isStale('r2', 60_999), true);
    assert.equal(places.isStale('r2', 61_000), false, 'its event was applied before it was marked: none may come for long');
  });
});
