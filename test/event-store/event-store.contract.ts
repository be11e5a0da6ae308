/**
 * The event store contract: the one suite every adapter of the port must pass.
 *
 * It is written to run against a SHARED store that already holds events and may be
 * written to by others at the same time (a real EventStoreDB server): every test works
 * on streams named after its own random prefix, and every read of `$all` or
 * subscription starts at the head position taken when the test began and filters on
 * that prefix. Nothing assumes positions are dense or that `commit === prepare`.
 *
 * Usage, from an adapter's `*.int.spec.ts`:
 *
 *     eventStoreContract('sqlite', { open: async () => …, reopen: async (store) => … });
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import {
  comparePositions,
  formatPosition,
  parsePosition,
  StreamConflictError,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type RecordedEvent,
  type Subscription,
} from '../../src/event-store/event-store.port';

/** How the suite gets stores. It closes every store it is given. */
export interface EventStoreHarness {
  /** A store to test; several calls may return stores over the same shared log. */
  open(): Promise<EventStore>;
  /** Closes `store` and opens the same data again, as a restart would (durable adapters only). */
  reopen?(store: EventStore): Promise<EventStore>;
}

/** Registers the contract's `describe`/`it` blocks for one adapter. */
export function eventStoreContract(name: string, harness: EventStoreHarness): void {
  describe(`event store contract: ${name}`, () => {
    let store: EventStore;
    before(async () => {
      store = await harness.open();
    });
    after(async () => {
      await store.close();
    });

    describe('append and expected revision', () => {
      it('no_stream creates the stream; revisions count from 0; the result names the last event', async () => {
        const stream = streamName();
        const events = [event('Created', { n: 1 }), event('Renamed', { n: 2 }), event('Renamed', { n: 3 })];
        const result = await store.append(stream, events, 'no_stream');
        assert.equal(result.nextRevision, 2n);
        const read = await store.readStream(stream);
        assertRecorded(read, stream, events, 0n);
        assert.deepEqual(result.position, read[2].position);
      });

      it('no_stream on an existing stream conflicts with the actual revision and appends nothing', async () => {
        const stream = await seededStream(store, 2);
        await expectConflict(store.append(stream, [event('X', {}), event('Y', {})], 'no_stream'), stream, 'no_stream', 1n);
        assert.equal((await store.readStream(stream)).length, 2);
      });

      it('exists conflicts on a missing stream (actual null) and appends to an existing one', async () => {
        const missing = streamName();
        await expectConflict(store.append(missing, [event('X', {})], 'exists'), missing, 'exists', null);
        assert.deepEqual(await store.readStream(missing), []);

        const stream = await seededStream(store, 1);
        const result = await store.append(stream, [event('X', {}), event('Y', {})], 'exists');
        assert.equal(result.nextRevision, 2n);
      });

      it('any appends to a missing stream and to an existing one', async () => {
        const stream = streamName();
        assert.equal((await store.append(stream, [event('X', {})], 'any')).nextRevision, 0n);
        assert.equal((await store.append(stream, [event('X', {}), event('X', {})], 'any')).nextRevision, 2n);
        assert.deepEqual((await store.readStream(stream)).map((e) => e.revision), [0n, 1n, 2n]);
      });

      it('a bigint must equal the last revision exactly', async () => {
        const stream = await seededStream(store, 2);
        await expectConflict(store.append(stream, [event('X', {})], 0n), stream, 0n, 1n);
        await expectConflict(store.append(stream, [event('X', {})], 2n), stream, 2n, 1n);
        const missing = streamName();
        await expectConflict(store.append(missing, [event('X', {})], 0n), missing, 0n, null);
        assert.deepEqual(await store.readStream(missing), []);

        const result = await store.append(stream, [event('X', {}), event('Y', {})], 1n);
        assert.equal(result.nextRevision, 3n);
        assert.equal((await store.append(stream, [event('Z', {})], 3n)).nextRevision, 4n);
        assert.equal((await store.readStream(stream)).length, 5);
      });

      it('appending no events checks the expectation and reports the current state', async () => {
        const stream = await seededStream(store, 2);
        const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
        assert.deepEqual(await store.append(stream, [], 1n), { nextRevision: 1n, position: last.position });
        assert.deepEqual(await store.append(stream, [], 'exists'), { nextRevision: 1n, position: last.position });
        await expectConflict(store.append(stream, [], 0n), stream, 0n, 1n);
        await expectConflict(store.append(stream, [], 'no_stream'), stream, 'no_stream', 1n);

        const missing = streamName();
        await expectConflict(store.append(missing, [], 'exists'), missing, 'exists', null);
        const nothing = await store.append(missing, [], 'no_stream');
        assert.equal(nothing.nextRevision, -1n);
        const head = await store.headPosition();
        assert.ok(head === null || comparePositions(nothing.position, head) <= 0, 'an empty append reports no position past the head');
        assert.deepEqual(await store.readStream(missing), []);
        assert.equal((await store.readStream(stream)).length, 2);
      });

      it('rejects data that is not JSON-serialisable and stores nothing', async () => {
        const stream = streamName();
        const cyclic: Record<string, unknown> = { a: 1 };
        cyclic.self = cyclic;
        for (const data of [{ big: 10n }, cyclic]) {
          await assert.rejects(store.append(stream, [event('Ok', { fine: true }), event('Bad', data)], 'any'), (error: unknown) => {
            assert.ok(error instanceof Error, 'rejects with an Error');
            assert.ok(!(error instanceof StreamConflictError), 'not a conflict');
            return true;
          });
        }
        assert.deepEqual(await store.readStream(stream), []);
      });

      it('concurrent appends expecting the same revision: exactly one wins', async () => {
        const stream = await seededStream(store, 1);
        const contenders = Array.from({ length: 8 }, (_, i) => event('Claimed', { by: i }));
        const settled = await Promise.allSettled(contenders.map((e) => store.append(stream, [e], 0n)));
        const won = settled.flatMap((s, i) => (s.status === 'fulfilled' ? [{ i, result: s.value }] : []));
        assert.equal(won.length, 1, 'exactly one append wins');
        assert.equal(won[0].result.nextRevision, 1n);
        for (const s of settled) {
          if (s.status === 'fulfilled') continue;
          assertConflict(s.reason, stream, 0n, 1n);
        }
        const read = await store.readStream(stream);
        assert.deepEqual(read.map((e) => e.id), [read[0].id, contenders[won[0].i].id]);
      });

      it('concurrent no_stream appends to a new stream: exactly one creates it', async () => {
        const stream = streamName();
        const settled = await Promise.allSettled([1, 2, 3, 4].map((n) => store.append(stream, [event('Created', { n })], 'no_stream')));
        assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 1);
        for (const s of settled) if (s.status === 'rejected') assertConflict(s.reason, stream, 'no_stream', 0n);
        assert.equal((await store.readStream(stream)).length, 1);
      });
    });

    describe('readStream', () => {
      it('reads forwards from the start by default, and from an inclusive revision with maxCount', async () => {
        const stream = await seededStream(store, 5);
        assert.deepEqual(revisionsOf(await store.readStream(stream)), [0n, 1n, 2n, 3n, 4n]);
        assert.deepEqual(revisionsOf(await store.readStream(stream, { direction: 'forwards' })), [0n, 1n, 2n, 3n, 4n]);
        assert.deepEqual(revisionsOf(await store.readStream(stream, { fromRevision: 1n, maxCount: 2 })), [1n, 2n]);
        assert.deepEqual(revisionsOf(await store.readStream(stream, { fromRevision: 3n })), [3n, 4n]);
        assert.deepEqual(revisionsOf(await store.readStream(stream, { maxCount: 1 })), [0n]);
        assert.deepEqual(await store.readStream(stream, { fromRevision: 5n }), []);
      });

      it('reads backwards from the end by default, and from an inclusive revision with maxCount', async () => {
        const stream = await seededStream(store, 5);
        assert.deepEqual(revisionsOf(await store.readStream(stream, { direction: 'backwards' })), [4n, 3n, 2n, 1n, 0n]);
        assert.deepEqual(revisionsOf(await store.readStream(stream, { direction: 'backwards', fromRevision: 3n, maxCount: 2 })), [3n, 2n]);
        assert.deepEqual(revisionsOf(await store.readStream(stream, { direction: 'backwards', fromRevision: 0n })), [0n]);
        assert.deepEqual(revisionsOf(await store.readStream(stream, { direction: 'backwards', maxCount: 2 })), [4n, 3n]);
      });

      it('a missing stream reads as no events in both directions', async () => {
        const stream = streamName();
        assert.deepEqual(await store.readStream(stream), []);
        assert.deepEqual(await store.readStream(stream, { direction: 'backwards' }), []);
        assert.deepEqual(await store.readStream(stream, { fromRevision: 3n, maxCount: 10 }), []);
      });
    });

    describe('deleteStream', () => {
      it('a deleted stream reads as no events; other streams, even with a longer name, keep theirs', async () => {
        const prefix = uniquePrefix();
        const start = (await store.headPosition()) ?? undefined;
        const doomed = [event('Out', { n: 1 }), event('Out', { n: 2 })];
        await store.append(`${prefix}-1`, doomed, 'no_stream');
        const kept = [event('Fact', { n: 1 })];
        await store.append(`${prefix}-10`, kept, 'no_stream');
        await store.append(`${prefix}-1`, [event('Out', { n: 3 })], 1n);

        await store.deleteStream(`${prefix}-1`);

        assert.deepEqual(await store.readStream(`${prefix}-1`), []);
        assert.deepEqual(await store.readStream(`${prefix}-1`, { direction: 'backwards' }), []);
        assert.deepEqual(await store.readStream(`${prefix}-1`, { fromRevision: 1n, maxCount: 5 }), []);
        assertRecorded(await store.readStream(`${prefix}-10`), `${prefix}-10`, kept, 0n);
        const all = await store.readAll({ after: start, filter: { streamPrefixes: [`${prefix}-`] } });
        if (store.kind === 'eventstoredb') {
          // A soft delete: the events stay in $all until the server's next scavenge.
          assert.deepEqual(all.map((e) => e.stream), [`${prefix}-1`, `${prefix}-1`, `${prefix}-10`, `${prefix}-1`]);
        } else {
          assert.deepEqual(all.map((e) => e.id), [kept[0].id]);
        }
      });

      it('deleting a stream that does not exist, or twice, is no error', async () => {
        const stream = streamName();
        await store.deleteStream(stream);
        await store.append(stream, [event('Out', {})], 'no_stream');
        await store.deleteStream(stream);
        await store.deleteStream(stream);
        assert.deepEqual(await store.readStream(stream), []);
      });

      it('the log goes on after a delete: later appends get later positions, subscriptions see them', async () => {
        const prefix = uniquePrefix();
        const first = await store.append(`${prefix}-out`, [event('Out', {})], 'no_stream');
        await store.deleteStream(`${prefix}-out`);
        const later = event('Fact', {});
        const next = await store.append(`${prefix}-run`, [later], 'no_stream');
        assert.ok(comparePositions(next.position, first.position) > 0);
        const subscription = store.subscribeAll({ after: first.position, filter: { streamPrefixes: [`${prefix}-run`] } });
        try {
          const iterator = subscription[Symbol.asyncIterator]();
          const seen = await within(iterator.next(), 5000, 'the event after the delete');
          assert.equal((seen.value as RecordedEvent).id, later.id);
        } finally {
          await subscription.close();
        }
      });
    });

    describe('readAll', () => {
      /** Appends, one at a time so their order is known: a1 (A), b1 (B), a2 (B), c1 (A), a3 (C), b2 (A). */
      async function seedAll(): Promise<{ prefix: string; start: Position | undefined; ids: Record<string, string>; positions: Record<string, Position> }> {
        const prefix = uniquePrefix();
        const start = (await store.headPosition()) ?? undefined;
        const plan: Array<[label: string, stream: string, type: string]> = [
          ['a1', 'alpha', 'A'], ['b1', 'beta', 'B'], ['a2', 'alpha', 'B'], ['c1', 'gamma', 'A'], ['a3', 'alpha', 'C'], ['b2', 'beta', 'A'],
        ];
        const ids: Record<string, string> = {};
        const positions: Record<string, Position> = {};
        for (const [label, stream, type] of plan) {
          const e = event(type, { label });
          const result = await store.append(`${prefix}-${stream}`, [e], 'any');
          ids[label] = e.id;
          positions[label] = result.position;
        }
        return { prefix, start, ids, positions };
      }
      const labels = (events: RecordedEvent[]): unknown[] => events.map((e) => (e.data as { label: string }).label);

      it('reads forwards after an exclusive position, in order, within maxCount', async () => {
        const { prefix, start, ids, positions } = await seedAll();
        const filter = { streamPrefixes: [`${prefix}-`] };
        const all = await store.readAll({ after: start, filter });
        assert.deepEqual(labels(all), ['a1', 'b1', 'a2', 'c1', 'a3', 'b2']);
        assert.equal(all[0].id, ids.a1);
        assert.deepEqual(all[5].position, positions.b2);
        assert.deepEqual(labels(await store.readAll({ after: positions.a2, filter })), ['c1', 'a3', 'b2']);
        assert.deepEqual(labels(await store.readAll({ after: positions.a2, filter, direction: 'forwards', maxCount: 2 })), ['c1', 'a3']);
        assert.deepEqual(await store.readAll({ after: positions.b2, filter }), []);

        // Without a filter the same events come back, interleaved with any others.
        const unfiltered = (await store.readAll({ after: start })).filter((e) => e.stream.startsWith(`${prefix}-`));
        assert.deepEqual(labels(unfiltered), ['a1', 'b1', 'a2', 'c1', 'a3', 'b2']);
      });

      it('reads backwards from the end, or before an exclusive position, newest first', async () => {
        const { prefix, positions } = await seedAll();
        const filter = { streamPrefixes: [`${prefix}-`] };
        assert.deepEqual(labels(await store.readAll({ direction: 'backwards', filter, maxCount: 3 })), ['b2', 'a3', 'c1']);
        assert.deepEqual(labels(await store.readAll({ direction: 'backwards', after: positions.c1, filter })), ['a2', 'b1', 'a1']);
        assert.deepEqual(labels(await store.readAll({ direction: 'backwards', after: positions.c1, filter, maxCount: 1 })), ['a2']);
        assert.deepEqual(await store.readAll({ direction: 'backwards', after: positions.a1, filter }), []);
      });

      it('filters by stream prefixes (any of) and event types (any of), both together (and)', async () => {
        const { prefix, start } = await seedAll();
        const read = async (streamPrefixes: string[] | undefined, eventTypes?: string[]): Promise<unknown[]> =>
          labels(await store.readAll({ after: start, filter: { streamPrefixes: streamPrefixes ?? [`${prefix}-`], eventTypes } }));
        assert.deepEqual(await read([`${prefix}-alpha`]), ['a1', 'a2', 'a3']);
        assert.deepEqual(await read([`${prefix}-alpha`, `${prefix}-gamma`]), ['a1', 'a2', 'c1', 'a3']);
        assert.deepEqual(await read(undefined, ['A']), ['a1', 'c1', 'b2']);
        assert.deepEqual(await read(undefined, ['B', 'C']), ['b1', 'a2', 'a3']);
        assert.deepEqual(await read([`${prefix}-beta`], ['A']), ['b2']);
        assert.deepEqual(await read([`${prefix}-gamma`], ['B']), []);
        assert.deepEqual(await read([`${prefix}-ALPHA`]), [], 'prefixes are case-sensitive');
        // A type filter alone (no prefix) still sees this test's events among all others.
        const typed = (await store.readAll({ after: start, filter: { eventTypes: ['C'] } })).filter((e) => e.stream.startsWith(`${prefix}-`));
        assert.deepEqual(labels(typed), ['a3']);
      });
    });

    describe('round trip', () => {
      it('keeps metadata, unicode and JSON shapes exactly', async () => {
        const stream = `${uniquePrefix()}-unicodé-日本-🚀`;
        const data = {
          text: 'héllo wörld · 日本語 · עברית · 🚀👩‍💻 · e\u0301 · tab\tnewline\n · nul\u0000 · quote" backslash\\',
          loneSurrogate: '\ud800x',
          numbers: [0, 1, -1, 3.5, 0.1 + 0.2, 1e21, Number.MAX_SAFE_INTEGER, -2.5e-7],
          nested: { empty: {}, list: [], deep: { a: [null, true, false, { 'ключ': 'значение' }] } },
          zLast: 'keys keep their order',
          aFirst: 1,
        };
        const metadata: EventMetadata = {
          actor: 'Zoë 🙂',
          at: '2024-02-29T23:59:59.999Z',
          correlationId: randomUUID(),
          causationId: randomUUID(),
          source: 'web',
          schemaVersion: 3,
          runner: { id: 'local', tags: ['α', 'β'] },
        };
        const e: NewEvent = { id: randomUUID(), type: 'UnicodeChecked', data, metadata };
        await store.append(stream, [e], 'no_stream');
        const [read] = await store.readStream(stream);
        assert.equal(read.stream, stream);
        assert.deepEqual(read.data, data);
        assert.deepEqual(read.metadata, metadata);
        assert.equal(JSON.stringify(read.data), JSON.stringify(data));
        assert.equal(JSON.stringify(read.metadata), JSON.stringify(metadata));
      });

      it('stores and reads a ~700 KB event', async () => {
        const stream = streamName();
        const chunk = randomBytes(525_000).toString('base64');
        assert.equal(chunk.length, 700_000);
        const big = event('RunOutputAppended', { offset: 0, bytes: chunk });
        const start = (await store.headPosition()) ?? undefined;
        await store.append(stream, [event('Before', {}), big, event('After', {})], 'no_stream');
        const read = await store.readStream(stream);
        assert.deepEqual(read.map((e) => e.type), ['Before', 'RunOutputAppended', 'After']);
        assert.equal((read[1].data as { bytes: string }).bytes, chunk);
        const viaAll = await store.readAll({ after: start, filter: { streamPrefixes: [stream] } });
        assert.equal((viaAll[1].data as { bytes: string }).bytes, chunk);
      });
    });

    describe('positions', () => {
      it('strictly increase in append order and match what append reported', async () => {
        const prefix = uniquePrefix();
        const start = (await store.headPosition()) ?? undefined;
        const reported: Position[] = [];
        for (let i = 0; i < 4; i += 1) {
          const result = await store.append(`${prefix}-${i % 2}`, [event('P', { i, part: 0 }), event('P', { i, part: 1 })], 'any');
          reported.push(result.position);
        }
        const read = await store.readAll({ after: start, filter: { streamPrefixes: [`${prefix}-`] } });
        assert.equal(read.length, 8);
        for (let i = 1; i < read.length; i += 1) {
          assert.ok(comparePositions(read[i - 1].position, read[i].position) < 0, `position ${i} is after position ${i - 1}`);
          assert.ok(comparePositions(read[i].position, read[i - 1].position) > 0);
        }
        assert.deepEqual(reported, [read[1].position, read[3].position, read[5].position, read[7].position]);
        for (const e of read) {
          assert.equal(comparePositions(e.position, e.position), 0);
          assert.deepEqual(parsePosition(formatPosition(e.position)), e.position);
          if (start) assert.ok(comparePositions(e.position, start) > 0);
        }
        const head = await store.headPosition();
        assert.ok(head !== null && comparePositions(head, reported[3]) >= 0, 'the head is at or after the last append');
      });

      it('ping answers', async () => {
        await store.ping();
      });
    });

    describe('subscribeAll', () => {
      it('catches up, then goes live while appends run concurrently: in order, no gap, no duplicate', { timeout: 120_000 }, async () => {
        const prefix = uniquePrefix();
        const filter = { streamPrefixes: [`${prefix}-`] };
        const start = (await store.headPosition()) ?? undefined;
        const appended: string[] = [];
        // Stored before subscribing: enough to take several pages to catch up on.
        for (let b = 0; b < 50; b += 1) {
          const batch = Array.from({ length: 50 }, (_, i) => event('Stored', { b, i }));
          await store.append(`${prefix}-stored${b % 5}`, batch, 'any');
          appended.push(...batch.map((e) => e.id));
        }
        const subscription = store.subscribeAll({ after: start, filter });
        // Appended while the subscription catches up and hands over to live.
        const live = 300;
        const writer = (async () => {
          for (let i = 0; i < live; i += 1) {
            const e = event('Live', { i });
            appended.push(e.id);
            await store.append(`${prefix}-live${i % 3}`, [e], 'any');
            if (i % 7 === 0) await nextTurn();
          }
        })();
        const received = await take(subscription, 2500 + live, 90_000);
        await writer;
        await expectNothingMore(subscription, 200);

        const stored = await store.readAll({ after: start, filter });
        assert.equal(received.length, 2500 + live);
        assert.deepEqual(received.map((e) => e.id), stored.map((e) => e.id), 'same events, same order as readAll');
        assert.deepEqual(new Set(received.map((e) => e.id)), new Set(appended));
        assertStrictlyIncreasing(received);
        assert.deepEqual(received, stored, 'subscription events equal the stored events field for field');
      });

      it('starts after an exclusive checkpoint, then delivers new events', { timeout: 30_000 }, async () => {
        const stream = streamName();
        const events = Array.from({ length: 6 }, (_, i) => event('E', { i }));
        for (const e of events) await store.append(stream, [e], 'any');
        const [third] = await store.readStream(stream, { fromRevision: 2n, maxCount: 1 });
        const subscription = store.subscribeAll({ after: third.position, filter: { streamPrefixes: [stream] } });
        const caughtUp = await take(subscription, 3, 10_000);
        assert.deepEqual(caughtUp.map((e) => e.revision), [3n, 4n, 5n]);
        const later = event('E', { i: 6 });
        await store.append(stream, [later], 5n);
        const [live] = await take(subscription, 1, 10_000);
        assert.equal(live.id, later.id);
        assert.equal(live.revision, 6n);
        await subscription.close();
      });

      it('delivers each live event when it is appended the moment the previous one arrives', { timeout: 60_000 }, async () => {
        // Ping-pong: every append lands right when the subscription has just caught up and
        // is about to wait, which is where a lost wake-up at the hand-over would show.
        const stream = streamName();
        const start = (await store.headPosition()) ?? undefined;
        const subscription = store.subscribeAll({ after: start, filter: { streamPrefixes: [stream] } });
        for (let i = 0; i < 40; i += 1) {
          const e = event('Ping', { i });
          const appended = store.append(stream, [e], i === 0 ? 'no_stream' : BigInt(i - 1));
          const [received] = await take(subscription, 1, 5_000);
          await appended;
          assert.equal(received.id, e.id, `ping ${i}`);
          if (i % 4 === 1) await sleep(1);
        }
        await expectNothingMore(subscription, 100);
      });

      it('delivers only the events that pass its filter', { timeout: 30_000 }, async () => {
        const prefix = uniquePrefix();
        const start = (await store.headPosition()) ?? undefined;
        const subscription = store.subscribeAll({ after: start, filter: { streamPrefixes: [`${prefix}-job`, `${prefix}-run`], eventTypes: ['Wanted', 'AlsoWanted'] } });
        const plan: Array<[string, string, boolean]> = [
          ['job-1', 'Wanted', true], ['job-1', 'Unwanted', false], ['script-1', 'Wanted', false], ['run-7', 'AlsoWanted', true],
          ['runner-x', 'Wanted', true], ['JOB-1', 'Wanted', false], ['run-7', 'Wanted', true],
        ];
        const expected: string[] = [];
        for (const [suffix, type, wanted] of plan) {
          const e = event(type, { suffix });
          await store.append(`${prefix}-${suffix}`, [e], 'any');
          if (wanted) expected.push(e.id);
        }
        const received = await take(subscription, expected.length, 10_000);
        assert.deepEqual(received.map((e) => e.id), expected);
        await expectNothingMore(subscription, 200);
      });

      it('close() ends an iteration that is waiting for new events', { timeout: 10_000 }, async () => {
        const subscription = store.subscribeAll({ after: (await store.headPosition()) ?? undefined, filter: { streamPrefixes: [`${uniquePrefix()}-`] } });
        const received: RecordedEvent[] = [];
        const iteration = (async () => {
          for await (const e of subscription) received.push(e);
          return 'ended';
        })();
        await sleep(50);
        await subscription.close();
        assert.equal(await within(iteration, 2000, 'the iteration to end'), 'ended');
        assert.deepEqual(received, []);
        assert.deepEqual(await subscription[Symbol.asyncIterator]().next(), { done: true, value: undefined });
      });

      it('breaking out of for await ends the subscription', { timeout: 10_000 }, async () => {
        const start = (await store.headPosition()) ?? undefined;
        const stream = await seededStream(store, 3);
        const [first] = await store.readStream(stream, { maxCount: 1 });
        const subscription = store.subscribeAll({ after: start, filter: { streamPrefixes: [stream] } });
        for await (const e of subscription) {
          assert.equal(e.id, first.id);
          break;
        }
        assert.deepEqual(await subscription[Symbol.asyncIterator]().next(), { done: true, value: undefined });
      });

      it('closing the store ends its subscriptions cleanly', { timeout: 10_000 }, async () => {
        const own = await harness.open();
        const subscription = own.subscribeAll({ after: (await own.headPosition()) ?? undefined, filter: { streamPrefixes: [`${uniquePrefix()}-`] } });
        const iteration = (async () => {
          let count = 0;
          for await (const _ of subscription) count += 1;
          return count;
        })();
        await sleep(50);
        await own.close();
        assert.equal(await within(iteration, 2000, 'the iteration to end'), 0);
      });
    });

    if (harness.reopen) {
      const reopen = harness.reopen.bind(harness);
      describe('durability', () => {
        it('a reopened store holds every event byte for byte and continues the revisions', { timeout: 30_000 }, async () => {
          let own = await harness.open();
          try {
            const prefix = uniquePrefix();
            const start = (await own.headPosition()) ?? undefined;
            const filter = { streamPrefixes: [`${prefix}-`] };
            await own.append(`${prefix}-a`, [event('A', { text: 'ünïcödé 🚀', n: 1.25 }), event('B', { list: [1, null, 'x'] })], 'no_stream');
            await own.append(`${prefix}-b`, [event('Big', { bytes: randomBytes(300_000).toString('base64') })], 'no_stream');
            await own.append(`${prefix}-a`, [event('C', {})], 1n);
            const before = await own.readAll({ after: start, filter });
            const streamBefore = await own.readStream(`${prefix}-a`);

            own = await reopen(own);
            const afterReopen = await own.readAll({ after: start, filter });
            assert.deepEqual(afterReopen, before);
            assert.deepEqual(afterReopen.map((e) => JSON.stringify([e.data, e.metadata])), before.map((e) => JSON.stringify([e.data, e.metadata])));
            assert.deepEqual(await own.readStream(`${prefix}-a`), streamBefore);

            await expectConflict(own.append(`${prefix}-a`, [event('D', {})], 1n), `${prefix}-a`, 1n, 2n);
            const next = await own.append(`${prefix}-a`, [event('D', {})], 2n);
            assert.equal(next.nextRevision, 3n);
            assert.ok(comparePositions(next.position, before[before.length - 1].position) > 0);
          } finally {
            await own.close();
          }
        });
      });
    }
  });
}

