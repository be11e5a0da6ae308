/**
 * A run ended while its work directory is still being prepared (a cancel, a stop, while
 * a large input file arrives) ends without its script ever starting, with the status
 * and reason of that end: nothing to stop, no grace period for a script to use.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { executeRun } from '../../src/runs/runner/execute-run';

const root = mkdtempSync(join(tmpdir(), 'endercompute-execute-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('executeRun', () => {
  it('never starts the script of a run cancelled while its input file was still arriving', async () => {
    const marker = join(root, 'the-script-ran');
    const content = Buffer.from('a large input file, arriving slowly\n');
    const sha256 = createHash('sha256').update(content).digest('hex');
    let started = false;
    const execution = executeRun(
      {
        runId: 'slow-input-1', jobName: 'slow-input', runNumber: 1, actor: 'alice', interpreter: 'bash',
        scriptBody: `touch ${JSON.stringify(marker)}; echo ran`, args: [], env: {},
        files: [{ name: 'input.txt', size: content.length, sha256 }],
        timeoutSeconds: null, maxOutputBytes: 1024 * 1024, cancelGraceSeconds: 5,
      },
      join(root, 'work', 'slow-input', '1'),
      {
        readFile: async function* () {
          await delay(400);
          yield content;
        },
        started: async () => {
          started = true;
        },
        output: async () => undefined,
      },
      { sandbox: null, umask: 0o022, maxBatchBytes: 64 * 1024 },
    );
    await delay(100);
    execution.control.end({ status: 'cancelled', reason: 'Cancelled by alice' });
    const outcome = await execution.outcome;
    assert.deepEqual(outcome, { status: 'cancelled', exitCode: null, signal: null, droppedBytes: 0, reason: 'Cancelled by alice' });
    assert.equal(started, false, 'no process was reported started');
    await delay(200);
    assert.equal(existsSync(marker), false, 'the script never ran');
  });

  it('ends as cancelled, not failed, when its input file was given up because of the cancel', async () => {
    const content = Buffer.from('never arrives\n');
    const sha256 = createHash('sha256').update(content).digest('hex');
    let cancelled = (): void => undefined;
    const execution = executeRun(
      {
        runId: 'given-up-1', jobName: 'given-up', runNumber: 1, actor: 'alice', interpreter: 'bash',
        scriptBody: 'echo ran', args: [], env: {}, files: [{ name: 'input.txt', size: content.length, sha256 }],
        timeoutSeconds: null, maxOutputBytes: 1024 * 1024, cancelGraceSeconds: 5,
      },
      join(root, 'work', 'given-up', '1'),
      {
        // As a job server's download does: it gives up once the run ended.
        readFile: () => new Promise<Buffer>((_, reject) => (cancelled = () => reject(new Error('the run ended while its input file was being downloaded')))),
        started: async () => undefined,
        output: async () => undefined,
      },
      { sandbox: null, umask: 0o022, maxBatchBytes: 64 * 1024 },
    );
    await delay(100);
    execution.control.end({ status: 'cancelled', reason: 'Cancelled by bob' });
    cancelled();
    assert.deepEqual(await execution.outcome, { status: 'cancelled', exitCode: null, signal: null, droppedBytes: 0, reason: 'Cancelled by bob' });
  });
});
