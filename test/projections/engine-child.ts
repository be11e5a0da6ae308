/**
 * A process that feeds the projection database of `<dir>` from `<dir>/events.db` and
 * appends `<live>` template creations while it follows, one append per turn (so they
 * come as several batches). Run with ENDERCOMPUTE_TEST_KILL_BEFORE_CHECKPOINT set, it
 * dies by SIGKILL inside a batch's transaction, after applying and before the checkpoint.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { ProjectionEngine } from '../../src/projections/projection-engine';
import { createTemplates, recordingReporter, testProjections } from './engine-fixtures';

async function main(): Promise<void> {
  const [dir, fromText, liveText] = process.argv.slice(2);
  const store = SqliteEventStore.open(join(dir, 'events.db'));
  const engine = new ProjectionEngine(store, testProjections().all, join(dir, 'projections.db'), recordingReporter());
  await engine.start();
  process.stdout.write(`caught up ${engine.appliedCount}\n`);
  for (let i = 0; i < Number(liveText); i++) {
    await createTemplates(store, Number(fromText) + i, 1);
    await sleep(5);
  }
  await sleep(200);
  process.stdout.write(`applied ${engine.appliedCount}\n`);
  await engine.close();
  await store.close();
}

void main();
