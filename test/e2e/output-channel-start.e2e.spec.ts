/**
 * Issue 11: every run writes its output through a socket made in the temporary
 * directory (see output-channel.ts). A server that cannot make one says so at
 * start and does not start, instead of failing every run; one killed outright
 * leaves its directory behind, and the next start removes it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createJob, requestRun, waitForRun } from '../support/rest';
import { runServerUntilExit } from '../support/server-exit';
import { startServer } from '../support/server-process';

/** The channel directories in `dir`. */
function channelDirs(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('endercompute-out-')).sort();
}

/** Makes `path` look unchanged for the last two minutes. */
function age(path: string): void {
  const then = new Date(Date.now() - 120_000);
  utimesSync(path, then, then);
}

describe('the output channel at start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ec-channel-start-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  for (const sandbox of ['none', 'auto']) {
    it(`refuses to start when the temporary directory is missing, and says what to do (ENDERCOMPUTE_SANDBOX=${sandbox})`, async () => {
      const missing = join(dataDir, 'no-such-tmp');
      const exit = await runServerUntilExit(dataDir, { TMPDIR: missing, ENDERCOMPUTE_SANDBOX: sandbox });
      assert.notEqual(exit.code, 0);
      const said = exit.stdout + exit.stderr;
      assert.match(said, /Runs cannot be started: cannot open the channel runs write their output into/);
      assert.ok(said.includes(missing), 'names the directory');
      assert.match(said, /point TMPDIR at a writable directory/);
    });
  }
});

describe('the directories of output channels', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ec-channel-tmp-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('none is left by a server killed outright; one a dead process left is removed at the next start, and no other', async () => {
    const killed = await startServer({ env: { TMPDIR: tmp } });
    try {
      const job = await createJob(killed, 'channel-dir', 'sh', 'echo hi');
      assert.equal((await waitForRun(killed, (await requestRun(killed, job)).id)).status, 'succeeded');
      assert.deepEqual(channelDirs(tmp), [], 'a directory exists only while a channel is paired');
    } finally {
      await killed.kill();
      killed.cleanup();
    }
    assert.deepEqual(channelDirs(tmp), [], 'a server killed between runs leaves none');
    // What a process killed while pairing leaves (a directory with its socket), and beside it: one whose
    // owner lives (this test), one of a dead owner changed just now, one named as before pids were.
    const left = `endercompute-out-${killed.child.pid}-Xy12Zw`;
    const living = `endercompute-out-${process.pid}-living`;
    const recent = `endercompute-out-${killed.child.pid}-recent`;
    const older = 'endercompute-out-Ab12Cd';
    for (const name of [left, living, recent, older]) mkdirSync(join(tmp, name), { mode: 0o700 });
    writeFileSync(join(tmp, left, 'channel.sock'), '');
    for (const name of [left, living, older]) age(join(tmp, name));

    const next = await startServer({ env: { TMPDIR: tmp } });
    try {
      assert.deepEqual(channelDirs(tmp), [living, older, recent].sort(), 'the abandoned one is gone, the others are left alone');
      const job = await createJob(next, 'channel-dir', 'sh', 'echo hi');
      assert.equal((await waitForRun(next, (await requestRun(next, job)).id)).status, 'succeeded');
    } finally {
      await next.stop();
      next.cleanup();
    }
    assert.deepEqual(channelDirs(tmp), [living, older, recent].sort(), 'a server stopped cleanly leaves none of its own');
  });
});
