import { join } from 'node:path';
import type { AppConfig } from '../config/app-config';
import type { EsdbEventStore } from './esdb-event-store';
import type { EventStore } from './event-store.port';
import { checkLogIsNotLost } from './sqlite/log-file-check';
import { LOG_FILE_NAME } from './sqlite/schema';
import { SqliteEventStore } from './sqlite-event-store';

/**
 * The configured adapter: EventStoreDB when a connection string is set, else the embedded
 * log in the data directory, which must not be damaged, empty or missing where a server
 * ran before (`EventLogDamagedError` otherwise; see `sqlite/log-file-check.ts`).
 */
export function createEventStore(config: AppConfig): EventStore {
  if (config.eventStoreConnectionString !== null) return esdbAdapter().connect(config.eventStoreConnectionString);
  const file = join(config.dataDir, LOG_FILE_NAME);
  checkLogIsNotLost(file, config.newLog);
  return SqliteEventStore.open(file);
}

/**
 * The EventStoreDB adapter, loaded when it is used: its client (gRPC, protocol buffers)
 * took 110 ms of every start of a server on the embedded log, which never needs it.
 */
function esdbAdapter(): typeof EsdbEventStore {
  return (require('./esdb-event-store') as typeof import('./esdb-event-store')).EsdbEventStore;
}
