/**
 * The EventStoreDB store against a real server: the shared contract, plus the checks
 * that only a real server can confirm (its own system events stay hidden). Runs only
 * when `EVENTSTORE_CONNECTION_STRING` names a server (e.g. the one docker-compose
 * starts: `esdb://localhost:2113?tls=false`); the contract keeps to its own randomly
 * named streams, so a server holding other data is fine.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EsdbEventStore } from '../../src/event-store/esdb-event-store';
import { eventStoreContract } from './event-store.contract';

const connectionString = process.env.EVENTSTORE_CONNECTION_STRING;

if (connectionString) {
  eventStoreContract('eventstoredb (real server)', { open: async () => EsdbEventStore.connect(connectionString) });

  describe('EsdbEventStore on a real server', () => {
    const store = EsdbEventStore.connect(connectionString);
    after(() => store.close());

    it('answers ping', async () => {
      await store.ping();
    });

    it('hides the server\'s own events from $all reads', async () => {
      // A real server writes system events from its first start ($epoch-information, users, settings, stats).
      for (const direction of ['forwards', 'backwards'] as const) {
        const events = await store.readAll({ direction, maxCount: 500 });
        assert.deepEqual(events.filter((e) => e.stream.startsWith('$') || e.type.startsWith('$')), []);
      }
    });
  });
} else {
  it('runs the event store contract against a real EventStoreDB server', { skip: 'EVENTSTORE_CONNECTION_STRING is not set' }, () => undefined);
}
