/** ProjectionLag: events of the log the read models have not applied, on either store. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventStore, Position, ReadAllOptions, RecordedEvent, StoreKind } from '../../src/event-store/event-store.port';
import { MAX_COUNTED_LAG, ProjectionLag } from '../../src/metrics/projection-lag';
import type { ProjectionEngine } from '../../src/projections/projection-engine';

const at = (n: number): Position => ({ commit: BigInt(n), prepare: BigInt(n) });

/** A store whose log holds events at `positions`, and an engine that applied up to `applied`. */
function lagOf(kind: StoreKind, positions: number[], applied: number | null): ProjectionLag {
  const reads: ReadAllOptions[] = [];
  const store = {
    kind,
    headPosition: async () => (positions.length === 0 ? null : at(positions[positions.length - 1])),
    readAll: async (options: ReadAllOptions = {}) => {
      reads.push(options);
      const after = options.after ? Number(options.after.commit) : -1;
      return positions.filter((p) => p > after).slice(0, options.maxCount).map((p) => ({ position: at(p) }) as RecordedEvent);
    },
  } as unknown as EventStore;
  const engine = { currentPosition: applied === null ? null : at(applied) } as unknown as ProjectionEngine;
  return new ProjectionLag(store, engine);
}

describe('ProjectionLag', () => {
  it('is 0 for an empty log and when caught up', async () => {
    assert.equal(await lagOf('sqlite', [], null).events(), 0);
    assert.equal(await lagOf('sqlite', [1, 2, 3], 3).events(), 0);
    assert.equal(await lagOf('eventstoredb', [10, 250, 900], 900).events(), 0);
  });

  it('counts row numbers behind the head on the embedded log', async () => {
    assert.equal(await lagOf('sqlite', [1, 2, 3, 4, 5], 2).events(), 3);
    assert.equal(await lagOf('sqlite', [1, 2, 3], null).events(), 3, 'nothing applied yet: the whole log');
  });

  it('counts the events after the applied position on EventStoreDB, where positions are byte offsets, up to a cap', async () => {
    assert.equal(await lagOf('eventstoredb', [10, 250, 900, 4000], 250).events(), 2);
    const many = Array.from({ length: MAX_COUNTED_LAG + 500 }, (_, i) => (i + 1) * 100);
    assert.equal(await lagOf('eventstoredb', many, null).events(), MAX_COUNTED_LAG);
  });
});
