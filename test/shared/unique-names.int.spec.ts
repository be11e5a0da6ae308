/**
 * Name reservations on a real embedded store, through the script template's decider
 * and `decideAndAppend` as the handlers run them, with a clock the test moves. Each
 * `server()` is a separate instance whose read model knows nothing, as a second server
 * that has not caught up yet: only the reservations keep names unique.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { decideScript, evolveScript, initialScriptState, type ScriptCommand, type ScriptState } from '../../src/scripts/script.decider';
import { SCRIPT_EVENT_TYPES, scriptStream, type ScriptEvent } from '../../src/scripts/script.events';
import { Clock } from '../../src/shared/clock';
import { type Decider, decideAndAppend, loadAggregate } from '../../src/shared/decide-and-append';
import { ConflictError, NotFoundError } from '../../src/shared/domain-errors';
import { RandomIdGenerator } from '../../src/shared/ids';
import { nameStream, RESERVATION_GRACE_MS, UniqueNames } from '../../src/shared/unique-names';

class TestClock extends Clock {
  time = Date.parse('2025-03-01T12:00:00.000Z');
  now(): Date {
    return new Date(this.time);
  }
}

const decider: Decider<ScriptState, ScriptEvent, ScriptCommand> = { initial: initialScriptState, evolve: evolveScript, decide: decideScript };
const context = { actor: 'alice', source: 'api', correlationId: 'c0ffee00-0000-4000-8000-000000000000', causationId: null };
const dir = mkdtempSync(join(tmpdir(), 'endercompute-names-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('Unique names across servers (reservations in the log)', () => {
  let store: SqliteEventStore;
  let clock: TestClock;
  let count = 0;

  const server = () => {
    const deps = { store, clock, ids: new RandomIdGenerator() };
    const names = new UniqueNames<ScriptState>(deps, 'script', 'script template', (s) => (s.status === 'active' ? s.name : null), async (id) => {
      const { state } = await loadAggregate(store, scriptStream(id), decider, SCRIPT_EVENT_TYPES);
      return { status: state.status, name: state.status === 'absent' ? null : state.name };
    });
    const run = (scriptId: string, command: ScriptCommand) =>
      decideAndAppend(deps, scriptStream(scriptId), decider, SCRIPT_EVENT_TYPES, command, context, undefined, names.guard(scriptId, context));
    return {
      names,
      create: (scriptId: string, name: string) => run(scriptId, { type: 'CreateScript', scriptId, name, interpreter: 'bash', body: 'true', nameTakenBy: null }),
      rename: (scriptId: string, name: string) => run(scriptId, { type: 'UpdateScript', scriptId, changes: { name }, nameTakenBy: null }),
      remove: (scriptId: string) => run(scriptId, { type: 'RemoveScript', scriptId, usedByJobs: [] }),
    };
  };
  const reservations = async (name: string): Promise<string[]> =>
    (await store.readStream(nameStream('script', name))).map((e) => `${e.type}:${(e.data as { ownerId: string }).ownerId}`);
  const taken = (name: string) => ({ name: 'ConflictError', message: `A script template named "${name}" already exists` });

  beforeEach(() => {
    store = SqliteEventStore.open(join(dir, `${(count += 1)}.db`));
    clock = new TestClock();
  });

  it('reserves a free name, and refuses it to another owner while its holder uses it, whatever the case', async () => {
    await server().create('s1', 'Deploy');
    await assert.rejects(server().create('s2', 'DEPLOY'), taken('Deploy'));
    clock.time += 10 * RESERVATION_GRACE_MS;
    await assert.rejects(server().create('s2', 'deploy'), taken('Deploy'), 'an old reservation holds while it is used');
    assert.deepEqual(await reservations('deploy'), ['NameReserved:s1']);
    assert.deepEqual(await store.readStream(scriptStream('s2')), [], 'the refused creation wrote nothing');
  });

  it('lets a reservation whose creation never happened lapse after the grace period', async () => {
    // A server that stops between the reservation and the append.
    const { names } = server();
    await names.guard('crashed', context).beforeAppend(initialScriptState, { status: 'active', scriptId: 'crashed', name: 'Nightly', interpreter: 'bash', body: '' });
    await assert.rejects(server().create('s2', 'nightly'), taken('Nightly'), 'the creation may still be on its way');
    clock.time += RESERVATION_GRACE_MS;
    await server().create('s2', 'nightly');
    assert.deepEqual(await reservations('nightly'), ['NameReserved:crashed', 'NameReserved:s2']);
  });

  it('moves the reservation on a rename, and frees the name on removal', async () => {
    const one = server();
    await one.create('s1', 'Old');
    await one.rename('s1', 'New');
    assert.deepEqual(await reservations('old'), ['NameReserved:s1', 'NameReleased:s1']);
    assert.deepEqual(await reservations('new'), ['NameReserved:s1']);
    await server().create('s2', 'old');
    await one.rename('s1', 'NEW');
    assert.deepEqual(await reservations('new'), ['NameReserved:s1'], 'a change of case is no rename: nothing written');
    await one.remove('s1');
    assert.deepEqual(await reservations('new'), ['NameReserved:s1', 'NameReleased:s1']);
    await server().create('s3', 'New');
  });

  it("frees a removed owner's name even when its release was never written", async () => {
    await server().create('s1', 'Backup');
    await store.append(scriptStream('s1'), [{ id: new RandomIdGenerator().newEventId(), type: 'ScriptRemoved', data: { scriptId: 's1' }, metadata: { ...context, at: clock.now().toISOString() } }], 0n);
    await server().create('s2', 'backup');
    assert.deepEqual(await reservations('backup'), ['NameReserved:s1', 'NameReserved:s2']);
  });

  it('writes nothing for a command the decider refuses, and releases a name whose append was refused', async () => {
    await assert.rejects(server().rename('ghost', 'Ghost'), NotFoundError);
    assert.deepEqual(await reservations('ghost'), []);
    // Two renames of s1 at once: both decide on revision 0 and reserve, one append wins, the other's name is released.
    await server().create('s1', 'First');
    const [left, right] = await Promise.allSettled([server().rename('s1', 'Left'), server().rename('s1', 'Right')]);
    assert.deepEqual([left.status, right.status].sort(), ['fulfilled', 'rejected']);
    const [won, lost] = left.status === 'fulfilled' ? ['left', 'right'] : ['right', 'left'];
    assert.deepEqual(await reservations(won), ['NameReserved:s1']);
    assert.deepEqual(await reservations(lost), ['NameReserved:s1', 'NameReleased:s1']);
  });

  it('gives a name that several servers reserve at the same moment to exactly one', async () => {
    const answers = await Promise.allSettled(Array.from({ length: 6 }, (_, n) => server().create(`s${n}`, 'Contended')));
    assert.equal(answers.filter((answer) => answer.status === 'fulfilled').length, 1);
    for (const answer of answers) {
      if (answer.status === 'rejected') assert.ok(answer.reason instanceof ConflictError, String(answer.reason));
    }
    assert.equal((await reservations('contended')).length, 1);
  });
});
