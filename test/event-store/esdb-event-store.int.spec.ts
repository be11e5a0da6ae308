/**
 * The EventStoreDB store against the in-process EventStoreDB double: the shared
 * contract (through BatchAppend, as servers from 21.10 offer it, and through Append, as
 * older servers require), then what only this adapter has: error mapping, system-event
 * exclusion, resubscription across a server restart, ping, and the append size limit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventStoreDBClient, jsonEvent, NO_STREAM, StreamNotFoundError, streamNameFilter, WrongExpectedVersionError } from '@eventstore/db-client';
import { AppendTooLargeError, EsdbEventStore } from '../../src/event-store/esdb-event-store';
import {
  comparePositions,
  EventStoreUnavailableError,
  StreamConflictError,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
  type Subscription,
} from '../../src/event-store/event-store.port';
import { startEsdbDouble, type EsdbDouble, type EsdbDoubleOptions } from '../esdb-double/esdb-double';
import { eventStoreContract } from './event-store.contract';

/** Fast retries, so a restart costs the tests milliseconds. */
const options = { resubscribe: { initialDelayMs: 20, maxDelayMs: 200 }, pingTimeoutMs: 1_000 };
const MIB = 1024 * 1024;

const doubles: EsdbDouble[] = [];
const stores: EventStore[] = [];
after(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all(doubles.map((double) => double.stop()));
});

async function newDouble(doubleOptions: EsdbDoubleOptions = {}): Promise<EsdbDouble> {
  const double = await startEsdbDouble(doubleOptions);
  doubles.push(double);
  return double;
}

function connect(double: EsdbDouble): EsdbEventStore {
  const store = EsdbEventStore.connect(double.connectionString, options);
  stores.push(store);
  return store;
}

/** The contract, on one double per variant (started lazily, when the suite opens its first store). */
function contractOn(name: string, doubleOptions: EsdbDoubleOptions): void {
  let shared: Promise<EsdbDouble> | undefined;
  const double = (): Promise<EsdbDouble> => (shared ??= newDouble(doubleOptions));
  eventStoreContract(name, {
    open: async () => EsdbEventStore.connect((await double()).connectionString, options),
    // A restart of the server keeps its log, as EventStoreDB keeps its database.
    reopen: async (store) => {
      await store.close();
      const running = await double();
      await running.restart();
      return EsdbEventStore.connect(running.connectionString, options);
    },
  });
}

contractOn('eventstoredb (double, BatchAppend)', {});
contractOn('eventstoredb (double, Append only)', { batchAppend: false });

function event(type: string, data: object = {}): NewEvent {
  return { id: randomUUID(), type, data, metadata: { actor: 'test', at: '2024-01-01T00:00:00.000Z', correlationId: randomUUID(), causationId: null, source: 'test' } };
}

/** The next `count` events of a subscription, failing after `ms`. */
async function take(iterator: AsyncIterator<RecordedEvent>, count: number, ms = 5_000): Promise<RecordedEvent[]> {
  const received: RecordedEvent[] = [];
  const deadline = sleep(ms).then(() => 'timeout' as const);
  while (received.length < count) {
    const next = await Promise.race([iterator.next(), deadline]);
    if (next === 'timeout') assert.fail(`timed out with ${received.length} of ${count} events`);
    if (next.done) assert.fail(`the subscription ended after ${received.length} of ${count} events`);
    received.push(next.value);
  }
  return received;
}

/** Asserts the subscription delivers nothing more within `ms`, then closes it. */
async function expectQuiet(subscription: Subscription, iterator: AsyncIterator<RecordedEvent>, ms = 200): Promise<void> {
  const outcome = await Promise.race([iterator.next(), sleep(ms).then(() => 'quiet' as const)]);
  await subscription.close();
  if (outcome !== 'quiet' && !outcome.done) assert.fail(`unexpected event ${outcome.value.stream} ${outcome.value.type}`);
}

