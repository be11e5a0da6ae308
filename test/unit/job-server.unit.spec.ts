import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Spool } from '../../src/jobserver/spool';
import { isLost } from '../../src/runs/remote/runner-lost';

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