// ---- helpers ---------------------------------------------------------------

/** A prefix no other test or run uses; no `-` inside, so it is also the EventStoreDB category. */
function uniquePrefix(): string {
  return `contract${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

function streamName(): string {
  return `${uniquePrefix()}-1`;
}

function metadata(): EventMetadata {
  return { actor: 'contract', at: '2024-01-02T03:04:05.678Z', correlationId: randomUUID(), causationId: null, source: 'test' };
}

function event(type: string, data: object): NewEvent {
  return { id: randomUUID(), type, data, metadata: metadata() };
}

/** A new stream holding `count` events (revisions 0 … count-1). */
async function seededStream(store: EventStore, count: number): Promise<string> {
  const stream = streamName();
  await store.append(stream, Array.from({ length: count }, (_, i) => event('Seeded', { i })), 'no_stream');
  return stream;
}

function revisionsOf(events: RecordedEvent[]): bigint[] {
  return events.map((e) => e.revision);
}

function assertRecorded(read: RecordedEvent[], stream: string, written: NewEvent[], firstRevision: bigint): void {
  assert.equal(read.length, written.length);
  read.forEach((e, i) => {
    assert.equal(e.id, written[i].id);
    assert.equal(e.stream, stream);
    assert.equal(e.revision, firstRevision + BigInt(i));
    assert.equal(e.type, written[i].type);
    assert.deepEqual(e.data, written[i].data);
    assert.deepEqual(e.metadata, written[i].metadata);
  });
  assertStrictlyIncreasing(read);
}

function assertStrictlyIncreasing(events: RecordedEvent[]): void {
  for (let i = 1; i < events.length; i += 1) {
    assert.ok(comparePositions(events[i - 1].position, events[i].position) < 0, `event ${i} comes after event ${i - 1}`);
  }
}

function assertConflict(error: unknown, stream: string, expected: ExpectedRevision, actual: bigint | null): void {
  assert.ok(error instanceof StreamConflictError, `expected a StreamConflictError, got ${String(error)}`);
  assert.equal(error.code, 'STREAM_CONFLICT');
  assert.equal(error.stream, stream);
  assert.equal(error.expected, expected);
  assert.equal(error.actual, actual);
}

async function expectConflict(append: Promise<unknown>, stream: string, expected: ExpectedRevision, actual: bigint | null): Promise<void> {
  await assert.rejects(append, (error: unknown) => {
    assertConflict(error, stream, expected, actual);
    return true;
  });
}

/** Resolves with the promise's value, or fails the test after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One iterator per subscription, so helpers that read it in turns continue where the last stopped. */
const iterators = new WeakMap<Subscription, AsyncIterator<RecordedEvent>>();
function iteratorOf(subscription: Subscription): AsyncIterator<RecordedEvent> {
  let iterator = iterators.get(subscription);
  if (!iterator) {
    iterator = subscription[Symbol.asyncIterator]();
    iterators.set(subscription, iterator);
  }
  return iterator;
}

/** The next `count` events of a subscription (which stays open), or a failure after `ms`. */
async function take(subscription: Subscription, count: number, ms: number): Promise<RecordedEvent[]> {
  const iterator = iteratorOf(subscription);
  const received: RecordedEvent[] = [];
  const reading = (async () => {
    while (received.length < count) {
      const next = await iterator.next();
      if (next.done) throw new Error(`The subscription ended after ${received.length} of ${count} events`);
      received.push(next.value);
    }
    return received;
  })();
  try {
    return await within(reading, ms, () => `${count} events (got ${received.length})`);
  } catch (error) {
    await subscription.close();
    throw error;
  }
}

/** Fails if the subscription delivers anything within `ms`; closes it either way. */
async function expectNothingMore(subscription: Subscription, ms: number): Promise<void> {
  const next = iteratorOf(subscription).next();
  const outcome = await Promise.race([next, sleep(ms).then(() => 'quiet' as const)]);
  await subscription.close();
  if (outcome !== 'quiet' && !outcome.done) assert.fail(`unexpected extra event ${outcome.value.type} ${outcome.value.id}`);
}
