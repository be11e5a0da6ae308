/**
 * The guard around removing a work directory (only `<root>/<job folder>/<number>`,
 * never through a link), and which kept directories are beyond the limit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RefusedRemovalError, removeWorkdir } from '../../src/runs/execution/workdir-removal';
import { beyondLimit, type KeptWorkdir } from '../../src/runs/execution/workdir-retention';

describe('removing a work directory', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'endercompute-removal-'));
  const root = join(scratch, 'data', 'work');
  const outside = join(scratch, 'outside');
  after(() => rmSync(scratch, { recursive: true, force: true }));

  const make = (path: string): string => {
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'file.txt'), 'x');
    return path;
  };

  it('removes a run directory with everything in it, and says when there was none', async () => {
    const workdir = make(join(root, 'job-abc', '1'));
    make(join(workdir, '.endercompute-home', 'deep'));
    symlinkSync(outside, join(workdir, 'link-out'));
    make(outside);
    assert.equal(await removeWorkdir(root, workdir), 'removed');
    assert.equal(existsSync(workdir), false);
    assert.ok(existsSync(join(outside, 'file.txt')), 'a link inside is removed, not followed');
    assert.equal(await removeWorkdir(root, workdir), 'absent');
    assert.ok(existsSync(join(root, 'job-abc')), 'the job folder stays');
  });

  it('opens up folders a run made read-only (as Go does with its module cache) and removes them, for a user without root’s rights', async () => {
    const base = mkdtempSync(join(tmpdir(), 'endercompute-readonly-'));
    try {
      const workRoot = join(base, 'work');
      const workdir = join(workRoot, 'job-go', '1');
      const deepest = join(workdir, '.endercompute-home', 'go', 'pkg', 'mod', 'example.com@v1');
      mkdirSync(deepest, { recursive: true });
      writeFileSync(join(deepest, 'go.mod'), 'module example.com');
      for (let dir = deepest; dir !== workdir; dir = join(dir, '..')) chmodSync(dir, 0o555);
      if (process.getuid?.() === 0) {
        // Root may remove anything: the removal runs as `nobody`, who owns the files, as a server not run as root would.
        // `nobody` may not be able to reach the checkout (a clone in a private temporary folder): it runs a copy of
        // the compiled module and the modules it imports, at the same relative places.
        const lib = join(base, 'lib');
        const module = join(lib, 'runs', 'execution', 'workdir-removal.js');
        mkdirSync(join(lib, 'runs', 'execution'), { recursive: true });
        mkdirSync(join(lib, 'shared'), { recursive: true });
        copyFileSync(require.resolve('../../src/runs/execution/workdir-removal'), module);
        copyFileSync(require.resolve('../../src/shared/slug'), join(lib, 'shared', 'slug.js'));
        copyFileSync(require.resolve('../../src/shared/remove-tree'), join(lib, 'shared', 'remove-tree.js'));
        const chownAll = (path: string): void => {
          chownSync(path, 65534, 65534);
          for (const entry of readdirSync(path, { withFileTypes: true })) {
            if (entry.isDirectory()) chownAll(join(path, entry.name));
            else chownSync(join(path, entry.name), 65534, 65534);
          }
        };
        chownAll(base);
        const code = `require(${JSON.stringify(module)}).removeWorkdir(${JSON.stringify(workRoot)}, ${JSON.stringify(workdir)}).then((r) => console.log(r), (e) => { console.error(e.message); process.exit(1); })`;
        const child = spawnSync(process.execPath, ['-e', code], { uid: 65534, gid: 65534, encoding: 'utf8' });
        assert.equal(child.status, 0, child.stderr);
        assert.equal(child.stdout.trim(), 'removed');
      } else {
        assert.equal(await removeWorkdir(workRoot, workdir), 'removed');
      }
      assert.equal(existsSync(workdir), false);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('refuses paths that are not a run directory below the root', async () => {
    make(join(root, 'job-abc', '2'));
    for (const path of [
      root,
      join(root, 'job-abc'),
      join(root, 'job-abc', '2', 'file.txt'),
      `${root}/job-abc/../job-abc/2`,
      `${join(root, 'job-abc', '2')}/`,
      join(scratch, 'data', 'job-abc'),
      outside,
      'job-abc/2',
    ]) {
      await assert.rejects(removeWorkdir(root, path), RefusedRemovalError, path);
    }
    assert.ok(existsSync(join(root, 'job-abc', '2', 'file.txt')));
    assert.ok(existsSync(join(outside, 'file.txt')));
  });

  it('refuses a run directory that is a link, or that a linked job folder leads out of the root', async () => {
    make(join(outside, '3'));
    symlinkSync(join(outside, '3'), join(root, 'job-abc', '3'));
    await assert.rejects(removeWorkdir(root, join(root, 'job-abc', '3')), /symbolic link/);
    symlinkSync(outside, join(root, 'linked-job'));
    await assert.rejects(removeWorkdir(root, join(root, 'linked-job', '3')), /resolves to .*outside/);
    assert.ok(existsSync(join(outside, '3', 'file.txt')), 'what the links point to is untouched');
  });
});

describe('kept work directories beyond the limit', () => {
  const kept = (runId: string, finishedAt: string): KeptWorkdir => ({ runId, path: `/w/j/${runId}`, finishedAt });

  it('are all but the newest by finish time, whatever order they come in', () => {
    const all = [kept('b', '2026-01-02T00:00:00.000Z'), kept('d', '2026-01-04T00:00:00.000Z'), kept('a', '2026-01-01T00:00:00.000Z'), kept('c', '2026-01-03T00:00:00.000Z')];
    assert.deepEqual(beyondLimit(all, 2).map((k) => k.runId), ['b', 'a']);
    assert.deepEqual(beyondLimit(all, 4), []);
    assert.deepEqual(beyondLimit(all, 10), []);
    assert.deepEqual(beyondLimit(all, 0).map((k) => k.runId).sort(), ['a', 'b', 'c', 'd']);
  });

  it('breaks ties by run id, so the choice does not depend on the order', () => {
    const same = '2026-01-01T00:00:00.000Z';
    assert.deepEqual(beyondLimit([kept('x', same), kept('y', same)], 1).map((k) => k.runId), ['x']);
    assert.deepEqual(beyondLimit([kept('y', same), kept('x', same)], 1).map((k) => k.runId), ['x']);
  });
});
