import { join } from 'node:path';
import type { AppConfig } from '../config/app-config';
import type { EventStore } from './event-store.port';
import { SqliteEventStore } from './sqlite-event-store';

/** The configured adapter: EventStoreDB when a connection string is set, else the embedded log in the data directory. */
export async function createEventStore(config: AppConfig): Promise<EventStore> {
  return SqliteEventStore.open(join(config.dataDir, 'events.db'));
}
