/**
 * The runner's artifact collector on real directories: glob semantics, the artifacts
 * directory, links never followed (to a file, to a directory, on the way to a match,
 * out of the work directory), the size limit, a missing work directory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { artifactsDirOf, collectArtifacts } from '../../src/runs/runner/artifact-collector';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('collectArtifacts', () => {
  const root = mkdtempSync(join(tmpdir(), 'endercompute-collect-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  /** A work directory with files, and a directory outside it full of matching files. */
  function workdir(name: string): { dir: string; outside: string } {
    const dir = join(root, name, 'work');
    const outside = join(root, name, 'outside');
    mkdirSync(join(dir, 'dist'), { recursive: true });
    mkdirSync(join(dir, 'reports/unit'), { recursive: true });
    mkdirSync(artifactsDirOf(dir), { recursive: true });
    mkdirSync(join(outside, 'deep'), { recursive: true });
    writeFileSync(join(outside, 'secret.xml'), 'secret');
    writeFileSync(join(outside, 'deep/secret.xml'), 'secret');
    writeFileSync(join(outside, 'secret.tar.gz'), 'secret');
    return { dir, outside };
  }

  it('collects the pattern matches and the artifacts directory, and follows no link of any kind', async () => {
    const { dir, outside } = workdir('links');
    writeFileSync(join(dir, 'dist/app-1.0.tar.gz'), 'tarball');
    writeFileSync(join(dir, 'dist/.hidden.tar.gz'), 'dot file');
    writeFileSync(join(dir, 'reports/unit/a.xml'), '<a/>');
    writeFileSync(join(dir, 'reports/b.xml'), '<b/>');
    symlinkSync('/etc/passwd', join(dir, 'dist/passwd.tar.gz'));
    symlinkSync(join(outside, 'secret.tar.gz'), join(dir, 'dist/secret.tar.gz'));
    symlinkSync(outside, join(dir, 'reports/linked'));
    symlinkSync(outside, join(dir, 'linkdir'));
    mkdirSync(join(artifactsDirOf(dir), 'notes'));
    writeFileSync(join(artifactsDirOf(dir), 'notes/summary.txt'), 'summary');
    symlinkSync('/etc/passwd', join(artifactsDirOf(dir), 'passwd'));
    symlinkSync(outside, join(artifactsDirOf(dir), 'outside'));

    const result = await collectArtifacts(dir, ['dist/*.tar.gz', 'reports/**/*.xml', 'linkdir/*.xml', 'linkdir/deep/secret.xml', 'reports/linked/secret.xml'], { maxBytes: 1 << 20 });
    assert.deepEqual(
      result.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
      [
        { path: 'notes/summary.txt', size: 7, sha256: sha('summary') },
        { path: 'dist/app-1.0.tar.gz', size: 7, sha256: sha('tarball') },
        { path: 'reports/b.xml', size: 4, sha256: sha('<b/>') },
        { path: 'reports/unit/a.xml', size: 4, sha256: sha('<a/>') },
      ],
    );
    assert.equal(result.files[0].absolutePath, join(artifactsDirOf(dir), 'notes/summary.txt'));
    // Named when met; never read.
    for (const skipped of result.skipped) assert.match(skipped.reason, /symbolic link/);
    assert.ok(result.skipped.some((s) => s.path === 'passwd'));
    assert.ok(result.skipped.some((s) => s.path === 'outside'));
    assert.ok(!result.files.some((f) => f.sha256 === sha('secret')), 'nothing from outside the work directory');
  });

  it('skips what would pass the size limit, naming it, and keeps smaller files after it', async () => {
    const { dir } = workdir('limit');
    writeFileSync(join(dir, 'a.bin'), Buffer.alloc(600));
    writeFileSync(join(dir, 'b.bin'), Buffer.alloc(600));
    writeFileSync(join(dir, 'c.bin'), Buffer.alloc(300));
    const result = await collectArtifacts(dir, ['*.bin'], { maxBytes: 1000 });
    assert.deepEqual(result.files.map((f) => f.path), ['a.bin', 'c.bin']);
    assert.deepEqual(result.skipped, [{ path: 'b.bin', size: 600, reason: "it would take the run's artifacts past ENDERCOMPUTE_MAX_ARTIFACT_BYTES (1000 bytes)" }]);
    const capped = await collectArtifacts(dir, ['*.bin'], { maxBytes: 1 << 20, maxFiles: 2 });
    assert.deepEqual(capped.skipped.map((s) => [s.path, s.reason]), [['c.bin', 'more than 2 artifacts in one run']]);
  });

  it('collects nothing from a directory that is gone, and nothing the runner put there itself', async () => {
    assert.deepEqual(await collectArtifacts(join(root, 'nowhere'), ['**'], { maxBytes: 100 }), { files: [], skipped: [] });
    const { dir } = workdir('own');
    mkdirSync(join(dir, '.endercompute-home'));
    writeFileSync(join(dir, '.endercompute-home/.bashrc'), 'x');
    writeFileSync(join(dir, '.endercompute-script.sh'), 'echo');
    writeFileSync(join(dir, 'out.txt'), 'out');
    const result = await collectArtifacts(dir, ['**', '.endercompute-*', '.endercompute-home/**'], { maxBytes: 100 });
    assert.deepEqual(result.files.map((f) => f.path), ['out.txt']);
  });
});