async function expectConflict(append: Promise<unknown>, stream: string, expected: ExpectedRevision, actual: bigint | null): Promise<void> {
  await assert.rejects(append, (error: unknown) => {
    assert.ok(error instanceof StreamConflictError, `a StreamConflictError, got ${String(error)}`);
    assert.equal(error.stream, stream);
    assert.equal(error.expected, expected);
    assert.equal(error.actual, actual);
    return true;
  });
}

/** Data whose event is exactly `size` bytes as the server counts it (data + metadata + 2 × type). */
function eventOfSize(type: string, size: number): NewEvent {
  const base = event(type, { bytes: '' });
  const overhead = JSON.stringify(base.data).length + JSON.stringify(base.metadata).length + type.length * 2;
  return { ...base, data: { bytes: 'x'.repeat(size - overhead) } };
}

for (const batchAppend of [true, false]) {
  const via = batchAppend ? 'BatchAppend' : 'Append';

  describe(`EsdbEventStore appends through ${via}`, () => {
    it('maps WrongExpectedVersion to StreamConflictError with the actual revision', async () => {
      const store = connect(await newDouble({ batchAppend }));
      const stream = `job-${randomUUID()}`;
      await store.append(stream, [event('A'), event('B')], 'no_stream');
      await expectConflict(store.append(stream, [event('C')], 'no_stream'), stream, 'no_stream', 1n);
      await expectConflict(store.append(stream, [event('C')], 0n), stream, 0n, 1n);
      await expectConflict(store.append(stream, [event('C')], 5n), stream, 5n, 1n);
      const missing = `job-${randomUUID()}`;
      await expectConflict(store.append(missing, [event('C')], 'exists'), missing, 'exists', null);
      await expectConflict(store.append(missing, [event('C')], 0n), missing, 0n, null);
      assert.equal((await store.readStream(stream)).length, 2);
    });

    it('retrying an append with the same event ids writes them once (EventStoreDB idempotence)', async () => {
      const store = connect(await newDouble({ batchAppend }));
      const stream = `job-${randomUUID()}`;
      const events = [event('A'), event('B')];
      const first = await store.append(stream, events, 'no_stream');
      const retry = await store.append(stream, events, 'no_stream');
      assert.deepEqual(retry, first);
      assert.deepEqual((await store.readStream(stream)).map((e) => e.id), events.map((e) => e.id));
    });

    it('stores an event just under the 1 MiB append limit', { timeout: 20_000 }, async () => {
      const store = connect(await newDouble({ batchAppend }));
      const stream = `run-${randomUUID()}`;
      const big = eventOfSize('RunOutputAppended', MIB - 1);
      await store.append(stream, [big], 'no_stream');
      const [read] = await store.readStream(stream);
      assert.deepEqual(read.data, big.data);
      const [viaAll] = await store.readAll({ filter: { streamPrefixes: [stream] } });
      assert.deepEqual(viaAll.data, big.data);
    });

    it('rejects an append over the limit with AppendTooLargeError and writes nothing', { timeout: 20_000 }, async () => {
      const store = connect(await newDouble({ batchAppend }));
      const stream = `run-${randomUUID()}`;
      const tooBig = eventOfSize('RunOutputAppended', MIB + 1);
      await assert.rejects(store.append(stream, [tooBig], 'any'), (error: unknown) => {
        assert.ok(error instanceof AppendTooLargeError, `an AppendTooLargeError, got ${String(error)}`);
        assert.equal(error.code, 'APPEND_TOO_LARGE');
        assert.equal(error.size, MIB + 1);
        assert.equal(error.maxAppendSize, MIB);
        assert.match(error.message, /maximum append size of 1048576 bytes/);
        return true;
      });
      // The limit is per append: two events that each fit but not together fail as well.
      const halves = [eventOfSize('Half', MIB / 2 + 10), eventOfSize('Half', MIB / 2 + 10)];
      await assert.rejects(store.append(stream, halves, 'any'), AppendTooLargeError);
      assert.deepEqual(await store.readStream(stream), []);
      await store.append(stream, [event('Small')], 'no_stream');
    });
  });
}

