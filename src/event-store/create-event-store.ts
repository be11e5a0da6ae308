import { join } from 'node:path';
import type { AppConfig } from '../config/app-config';
import { EsdbEventStore } from './esdb-event-store';
import type { EventStore } from './event-store.port';
import { SqliteEventStore } from './sqlite-event-store';

/** The configured adapter: EventStoreDB when a connection string is set, else the embedded log in the data directory. */
export function createEventStore(config: AppConfig): EventStore {
  if (config.eventStoreConnectionString !== null) return EsdbEventStore.connect(config.eventStoreConnectionString);
  return SqliteEventStore.open(join(config.dataDir, 'events.db'));
}
