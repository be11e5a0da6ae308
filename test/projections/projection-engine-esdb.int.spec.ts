/**
 * Two servers' projection engines on one EventStoreDB (the in-process double), each
 * with its own projection database: one stops, the other goes on appending, and the
 * first catches up from its checkpoint when it comes back — applying only what it
 * missed — and both show the same data.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EsdbEventStore } from '../../src/event-store/esdb-event-store';
import { ProjectionEngine } from '../../src/projections/projection-engine';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { createTemplates, recordingReporter, testProjections } from './engine-fixtures';

describe('Projection engines of two servers on one EventStoreDB', () => {
  const dirs = [mkdtempSync(join(tmpdir(), 'endercompute-esdb-a-')), mkdtempSync(join(tmpdir(), 'endercompute-esdb-b-'))];
  let double: EsdbDouble;
  after(async () => {
    await double?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function server(dir: string) {
    const store = EsdbEventStore.connect(double.connectionString);
    const projections = testProjections();
    const reporter = recordingReporter();
    const engine = new ProjectionEngine(store, projections.all, join(dir, 'projections.db'), reporter);
    await engine.start();
    return { store, engine, reporter, ...projections, stop: async () => (await engine.close(), await store.close()) };
  }

  it('catches up from its own checkpoint after a restart, with what the other server appended meanwhile', async () => {
    double = await startEsdbDouble();
    const a = await server(dirs[0]);
    await createTemplates(a.store, 0, 20);
    let b = await server(dirs[1]);
    assert.equal(b.counting.count, 20);
    await b.stop();

    await createTemplates(a.store, 20, 12);
    const head = (await a.store.headPosition())!;
    await a.engine.waitFor(head);

    b = await server(dirs[1]);
    assert.equal(b.engine.appliedCount, 12, 'only what it missed, from its checkpoint');
    assert.match(b.reporter.lines.join('\n'), /caught up from checkpoint [\d.]+: 12 events applied/);
    assert.deepEqual(b.engine.currentPosition, head);
    assert.equal(b.counting.count, 32);
    assert.equal(b.counting.distinctPositions, 32);
    assert.deepEqual(b.scripts.list(), a.scripts.list(), 'the same templates, from two databases');

    // And both follow live from there.
    await createTemplates(b.store, 32, 3);
    const live = (await b.store.headPosition())!;
    await Promise.all([a.engine.waitFor(live), b.engine.waitFor(live)]);
    assert.deepEqual(b.scripts.list(), a.scripts.list());
    assert.equal(a.scripts.size, 35);
    await a.stop();
    await b.stop();
  });
});
