/**
 * `node dist/bench/read-all.js <events.db | esdb://…>`: reads the whole log (`$all`)
 * with a catch-up subscription from the start to its head, applying nothing, and
 * prints `{"events", "seconds", "cpuSeconds"}` as JSON. The scale bench runs it as a
 * process of its own, as a server is, so that its rate compares with a server's
 * rebuild (and, on the EventStoreDB double, does not share a thread with the double).
 */
import { EsdbEventStore } from '../src/event-store/esdb-event-store';
import { comparePositions, type EventStore } from '../src/event-store/event-store.port';
import { SqliteEventStore } from '../src/event-store/sqlite-event-store';

/** What one read of the whole log took. */
export interface ReadAllFigures {
  events: number;
  seconds: number;
  /** User and system CPU time of the reading process. */
  cpuSeconds: number;
}

/** Reads `store` from the start to its head; the count includes every event the subscription delivers. */
export async function readWholeLog(store: EventStore): Promise<ReadAllFigures> {
  const head = await store.headPosition();
  if (!head) return { events: 0, seconds: 0, cpuSeconds: 0 };
  const cpu = process.cpuUsage();
  const started = performance.now();
  const subscription = store.subscribeAll();
  let events = 0;
  for await (const event of subscription) {
    events++;
    if (comparePositions(event.position, head) >= 0) break;
  }
  await subscription.close();
  const used = process.cpuUsage(cpu);
  return { events, seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

if (require.main === module) {
  const target = process.argv[2] ?? '';
  const store = target.startsWith('esdb://') ? EsdbEventStore.connect(target) : SqliteEventStore.open(target);
  readWholeLog(store)
    .then(async (figures) => {
      await store.close();
      process.stdout.write(`${JSON.stringify(figures)}\n`);
    })
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    });
}
