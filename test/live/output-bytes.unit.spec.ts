/**
 * Bytes read from the live window are the reader's own: the runner reuses the
 * window's buffers once it moved on, and readers await between reading and using.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { OutputBytes } from '../../src/live/output-bytes';
import { RunFeed } from '../../src/live/run-feed';
import type { RunOutputReader } from '../../src/runs/run-output.reader';
import type { RunRecord } from '../../src/runs/runs.read-model';

describe('output bytes', () => {
  it('copies what it reads from the live window, one frame or several', async () => {
    const feed = new RunFeed('r');
    const first = Buffer.from('hello ');
    const second = Buffer.from('world\n');
    feed.append(0, first);
    await nextTurn();
    feed.append(6, second);
    await nextTurn();
    const noStore = { read: () => assert.fail('the window holds it all') } as unknown as RunOutputReader;
    const bytes = new OutputBytes(noStore);
    const run = { outputBytes: 0 } as RunRecord;
    const one = await bytes.read(run, feed, 0, 6);
    const both = await bytes.read(run, feed, 0, 12);
    first.fill('x');
    second.fill('y');
    assert.equal(one.toString(), 'hello ');
    assert.equal(both.toString(), 'hello world\n');
  });

  it('ends a finished run at the output its end recorded, even where the live window went further', async () => {
    const feed = new RunFeed('r');
    feed.append(0, Buffer.from('hello\n'));
    // A batch of an upload stored just before the end was recorded without its runner (the lost rule, a revocation).
    feed.append(6, Buffer.from('late\n'));
    await nextTurn();
    const bytes = new OutputBytes({} as RunOutputReader);
    assert.equal(bytes.available({ phase: 'running', outputBytes: 6 } as RunRecord, feed), 11, 'a running run: as far as the window got');
    assert.equal(bytes.available({ phase: 'finished', outputBytes: 6 } as RunRecord, feed), 6);
    feed.release();
    assert.equal(bytes.available({ phase: 'finished', outputBytes: 6 } as RunRecord, feed), 6, 'also once the window is let go');
  });
});
