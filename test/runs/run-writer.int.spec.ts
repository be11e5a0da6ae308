/**
 * The runner's RunWriter on a real embedded store, while people append control
 * actions to the same run stream: it catches up and decides again instead of
 * failing, and still refuses what the newer state forbids.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { RunWriter } from '../../src/runs/execution/run-writer';
import { decideRun, evolveRun, initialRunState, type RunCommand, type RunState } from '../../src/runs/run.decider';
import { runStream, type RunRequested } from '../../src/runs/run.events';
import { SystemClock } from '../../src/shared/clock';
import { ConflictError } from '../../src/shared/domain-errors';
import { RandomIdGenerator } from '../../src/shared/ids';

const RUN = 'j-1';
const request: RunRequested['data'] = {
  runId: RUN,
  jobId: 'j',
  jobName: 'job',
  number: 1,
  snapshot: { scriptId: 's', scriptName: 's', scriptVersion: 0, interpreter: 'bash', body: 'true', jobVersion: 0, args: [], env: {}, files: [], timeoutSeconds: null },
  extra: { args: [], env: {}, files: [] },
  scheduledFor: null,
  rerunOf: null,
  trigger: null,
};
const metadata = (actor: string) => ({ actor, at: new Date().toISOString(), correlationId: 'c', causationId: null, source: 'api' });
const output = (offset: number, text: string): RunCommand => ({
  type: 'AppendOutput',
  runId: RUN,
  offset,
  length: Buffer.byteLength(text),
  lines: text.split('\n').length - 1,
  encoding: 'none',
  data: Buffer.from(text).toString('base64'),
});

describe('RunWriter with others appending to the run', () => {
  let dir: string;
  let store: SqliteEventStore;
  const deps = () => ({ store, clock: new SystemClock(), ids: new RandomIdGenerator() });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'endercompute-writer-'));
    store = SqliteEventStore.open(join(dir, 'log.db'));
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A started run and the runner's writer on it. */
  async function startedRun(): Promise<{ writer: RunWriter; append: (command: RunCommand, actor: string) => Promise<void> }> {
    await store.append(runStream(RUN), [{ id: randomUUID(), type: 'RunRequested', data: request, metadata: metadata('alice') }], 'no_stream');
    const runner = { actor: 'runner', source: 'runner', correlationId: 'c', causationId: null };
    const writer = new RunWriter(deps(), RUN, evolveRun(initialRunState, { type: 'RunRequested', data: request }), 0n, runner);
    await writer.record({ type: 'ClaimRun', runId: RUN, runner: 'r', workdir: '/w', now: new Date().toISOString() });
    await writer.record({ type: 'StartRun', runId: RUN, runner: 'r', pid: 123, processStartTicks: '1', workdir: '/w' });
    // What a control handler does: read, decide, append with the revision it read.
    const append = async (command: RunCommand, actor: string): Promise<void> => {
      const events = await store.readStream(runStream(RUN));
      const state = events.reduce<RunState>((s, e) => evolveRun(s, { type: e.type, data: e.data } as never), initialRunState);
      const decided = decideRun(command, state);
      await store.append(runStream(RUN), decided.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata: metadata(actor) })), events[events.length - 1].revision);
    };
    return { writer, append };
  }

  it('keeps appending output after a pause and a cancel were recorded by others, then finishes the run', async () => {
    const { writer, append } = await startedRun();
    await writer.record(output(0, 'one\n'));
    await append({ type: 'PauseRun', runId: RUN }, 'bob');
    await writer.record(output(4, 'two\n'));
    assert.equal(writer.current.phase, 'paused', 'the pause was folded in');
    await append({ type: 'CancelRun', runId: RUN, actor: 'carol' }, 'carol');
    await writer.record(output(8, 'three\n'));
    assert.equal(writer.current.cancelRequested, true);
    await writer.record({ type: 'FinishRun', runId: RUN, status: 'cancelled', exitCode: null, signal: 'SIGTERM', droppedBytes: 0, reason: 'Cancelled by carol' });
    const events = await store.readStream(runStream(RUN));
    assert.deepEqual(
      events.map((e) => `${e.type}/${e.metadata.actor}`),
      [
        'RunRequested/alice',
        'RunClaimed/runner',
        'RunStarted/runner',
        'RunOutputAppended/runner',
        'RunPaused/bob',
        'RunOutputAppended/runner',
        'RunCancelRequested/carol',
        'RunOutputAppended/runner',
        'RunFinished/runner',
      ],
    );
    assert.deepEqual(
      events.map((e) => e.revision),
      events.map((_, index) => BigInt(index)),
    );
    // Anything more is refused by the decider against the caught-up state.
    await assert.rejects(writer.record({ type: 'FinishRun', runId: RUN, status: 'failed', exitCode: 1, signal: null, droppedBytes: 0, reason: null }), ConflictError);
  });
});
