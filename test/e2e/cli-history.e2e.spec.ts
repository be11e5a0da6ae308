/**
 * History from the CLI, as a person uses it against the built server: a template's and a
 * job's versions with who changed what and when, one version's changes (a body as a
 * unified diff), restoring an old version, lists and a job as they stood at a time, and a
 * removed job's or template's former name answered with its id.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli';
import { type ServerProcess, startServer } from '../support/server-process';

describe('history from the CLI', () => {
  let server: ServerProcess;
  let dir: string;
  let beforeEdit = '';

  before(async () => {
    server = await startServer();
    dir = mkdtempSync(join(tmpdir(), 'endercompute-cli-history-'));
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function cli(args: string[], actor = 'ada'): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const result = await runCli(server, args, { ENDERCOMPUTE_ACTOR: actor });
    return { code: result.code, stdout: result.stdout.toString(), stderr: result.stderr };
  }
  async function ok(args: string[], actor?: string): Promise<string> {
    const result = await cli(args, actor);
    assert.equal(result.code, 0, `endercompute ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  }
  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  it('lists a template\'s versions with who changed what, and shows a body change as a unified diff', async () => {
    await ok(['scripts', 'create', 'release', '--file', file('v1.sh', 'echo build\necho test\necho ship\n')]);
    await ok(['jobs', 'create', 'nightly', '--script', 'release', '--tag', 'night'], 'ada');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    beforeEdit = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await ok(['scripts', 'update', 'release', '--file', file('v2.sh', 'echo build\necho lint\necho test\necho ship\n')], 'grace');

    const history = await ok(['scripts', 'history', 'release']);
    const rows = history.trim().split('\n');
    assert.match(rows[0], /^VERSION\s+WHEN\s+BY\s+SOURCE\s+CHANGE\s+FIELDS$/);
    assert.match(rows[1], /^1\s.*\sada\s+cli\s+ScriptCreated\s+status, name, interpreter, body$/);
    assert.match(rows[rows.length - 1], /^\d+ \(current\)\s.*\sgrace\s+cli\s+ScriptUpdated\s+body$/);

    const current = Number(/^(\d+) \(current\)/.exec(rows[rows.length - 1])![1]);
    const version = await ok(['scripts', 'version', 'release', String(current)]);
    assert.match(version, new RegExp(`^template release \\(\\S+\\), version ${current} of ${current}\\nScriptUpdated by grace \\(cli\\) at \\d{4}-`));
    assert.match(version, /Changed since version 1:\n {2}body:\n {4}--- version 1\n {4}\+\+\+ version \d+\n {4}@@ -1,3 \+1,4 @@\n {4} echo build\n {4}\+echo lint\n {4} echo test\n {4} echo ship/);

    const json = JSON.parse(await ok(['scripts', 'version', 'release', String(current), '--compare-to', '1', '--json'])) as { comparedTo: number; changes: Array<{ field: string }> };
    assert.equal(json.comparedTo, 1);
    assert.deepEqual(json.changes.map((c) => c.field), ['body']);
  });

  it('restores an old version as a new one, and says what it became', async () => {
    const restored = await ok(['scripts', 'restore', 'release', '1'], 'linus');
    const now = /^Restored template release to version 1: it is now version (\d+)$/.exec(restored.trim());
    assert.ok(now, restored);
    assert.match(await ok(['scripts', 'show', 'release']), /\n\necho build\necho test\necho ship\n\n$/);
    const last = (await ok(['scripts', 'history', 'release'])).trim().split('\n').pop()!;
    assert.match(last, new RegExp(`^${now[1]} \\(current\\)\\s.*\\slinus\\s+cli\\s+ScriptUpdated \\(restored version 1\\)\\s+body$`));
  });

  it('shows a job\'s field changes, and a job and the lists as they stood at a time', async () => {
    await ok(['jobs', 'update', 'nightly', '--tag', 'night', '--tag', 'release', '--timeout', '600'], 'grace');
    const history = (await ok(['jobs', 'history', 'nightly'])).trim().split('\n');
    const current = Number(/^(\d+) \(current\)/.exec(history[history.length - 1])![1]);
    const version = await ok(['jobs', 'version', 'nightly', String(current)]);
    assert.match(version, /^job nightly \(\S+\), version \d+ of \d+\nJobUpdated by grace \(cli\)/);
    assert.match(version, /\n {2}tags: \["night"\] → \["night","release"\]/);
    assert.match(version, /\n {2}timeoutSeconds: null → 600/);

    const then = await ok(['jobs', 'show', 'nightly', '--as-of', beforeEdit]);
    assert.match(then, /^nightly \(\S+, version 1\), as it stood at \d{4}-/);
    assert.match(then, /tags: {5}night\n/);
    assert.match(await ok(['jobs', 'show', 'nightly']), /tags: {5}night, release\n/);
    assert.match(await ok(['jobs', 'list', '--as-of', beforeEdit]), /\nnightly\s+release\s+night\s*$/);
    assert.match(await ok(['scripts', 'list', '--as-of', '2000-01-01T00:00:00Z']), /^ID\s+NAME/);
  });

  it('never lets a body\'s control characters reach the terminal; tabs stay', async () => {
    await ok(['scripts', 'create', 'hostile', '--file', file('h1.sh', 'echo a\n')]);
    await ok(['scripts', 'update', 'hostile', '--file', file('h2.sh', 'echo a\n\techo \x1b[2J\x07gone\n')]);
    const history = (await ok(['scripts', 'history', 'hostile'])).trim().split('\n');
    const current = /^(\d+) \(current\)/.exec(history[history.length - 1])![1];
    const version = await ok(['scripts', 'version', 'hostile', current]);
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(version), JSON.stringify(version));
    assert.match(version, /\n {4}\+\techo \?\[2J\?gone/);
  });

  it('points a removed job\'s or template\'s former name to its id, exiting 1 as for any refusal; a reused name is the new one\'s', async () => {
    await ok(['scripts', 'create', 'scratch', '--file', file('scratch.sh', 'true\n')]);
    const job = JSON.parse(await ok(['jobs', 'create', 'weekly', '--script', 'scratch', '--json'])) as { id: string };
    await ok(['jobs', 'remove', 'weekly'], 'grace');
    const byId = (await ok(['jobs', 'history', job.id])).trim().split('\n');
    assert.match(byId[byId.length - 1], /\sgrace\s+cli\s+JobRemoved\s/);
    const hint = new RegExp(`^404: No job is named "weekly" now\\. A job of that name was removed at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z by grace: its id is ${job.id}, and its versions stay readable at GET /api/jobs/${job.id}/versions\\n$`);
    for (const args of [['jobs', 'history', 'weekly'], ['jobs', 'version', 'weekly', '1'], ['jobs', 'restore', 'weekly', '1']]) {
      const gone = await cli(args);
      assert.equal(gone.code, 1, args.join(' '));
      assert.match(gone.stderr, hint, args.join(' '));
      assert.equal(gone.stdout, '');
    }
    const namesake = JSON.parse(await ok(['jobs', 'create', 'Weekly', '--script', 'scratch', '--json'])) as { id: string };
    assert.match(await ok(['jobs', 'version', 'weekly', '1']), new RegExp(`^job Weekly \\(${namesake.id}\\), version 1 of 1\\n`));
    const unknown = await cli(['jobs', 'history', 'monthly']);
    assert.deepEqual([unknown.code, unknown.stderr], [1, '404: No job "monthly" exists\n']);

    const template = JSON.parse(await ok(['scripts', 'create', 'one-off', '--file', file('one-off.sh', 'true\n'), '--json'])) as { id: string };
    await ok(['scripts', 'remove', 'one-off'], 'linus');
    const goneTemplate = await cli(['scripts', 'history', 'ONE-OFF']);
    assert.equal(goneTemplate.code, 1);
    assert.match(
      goneTemplate.stderr,
      new RegExp(`^404: No script template is named "ONE-OFF" now\\. A script template of that name was removed at \\S+ by linus: its id is ${template.id}, and its versions stay readable at GET /api/scripts/${template.id}/versions\\n$`),
    );
    await ok(['scripts', 'create', 'one-off', '--file', file('one-off2.sh', 'echo again\n')]);
    assert.match((await ok(['scripts', 'history', 'one-off'])).trim().split('\n')[1], /^1 \(current\)\s.*\sada\s+cli\s+ScriptCreated\s/);
    const unknownTemplate = await cli(['scripts', 'history', 'two-off']);
    assert.deepEqual([unknownTemplate.code, unknownTemplate.stderr], [1, '404: No script template "two-off" exists\n']);
  });

  it('passes the server\'s refusals on (an unknown version, a time without a zone); a version that is not a number is a usage error', async () => {
    const missing = await cli(['jobs', 'version', 'nightly', '99']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /version 99/);
    const word = await cli(['scripts', 'version', 'release', 'two']);
    assert.equal(word.code, 2);
    assert.match(word.stderr, /^the version number must be a whole number from 1 to 999999999, not "two"\n/);
    const zone = await cli(['jobs', 'list', '--as-of', '2026-01-01T00:00']);
    assert.equal(zone.code, 1);
    assert.match(zone.stderr, /time zone/);
    const usage = await cli(['jobs', 'restore', 'nightly']);
    assert.equal(usage.code, 2);
  });
});
