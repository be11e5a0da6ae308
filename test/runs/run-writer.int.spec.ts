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
import { outputStream, runStream, type RunRequested } from '../../src/runs/run.events';
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
    await writer.record({ type: 'ClaimRun', runId: RUN, runner: 'r', runnerLabels: [], workdir: '/w', now: new Date().toISOString() });
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

  it('keeps appending output (to the output stream) after a pause and a cancel were recorded by others, then finishes the run', async () => {
    const { writer, append } = await startedRun();
    await writer.record(output(0, 'one\n'));
    await append({ type: 'PauseRun', runId: RUN }, 'bob');
    await writer.record(output(4, 'two\n'));
    await append({ type: 'CancelRun', runId: RUN, actor: 'carol' }, 'carol');
    await writer.record(output(8, 'three\n'));
    // The finish meets the others' facts, folds them in and is decided again.
    await writer.record({ type: 'FinishRun', runId: RUN, status: 'cancelled', exitCode: null, signal: 'SIGTERM', droppedBytes: 0, reason: 'Cancelled by carol' });
    assert.equal(writer.current.cancelRequested, true, 'the cancel was folded in');
    const facts = await store.readStream(runStream(RUN));
    assert.deepEqual(
      facts.map((e) => `${e.type}/${e.metadata.actor}`),
      ['RunRequested/alice', 'RunClaimed/runner', 'RunStarted/runner', 'RunPaused/bob', 'RunCancelRequested/carol', 'RunFinished/runner'],
    );
    assert.deepEqual(facts.map((e) => e.revision), facts.map((_, index) => BigInt(index)));
    assert.equal((facts[facts.length - 1].data as { outputBytes: number }).outputBytes, 14, 'the finish counts every stored byte');
    const batches = await store.readStream(outputStream(RUN));
    assert.deepEqual(batches.map((e) => `${e.type}@${e.revision}/${(e.data as { offset: number }).offset}`), ['RunOutputAppended@0/0', 'RunOutputAppended@1/4', 'RunOutputAppended@2/8']);
    // The finish comes after the last batch in the log.
    assert.ok(facts[facts.length - 1].position.commit > batches[2].position.commit);
    // Anything more is refused by the decider against the caught-up state.
    await assert.rejects(writer.record({ type: 'FinishRun', runId: RUN, status: 'failed', exitCode: 1, signal: null, droppedBytes: 0, reason: null }), ConflictError);
    await assert.rejects(writer.record(output(14, 'late\n')), ConflictError);
  });

  it('a writer loaded again (recovery) continues the output stream and counts its bytes', async () => {
    const other = 'j-2';
    await store.append(runStream(other), [{ id: randomUUID(), type: 'RunRequested', data: { ...request, runId: other, number: 2 }, metadata: metadata('alice') }], 'no_stream');
    const runner = { actor: 'runner', source: 'runner', correlationId: 'c', causationId: null };
    const first = await RunWriter.load(deps(), other, runner);
    assert.ok(first);
    await first.record({ type: 'ClaimRun', runId: other, runner: 'r', runnerLabels: [], workdir: '/w', now: new Date().toISOString() });
    await first.record({ type: 'StartRun', runId: other, runner: 'r', pid: 1, processStartTicks: '1', workdir: '/w' });
    await first.record({ ...output(0, 'abc\n'), runId: other } as RunCommand);
    const second = await RunWriter.load(deps(), other, { ...runner, actor: 'system' });
    assert.ok(second);
    assert.equal(second.current.outputBytes, 4);
    await second.record({ ...output(4, 'def\n'), runId: other } as RunCommand);
    await second.record({ type: 'FinishRun', runId: other, status: 'lost', exitCode: null, signal: null, droppedBytes: 0, reason: 'stopped' });
    const facts = await store.readStream(runStream(other));
    assert.equal((facts[facts.length - 1].data as { outputBytes: number }).outputBytes, 8);
    assert.deepEqual((await store.readStream(outputStream(other))).map((e) => e.revision), [0n, 1n]);
  });
});
