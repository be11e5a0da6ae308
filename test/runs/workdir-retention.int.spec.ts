/**
 * WorkdirRetention's start-up sweep against the read models and a real
 * `<data>/work`: which directories go, which stay (unfinished runs, runs the
 * executor is still handing over, the kept newest), and what `workdirKept` says.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import type { AppConfig } from '../../src/config/app-config';
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import { JobsReadModel } from '../../src/jobs/jobs.read-model';
import { WorkdirRetention } from '../../src/runs/execution/workdir-retention';
import type { RunRequested } from '../../src/runs/run.events';
import Database from 'better-sqlite3';
import { RunsReadModel } from '../../src/runs/runs.read-model';
import type { Clock } from '../../src/shared/clock';

let position = 0;
function recorded(stream: string, type: string, data: unknown, at: string): RecordedEvent {
  position++;
  return {
    id: `e-${position}`,
    stream,
    revision: BigInt(position),
    position: { commit: BigInt(position), prepare: BigInt(position) },
    type,
    data,
    metadata: { actor: 'alice', at, correlationId: 'c', causationId: null, source: 'api' },
  };
}

const snapshot: RunRequested['data']['snapshot'] = {
  scriptId: 's',
  scriptName: 'S',
  scriptVersion: 0,
  interpreter: 'bash',
  body: 'true',
  jobVersion: 0,
  args: [],
  env: {},
  files: [],
  timeoutSeconds: null,
};

describe('WorkdirRetention at start', () => {
  const dataDir = mkdtempSync(`${tmpdir()}/endercompute-retention-`);
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = { dataDir, keepWorkdirs: 1, runnerId: 'me' } as unknown as AppConfig;
  const clock = { now: () => new Date('2026-06-01T12:00:00.000Z') } as Clock;
  const jobs = new JobsReadModel();
  const runs = new RunsReadModel();
  const db = new Database(':memory:');
  jobs.open(db);
  runs.open(db);
  const retention = new WorkdirRetention(config, jobs, runs, clock);

  const job = (jobId: string, name: string, keepWorkdir: boolean): void =>
    jobs.apply(recorded(`job-${jobId}`, 'JobCreated', { jobId, name, description: '', scriptId: 's', args: [], env: {}, tags: [], timeoutSeconds: null, keepWorkdir }, '2026-06-01T10:00:00.000Z'));

  /** A run of a job, claimed by `runner` and finished at `finishedAt` (or not); its directory made on disk. */
  function run(jobId: string, jobName: string, number: number, runner: string, finishedAt: string | null): { id: string; path: string } {
    const id = `${jobId}-${number}`;
    const path = retention.pathOf({ jobId, jobName, number });
    runs.apply(recorded(`run-${id}`, 'RunRequested', { runId: id, jobId, jobName, number, snapshot, extra: { args: [], env: {}, files: [] }, scheduledFor: null, rerunOf: null, trigger: null }, '2026-06-01T11:00:00.000Z'));
    runs.apply(recorded(`run-${id}`, 'RunClaimed', { runId: id, runner, workdir: path }, '2026-06-01T11:00:01.000Z'));
    if (finishedAt !== null) {
      runs.apply(recorded(`run-${id}`, 'RunFinished', { runId: id, status: 'succeeded', exitCode: 0, signal: null, reason: null, outputBytes: 0, droppedBytes: 0 }, finishedAt));
    }
    mkdirSync(`${path}/sub`, { recursive: true });
    return { id, path };
  }

  it('removes finished runs’ directories, keeps the newest of a keepWorkdir job up to the limit, and never touches a run still going or still being handed over', async () => {
    job('plainjob0001', 'Plain job', false);
    job('keptjob00001', 'Kept job', true);
    const plainDone = run('plainjob0001', 'Plain job', 1, 'me', '2026-06-01T11:10:00.000Z');
    const stillRunning = run('plainjob0001', 'Plain job', 2, 'me', null);
    const handingOver = run('plainjob0001', 'Plain job', 3, 'me', '2026-06-01T11:20:00.000Z');
    const keptOlder = run('keptjob00001', 'Kept job', 1, 'me', '2026-06-01T11:05:00.000Z');
    const keptNewer = run('keptjob00001', 'Kept job', 2, 'me', '2026-06-01T11:30:00.000Z');
    const elsewhere = run('plainjob0001', 'Plain job', 4, 'another-server', '2026-06-01T11:40:00.000Z');
    // Under a former name of the job: not the run's own path, so not its directory.
    const formerName = retention.pathOf({ jobId: 'plainjob0001', jobName: 'Old name', number: 1 });
    mkdirSync(formerName, { recursive: true });

    retention.trackActiveRuns((runId) => runId === handingOver.id);
    await retention.sweep();
    await retention.idle();

    assert.equal(existsSync(plainDone.path), false, 'a finished run’s directory goes');
    assert.equal(existsSync(keptOlder.path), false, 'beyond the limit of 1: the older kept one goes');
    assert.ok(existsSync(keptNewer.path), 'the newest kept one stays');
    assert.ok(existsSync(stillRunning.path), 'a run not finished keeps its directory');
    assert.ok(existsSync(handingOver.path), 'a run the executor still holds is not swept');
    assert.ok(existsSync(formerName), 'a folder that is no run’s own path is left alone');
    assert.equal(existsSync(elsewhere.path), false, 'a finished run’s directory in this data dir goes, whichever runner id it ran under');

    const kept = (id: string): boolean | null => retention.workdirKept(runs.get(id)!);
    assert.equal(kept(keptNewer.id), true);
    assert.equal(kept(keptOlder.id), false);
    assert.equal(kept(plainDone.id), false);
    assert.equal(kept(stillRunning.id), null, 'not said before the run finishes');
    assert.equal(kept(handingOver.id), false, 'being handed over: what its job decides (Plain job removes)');
    assert.equal(kept(elsewhere.id), null, 'another server’s runner executed it: this server cannot tell');

    // The executor hands over a run of the kept job: the limit of 1 now removes the previous newest.
    const next = run('keptjob00001', 'Kept job', 3, 'me', '2026-06-01T12:00:00.000Z');
    retention.runEnded(runs.get(next.id)!, next.path);
    await retention.idle();
    assert.ok(existsSync(next.path));
    assert.equal(existsSync(keptNewer.path), false);
    assert.deepEqual([kept(next.id), kept(keptNewer.id)], [true, false]);
  });
});
