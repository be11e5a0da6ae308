import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Spool } from '../../src/jobserver/spool';
import { findLeftoverRuns, forgetStart, markStarted } from '../../src/jobserver/leftover-runs';
import { isLost, missingSince } from '../../src/runs/remote/runner-lost';

describe('the lost rule (isLost)', () => {
  const lostSeconds = 120;
  const t0 = Date.parse('2026-11-30T12:00:00Z');

  it('is lost only after the lost time without contact', () => {
    assert.equal(isLost({ lastContact: t0, startedAt: null, watchedSince: t0 - 1_000 }, t0 + 120_000, lostSeconds), false);
    assert.equal(isLost({ lastContact: t0, startedAt: null, watchedSince: t0 - 1_000 }, t0 + 120_001, lostSeconds), true);
  });

  it('counts from the latest of contact, start and the start of watching (a server that just started gives the whole time)', () => {
    assert.equal(isLost({ lastContact: t0 - 600_000, startedAt: null, watchedSince: t0 }, t0 + 60_000, lostSeconds), false);
    assert.equal(isLost({ lastContact: null, startedAt: t0, watchedSince: t0 - 600_000 }, t0 + 60_000, lostSeconds), false);
    assert.equal(isLost({ lastContact: null, startedAt: null, watchedSince: t0 }, t0 + 121_000, lostSeconds), true);
  });
});

describe('a run its job server no longer lists (missingSince)', () => {
  const t0 = Date.parse('2026-11-30T12:00:00Z');
  const report = (at: number, ...running: string[]) => ({ running: new Set(running), at });

  it('counts from the first report after the start that leaves the run out, and forgets it once a report names it', () => {
    assert.equal(missingSince(report(t0 + 5_000, 'r'), 'r', t0, null), null, 'named');
    assert.equal(missingSince(report(t0 + 5_000), 'r', t0, null), t0 + 5_000, 'left out: counted from this report');
    assert.equal(missingSince(report(t0 + 9_000), 'r', t0, t0 + 5_000), t0 + 5_000, 'still left out: from the first');
    assert.equal(missingSince(report(t0 + 9_000, 'r', 'other'), 'r', t0, t0 + 5_000), null, 'named again: forgotten');
  });

  it('ignores reports not newer than the start (a request sent before the run began), runs not started, and silence', () => {
    assert.equal(missingSince(report(t0), 'r', t0, null), null);
    assert.equal(missingSince(report(t0 - 1), 'r', t0, null), null);
    assert.equal(missingSince(report(t0 + 5_000), 'r', null, null), null);
    assert.equal(missingSince(null, 'r', t0, t0 + 1_000), null);
  });
});

describe('runs an earlier job server process left (findLeftoverRuns)', () => {
  it('finds the runs whose start was acknowledged, keeps their spools and removes the rest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leftovers-'));
    try {
      for (const name of ['started.out', 'claimed-only.out', 'ended.out']) writeFileSync(join(dir, name), 'bytes');
      markStarted(join(dir, 'started.out'));
      markStarted(join(dir, 'ended.out'));
      forgetStart(join(dir, 'ended.out'));
      markStarted(join(dir, '..bad.out'));
      const found = findLeftoverRuns(dir, (runId) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId));
      assert.deepEqual(found, [{ runId: 'started', spool: join(dir, 'started.out'), mark: join(dir, 'started.out.started') }]);
      assert.deepEqual(readdirSync(dir).sort(), ['started.out', 'started.out.started']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the job server spool', () => {
  it('keeps appended bytes in order and streams them back from any offset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    try {
      const spool = new Spool(join(dir, 'spool', 'run.out'));
      spool.append(Buffer.from('hello '));
      spool.append(Buffer.from('world\n'));
      assert.equal(spool.size, 12);
      const read = async (from: number, to: number): Promise<string> => {
        let text = '';
        for await (const chunk of spool.stream(from, to)) text += String(chunk);
        return text;
      };
      assert.equal(await read(0, 12), 'hello world\n');
      assert.equal(await read(6, 9), 'wor');
      assert.equal(await read(12, 12), '');
      spool.remove();
      assert.equal(existsSync(join(dir, 'spool', 'run.out')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