describe('EsdbEventStore system events', () => {
  it('never returns events of $-streams from readAll, headPosition or subscriptions', { timeout: 20_000 }, async () => {
    const double = await newDouble();
    const store = connect(double);
    // A fresh server already holds system events: the port sees an empty log.
    assert.ok(double.log.length > 0);
    assert.deepEqual(await store.readAll(), []);
    assert.equal(await store.headPosition(), null);

    const subscription = store.subscribeAll();
    const iterator = subscription[Symbol.asyncIterator]();
    const first = event('Result', { n: 1 });
    await store.append('job-1', [first], 'no_stream');
    // System events as a server writes them, one with a type a user event also has.
    double.log.appendSystemEvent('$stats-127.0.0.1:2113', '$statsCollected', { 'proc-cpu': 1.5 });
    double.log.appendSystemEvent('$projections-counter-result', 'Result', { count: 1 });
    double.log.appendSystemEvent('$et-Result', '$>', '0@job-1');
    const second = event('Other', { n: 2 });
    await store.append('job-2', [second], 'no_stream');
    double.log.appendSystemEvent('$$job-2', '$metadata', { $maxCount: 10 });

    // The raw client shows the system events are there.
    const raw = EventStoreDBClient.connectionString(double.connectionString);
    const rawStreams: string[] = [];
    for await (const resolved of raw.readAll()) rawStreams.push(resolved.event?.streamId ?? '');
    await raw.dispose();
    assert.ok(rawStreams.includes('$projections-counter-result') && rawStreams.includes('$$job-2'));

    assert.deepEqual((await store.readAll()).map((e) => e.id), [first.id, second.id]);
    assert.deepEqual((await store.readAll({ direction: 'backwards' })).map((e) => e.id), [second.id, first.id]);
    assert.deepEqual((await store.readAll({ filter: { eventTypes: ['Result'] } })).map((e) => e.id), [first.id]);
    assert.deepEqual((await store.readAll({ maxCount: 1, after: (await store.readStream('job-1'))[0].position })).map((e) => e.id), [second.id]);
    assert.deepEqual(await store.headPosition(), (await store.readStream('job-2'))[0].position);
    assert.deepEqual((await take(iterator, 2)).map((e) => e.id), [first.id, second.id]);

    const typed = store.subscribeAll({ filter: { eventTypes: ['Result'] } });
    const typedIterator = typed[Symbol.asyncIterator]();
    assert.deepEqual((await take(typedIterator, 1)).map((e) => e.id), [first.id]);
    double.log.appendSystemEvent('$projections-counter-result', 'Result', { count: 2 });
    const third = event('Result', { n: 3 });
    await store.append('job-3', [third], 'no_stream');
    assert.deepEqual((await take(typedIterator, 1)).map((e) => e.id), [third.id]);
    assert.deepEqual((await take(iterator, 1)).map((e) => e.id), [third.id]);
    await expectQuiet(typed, typedIterator);
    await expectQuiet(subscription, iterator);
  });

  it('reads on past events the server passes but the local filter drops, to fill maxCount', async () => {
    const store = connect(await newDouble());
    // The server filters on the type; the stream prefix is checked here.
    for (let i = 0; i < 40; i += 1) await store.append(`other-${i}`, [event('Wanted', { i })], 'no_stream');
    const mine = [event('Wanted', { mine: 1 }), event('Wanted', { mine: 2 }), event('Wanted', { mine: 3 })];
    await store.append('mine-1', mine, 'no_stream');
    const filter = { streamPrefixes: ['mine-'], eventTypes: ['Wanted'] };
    assert.deepEqual((await store.readAll({ filter, maxCount: 2 })).map((e) => e.id), [mine[0].id, mine[1].id]);
    assert.deepEqual((await store.readAll({ filter, maxCount: 2, direction: 'backwards' })).map((e) => e.id), [mine[2].id, mine[1].id]);
  });
});

