/**
 * The EventStoreDB store on a node that requires credentials (the double as a secure
 * node: TLS, users): with the right user and password in the connection string the whole
 * store contract holds; without them, or with a wrong password, every read and append is
 * refused as EventStoreDB refuses it (the client's AccessDeniedError, which the store
 * reports as EventStoreAccessDeniedError saying what to fix), and nothing is appended.
 * The probe a job would run (test/support/esdb-probe.ts) is refused the same way.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { AccessDeniedError, EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { EsdbEventStore } from '../../src/event-store/esdb-event-store';
import { EventStoreAccessDeniedError, type EventStore, type NewEvent } from '../../src/event-store/event-store.port';
import { startEsdbDouble, type EsdbDouble, type EsdbDoubleOptions } from '../esdb-double/esdb-double';
import { esdbAppendProbe } from '../support/esdb-probe';
import { eventStoreContract } from './event-store.contract';

const USERS = { admin: 'changeit', ops: 'p@ss:w/rd' };
const options = { resubscribe: { initialDelayMs: 20, maxDelayMs: 200 }, pingTimeoutMs: 1_000 };

const doubles: EsdbDouble[] = [];
after(async () => {
  await Promise.all(doubles.map((double) => double.stop()));
});

async function secureDouble(extra: EsdbDoubleOptions = {}): Promise<EsdbDouble> {
  const double = await startEsdbDouble({ users: USERS, ...extra });
  doubles.push(double);
  return double;
}

// The contract once more, on a secure node, as `admin`: cheap (one double), and it proves
// the credentials reach every call the store makes (reads, appends, subscriptions, ping).
let shared: Promise<EsdbDouble> | undefined;
const sharedDouble = (): Promise<EsdbDouble> => (shared ??= secureDouble());
eventStoreContract('eventstoredb (double requiring credentials, TLS)', {
  open: async () => EsdbEventStore.connect((await sharedDouble()).connectionStringAs('admin', 'changeit'), options),
  reopen: async (store) => {
    await store.close();
    const running = await sharedDouble();
    await running.restart();
    return EsdbEventStore.connect(running.connectionStringAs('admin', 'changeit'), options);
  },
});

function event(): NewEvent {
  return { id: randomUUID(), type: 'Probed', data: { n: 1 }, metadata: { actor: 'test', at: '2024-01-01T00:00:00.000Z', correlationId: randomUUID(), causationId: null, source: 'test' } };
}

for (const batchAppend of [true, false]) {
  describe(`EsdbEventStore on a node requiring credentials (${batchAppend ? 'BatchAppend' : 'Append only'})`, () => {
    let double: EsdbDouble;
    const stores: EventStore[] = [];
    before(async () => {
      double = await secureDouble({ batchAppend });
    });
    after(async () => {
      await Promise.all(stores.map((store) => store.close()));
    });
    const open = (connectionString: string): EventStore => {
      const store = EsdbEventStore.connect(connectionString, options);
      stores.push(store);
      return store;
    };

    /** Refused as the client reports it, with a message saying what to fix. */
    const refused = (why: RegExp) => (error: unknown): boolean => {
      assert.ok(error instanceof EventStoreAccessDeniedError, `got ${String(error)}`);
      assert.ok(error.cause instanceof AccessDeniedError, 'the client\'s access-denied error is the cause');
      assert.match(error.message, why);
      return true;
    };

    it('works with a user and password in the connection string, percent-encoded', async () => {
      const store = open(double.connectionStringAs('ops', USERS.ops));
      const stream = `probe-${randomUUID()}`;
      await store.append(stream, [event()], 'no_stream');
      assert.equal((await store.readStream(stream)).length, 1);
      await store.ping();
    });

    it('refuses an append, a read and a subscription without credentials, and appends nothing', async () => {
      const store = open(double.connectionString);
      const before = double.log.length;
      const stream = `probe-${randomUUID()}`;
      const anonymous = /refused the append to probe-.*: access denied: the connection string names no user/;
      await assert.rejects(store.append(stream, [event()], 'any'), refused(anonymous));
      await assert.rejects(store.readStream('probe-x'), refused(/refused the read of probe-x: access denied/));
      await assert.rejects(store.readAll({ maxCount: 1 }), refused(/refused the read of \$all: access denied/));
      const subscription = store.subscribeAll();
      await assert.rejects(subscription[Symbol.asyncIterator]().next(), refused(/refused the \$all subscription: access denied/));
      await subscription.close();
      await assert.rejects(store.ping());
      assert.equal(double.log.length, before, 'nothing was appended');
      assert.equal(double.log.stream(stream).length, 0);
    });

    it('refuses a wrong password or an unknown user, saying the credentials were not accepted', async () => {
      for (const [user, password] of [['admin', 'wrong'], ['nobody', 'changeit']]) {
        const store = open(double.connectionStringAs(user, password));
        const before = double.log.length;
        await assert.rejects(store.append(`probe-${randomUUID()}`, [event()], 'any'), refused(/the user name or password in the connection string was not accepted/));
        await assert.rejects(store.readAll({ maxCount: 1 }), refused(/not accepted/));
        assert.equal(double.log.length, before);
      }
    });

    it('refuses the client itself as EventStoreDB does: AccessDeniedError without credentials', async () => {
      const client = EventStoreDBClient.connectionString(double.connectionString);
      try {
        await assert.rejects(client.appendToStream(`probe-${randomUUID()}`, jsonEvent({ type: 'Probed', data: {} })), AccessDeniedError);
        await assert.rejects(async () => {
          for await (const _ of client.readAll({ maxCount: 1 })) void _;
        }, AccessDeniedError);
      } finally {
        await client.dispose();
      }
    });
  });
}

