/**
 * Issue 11: every run writes its output through a socket made in the temporary
 * directory (see output-channel.ts). A server that cannot make one says so at
 * start and does not start, instead of failing every run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runServerUntilExit } from '../support/server-exit';

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