describe('the EventStoreDB double, seen through the raw client', () => {
  it('confirms a filtered subscription, sends checkpoints while catching up and at the end, then caught-up', { timeout: 20_000 }, async () => {
    const double = await newDouble();
    const store = connect(double);
    for (let i = 0; i < 100; i += 1) await store.append(`noise-${i}`, [event('Noise')], 'no_stream');
    const wanted = await store.append('wanted-1', [event('Wanted')], 'no_stream');
    const client = EventStoreDBClient.connectionString(double.connectionString);
    try {
      const checkpoints: bigint[] = [];
      const seen: string[] = [];
      const subscription = client.subscribeToAll({
        filter: streamNameFilter({ prefixes: ['wanted-'], checkpointReached: (_subscription, position) => { checkpoints.push(position.commit); } }),
      });
      let confirmed = false;
      subscription.on('confirmation', () => { confirmed = true; });
      const caughtUp = once(subscription, 'caughtUp');
      subscription.on('data', (resolved: { event?: { streamId: string } }) => seen.push(resolved.event?.streamId ?? ''));
      await Promise.race([caughtUp, sleep(5_000).then(() => assert.fail('no caught-up'))]);
      await subscription.unsubscribe();
      assert.ok(confirmed);
      assert.deepEqual(seen, ['wanted-1']);
      // ~110 events examined with a window of 32: three interval checkpoints and one at the end.
      assert.ok(checkpoints.length >= 4, `checkpoints: ${checkpoints.join(', ')}`);
      assert.deepEqual(checkpoints, [...checkpoints].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      assert.ok(checkpoints[checkpoints.length - 1] >= wanted.position.commit);
    } finally {
      await client.dispose();
    }
  });

  it('soft-deletes as the server does: not found, $tb in the metadata, $all unchanged, revisions continue', async () => {
    const double = await newDouble();
    const client = EventStoreDBClient.connectionString(double.connectionString);
    try {
      const json = (n: number) => jsonEvent({ type: 'Out', data: { n } });
      await assert.rejects(client.deleteStream('output-none'), WrongExpectedVersionError);
      const written = await client.appendToStream('output-x', [json(0), json(1)]);
      const deleted = await client.deleteStream('output-x');
      assert.ok(deleted.position && deleted.position.commit > (written.position?.commit ?? 0n));
      await assert.rejects(async () => { for await (const _ of client.readStream('output-x')) { /* nothing */ } }, StreamNotFoundError);
      const metadata = await client.getStreamMetadata('output-x');
      // long.MaxValue (`EventNumber.DeletedStream`), which the client parses as a JS number.
      assert.equal(Number(metadata.metadata?.truncateBefore), Number(9223372036854775807n));
      const all: string[] = [];
      for await (const resolved of client.readAll({ maxCount: 1000 })) if (resolved.event?.streamId === 'output-x') all.push(resolved.event.type);
      assert.deepEqual(all, ['Out', 'Out'], 'until a scavenge, $all still holds the events');
      // Recreated by an append expecting no stream: revisions go on from where they were.
      const again = await client.appendToStream('output-x', [json(2)], { expectedRevision: NO_STREAM });
      assert.equal(again.nextExpectedRevision, 2n);
      const read: bigint[] = [];
      for await (const resolved of client.readStream('output-x')) read.push(resolved.event?.revision ?? -1n);
      assert.deepEqual(read, [2n]);
    } finally {
      await client.dispose();
    }
  });
});

describe('EsdbEventStore positions', () => {
  it('are the server\'s commit and prepare positions: byte offsets, not counters', async () => {
    const double = await newDouble();
    const store = connect(double);
    const result = await store.append('job-1', [event('A'), event('B')], 'no_stream');
    const read = await store.readStream('job-1');
    const stored = double.log.stream('job-1');
    assert.deepEqual(read.map((e) => e.position), stored.map((r) => ({ commit: r.position, prepare: r.position })));
    assert.deepEqual(result.position, read[1].position);
    assert.ok(read[1].position.commit - read[0].position.commit > 1n, 'positions advance by record size');
    assert.ok(comparePositions(read[0].position, read[1].position) < 0);
  });
});

describe('EsdbEventStore across a server restart', () => {
  for (const filter of [undefined, { eventTypes: ['Counted'] }]) {
    it(`a subscription resumes after the last delivered event, losing and repeating nothing (${filter ? 'type filter' : 'no filter'})`, { timeout: 30_000 }, async () => {
      const double = await newDouble();
      const store = connect(double);
      const appended: string[] = [];
      const appendBatch = async (count: number): Promise<void> => {
        for (let i = 0; i < count; i += 1) {
          const e = event('Counted', { i: appended.length });
          appended.push(e.id);
          await store.append(`count-${appended.length % 3}`, [e], 'any');
          if (i % 10 === 0) await store.append('noise-1', [event('Noise')], 'any');
        }
      };
      await appendBatch(120);
      const subscription = store.subscribeAll({ filter });
      const iterator = subscription[Symbol.asyncIterator]();
      const received = await take(iterator, 40);

      // The server dies while the subscription has events sent but not yet handed over.
      await double.stop();
      const waiting = iterator.next();
      await sleep(150);
      await double.start();
      const next = await Promise.race([waiting, sleep(5_000).then(() => 'timeout' as const)]);
      assert.ok(next !== 'timeout' && !next.done, 'the subscription goes on after the restart');
      received.push(next.value);

      await appendBatch(60);
      await double.restart(); // and once more while live
      await appendBatch(20);
      // Unfiltered, the subscription also sees the noise events.
      const expected = filter ? appended : (await store.readAll()).map((e) => e.id);
      received.push(...(await take(iterator, expected.length - received.length, 10_000)));
      assert.deepEqual(received.map((e) => e.id), expected);
      for (let i = 1; i < received.length; i += 1) assert.ok(comparePositions(received[i - 1].position, received[i].position) < 0);
      await expectQuiet(subscription, iterator);
    });
  }

  it('ping fails with EventStoreUnavailableError while the server is down and answers after it restarts', { timeout: 20_000 }, async () => {
    const double = await newDouble();
    const store = connect(double);
    await store.ping();
    await double.stop();
    await assert.rejects(store.ping(), EventStoreUnavailableError);
    await assert.rejects(store.append('job-1', [event('A')], 'any'), EventStoreUnavailableError);
    await double.start();
    await store.ping();
    await store.append('job-1', [event('A')], 'no_stream');
  });

  it('ping fails when nothing listens at the address', { timeout: 10_000 }, async () => {
    const double = await newDouble();
    await double.stop();
    const store = connect(double);
    await assert.rejects(store.ping(), (error: unknown) => {
      assert.ok(error instanceof EventStoreUnavailableError);
      assert.match(error.message, /not reachable/);
      return true;
    });
  });
});

describe('EsdbEventStore lifecycle', () => {
  it('refuses work after close', async () => {
    const store = connect(await newDouble());
    await store.close();
    await assert.rejects(store.readAll(), EventStoreUnavailableError);
    assert.throws(() => store.subscribeAll(), EventStoreUnavailableError);
  });

  it('the double runs as a process that logs its connection string', { timeout: 20_000 }, async () => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'esdb-double', 'main.js'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let output = '';
      child.stdout.setEncoding('utf8');
      const connectionString = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          output += chunk;
          const match = /EVENTSTORE_CONNECTION_STRING=(\S+)/.exec(output);
          if (match) resolve(match[1]);
        });
        child.once('exit', (code) => reject(new Error(`the double exited with ${code}: ${output}`)));
      });
      const store = EsdbEventStore.connect(connectionString, options);
      await store.ping();
      await store.close();
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
    }
  });
});