describe('The append probe a job would run (test/support/esdb-probe.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'esdb-probe-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints APPEND_REFUSED:AccessDeniedError without credentials and APPEND_OK with them', async () => {
    const double = await secureDouble();
    const probe = join(dir, 'probe.js');
    writeFileSync(probe, esdbAppendProbe());
    const run = async (connectionString: string): Promise<string> =>
      (await promisify(execFile)(process.execPath, [probe, connectionString, 'probe-stream'], { cwd: dir })).stdout.trim();
    assert.equal(await run(double.connectionString), 'APPEND_REFUSED:AccessDeniedError');
    assert.equal(await run(double.connectionStringAs('admin', 'wrong')), 'APPEND_REFUSED:AccessDeniedError');
    assert.equal(double.log.stream('probe-stream').length, 0);
    assert.equal(await run(double.connectionStringAs('admin', 'changeit')), 'APPEND_OK');
    assert.equal(double.log.stream('probe-stream').length, 1);
  });
});

describe('The double as a process with --user', () => {
  it('serves TLS, prints a connection string to fill in the password, and refuses anyone else', { timeout: 20_000 }, async () => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'esdb-double', 'main.js'), '--port', '0', '--user', 'admin:changeit'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let output = '';
      child.stdout.setEncoding('utf8');
      const printed = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          output += chunk;
          const match = /EVENTSTORE_CONNECTION_STRING=(\S+)/.exec(output);
          if (match) resolve(match[1]);
        });
        child.once('exit', (code) => reject(new Error(`the double exited with ${code}: ${output}`)));
      });
      assert.match(printed, /^esdb:\/\/admin:<password>@127\.0\.0\.1:\d+\?tls=true&tlsCAFile=\/.+\/ca\.crt$/);
      assert.ok(!output.includes('changeit'), 'the password is not printed');
      const admin = EsdbEventStore.connect(printed.replace('<password>', 'changeit'), options);
      const anonymous = EsdbEventStore.connect(printed.replace('admin:<password>@', ''), options);
      try {
        await admin.append(`probe-${randomUUID()}`, [event()], 'no_stream');
        await assert.rejects(anonymous.append(`probe-${randomUUID()}`, [event()], 'no_stream'), EventStoreAccessDeniedError);
      } finally {
        await admin.close();
        await anonymous.close();
      }
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
    }
  });
});
