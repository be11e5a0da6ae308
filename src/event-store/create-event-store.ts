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
  const location = logLocation(config);
  if (location.store === 'sqlite') checkLogIsNotLost(location.file, config.newLog);
  return openLogAt(location);
}

/** Where the configured log is: a plain value, so another thread can open it too (`openLogAt`). */
export type LogLocation = { store: 'sqlite'; file: string } | { store: 'esdb'; connectionString: string };

/** The configured log's location: EventStoreDB when a connection string is set, else `<data dir>/events.db`. */
export function logLocation(config: Pick<AppConfig, 'eventStoreConnectionString' | 'dataDir'>): LogLocation {
  if (config.eventStoreConnectionString !== null) return { store: 'esdb', connectionString: config.eventStoreConnectionString };
  return { store: 'sqlite', file: join(config.dataDir, LOG_FILE_NAME) };
}

/** Opens the log at `location` (another connection to it, when the server has one open: both logs allow that). */
export function openLogAt(location: LogLocation): EventStore {
  return location.store === 'esdb' ? esdbAdapter().connect(location.connectionString) : SqliteEventStore.open(location.file);
}

/**
 * The EventStoreDB adapter, loaded when it is used: its client (gRPC, protocol buffers)
 * took 110 ms of every start of a server on the embedded log, which never needs it.
 */
function esdbAdapter(): typeof EsdbEventStore {
  return (require('./esdb-event-store') as typeof import('./esdb-event-store')).EsdbEventStore;
}
