/**
 * The EventStoreDB double beside the embedded store, measured in the same run: append
 * and replay rates through the event store port (`benchStore`), and how soon a trivial
 * job starts on a server using each (`benchTrivialJob`). The double runs in this process
 * and is reached over gRPC on localhost, as a server on the same machine would be; it
 * keeps its log in memory, so its figures show the cost of the client and the protocol,
 * not of a real server's disk (see docs/eventstoredb.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EsdbEventStore } from '../src/event-store/esdb-event-store';
import type { EventStore } from '../src/event-store/event-store.port';
import { SqliteEventStore } from '../src/event-store/sqlite-event-store';
import { startEsdbDouble } from '../test/esdb-double/esdb-double';
import { startServer } from '../test/support/server-process';
import { benchLargeRunWatched } from './live-bench';
import { benchLargeOutput, benchTrivialJob, type TrivialJobFigures } from './run-bench';
import { ms, ratio, report } from './stats';
import { benchStore, type StoreBenchResult } from './store-bench';
import { RANDOM_BASE64_50MB, TEXT_LINES_100MB, YES_100MB } from './workloads';

/** Fewer events than the embedded-only benchmark: every append is a gRPC round trip. */
const EVENTS = 20_000;
const SAMPLES = 40;

export async function benchEsdbDouble(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ec-esdb-bench-'));
  try {
    const embedded = await measureStore(SqliteEventStore.open(join(dir, 'events.db')));
    const storeDouble = await startEsdbDouble();
    let double: StoreBenchResult;
    try {
      double = await measureStore(EsdbEventStore.connect(storeDouble.connectionString));
    } finally {
      await storeDouble.stop();
    }
    const rate = (value: number) => `${Math.round(value)} ev/s`;
    report(`ESDB double: append (64 concurrent writers, ${EVENTS} ev)`, rate(double.appendEventsPerSec),
      `embedded ${rate(embedded.appendEventsPerSec)} (${ratio(double.appendEventsPerSec, embedded.appendEventsPerSec)})`);
    report('ESDB double: replay, raw subscription', rate(double.replayEventsPerSec),
      `embedded ${rate(embedded.replayEventsPerSec)} (${ratio(double.replayEventsPerSec, embedded.replayEventsPerSec)})`);

    const onEmbedded = await measureStart('embedded: trivial job', {});
    const serverDouble = await startEsdbDouble();
    let onDouble: TrivialJobFigures;
    try {
      onDouble = await measureStart('ESDB double: trivial job', { EVENTSTORE_CONNECTION_STRING: serverDouble.connectionString });
    } finally {
      await serverDouble.stop();
    }
    report('ESDB double: request → started (median), vs embedded', ms(onDouble.startedMedianMs),
      `embedded ${ms(onEmbedded.startedMedianMs)} (${ratio(onDouble.startedMedianMs, onEmbedded.startedMedianMs)})`);
    report('ESDB double: request → finished (median), vs embedded', ms(onDouble.finishedMedianMs),
      `embedded ${ms(onEmbedded.finishedMedianMs)} (${ratio(onDouble.finishedMedianMs, onEmbedded.finishedMedianMs)})`);
    await largeOutputsOnDouble();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureStore(store: EventStore): Promise<StoreBenchResult> {
  try {
    return await benchStore(store, { events: EVENTS });
  } finally {
    await store.close();
  }
}

/**
 * The large outputs of the run figures and the 100 MB run watched live, on a server on
 * the double (reported beside the embedded ones; no target).
 */
async function largeOutputsOnDouble(): Promise<void> {
  const storeDouble = await startEsdbDouble();
  const server = await startServer({ env: { EVENTSTORE_CONNECTION_STRING: storeDouble.connectionString } });
  try {
    await benchLargeOutput(server, 'ESDB double: 100 MB from yes|head', 'bash', YES_100MB, { ratio: null });
    await benchLargeOutput(server, 'ESDB double: 100 MB of log lines (python3)', 'python3', TEXT_LINES_100MB, { ratio: null });
    await benchLargeOutput(server, 'ESDB double: 50 MB of random base64 text', 'python3', RANDOM_BASE64_50MB, { ratio: null });
    await benchLargeRunWatched(server, 'ESDB double: live', false);
  } finally {
    await server.stop();
    server.cleanup();
    await storeDouble.stop();
  }
}

/** A fresh server process (its own temp data dir) measured with the same trivial job. */
async function measureStart(label: string, env: Record<string, string>): Promise<TrivialJobFigures> {
  const server = await startServer({ env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '4', ...env } });
  try {
    return await benchTrivialJob(server, SAMPLES, label);
  } finally {
    await server.stop();
    server.cleanup();
  }
}
