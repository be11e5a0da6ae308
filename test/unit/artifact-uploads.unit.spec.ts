/**
 * The list a job server announces (runner protocol, `POST /api/runner/runs/:id/artifacts`):
 * every malformed entry named, and the server's own ENDERCOMPUTE_MAX_ARTIFACT_BYTES
 * applied whatever the job server decided.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkedList } from '../../src/artifacts/artifact-uploads';
import { ValidationError } from '../../src/shared/domain-errors';

const SHA = 'a'.repeat(64);

describe('an announced artifact list', () => {
  it('keeps files within the server’s limit in the order given and names the rest as skipped', () => {
    const checked = checkedList(
      {
        files: [
          { path: 'dist/a.tar.gz', size: 600, sha256: SHA },
          { path: 'dist/b.tar.gz', size: 600, sha256: 'b'.repeat(64) },
          { path: 'c.txt', size: 400, sha256: 'c'.repeat(64) },
        ],
        skipped: [{ path: 'link', size: 0, reason: 'it is a symbolic link (links are never followed)' }],
      },
      1000,
    );
    assert.deepEqual(checked.files.map((file) => file.path), ['dist/a.tar.gz', 'c.txt']);
    assert.deepEqual(checked.skipped, [
      { path: 'link', size: 0, reason: 'it is a symbolic link (links are never followed)' },
      { path: 'dist/b.tar.gz', size: 600, reason: "it would take the run's artifacts past ENDERCOMPUTE_MAX_ARTIFACT_BYTES (1000 bytes)" },
    ]);
  });

  it('refuses every malformed entry at once, naming each', () => {
    const problems = (body: unknown): string[] => {
      try {
        checkedList(body, 1000);
      } catch (error) {
        assert.ok(error instanceof ValidationError);
        return error.problems;
      }
      assert.fail('accepted');
    };
    assert.deepEqual(problems(null), ['the body must be {files: [{path, size, sha256}], skipped: [{path, size, reason}]}']);
    const found = problems({
      files: [
        { path: '/etc/passwd', size: 1, sha256: SHA },
        { path: 'a/../b', size: 1, sha256: SHA },
        { path: 'ok.txt', size: -1, sha256: 'XYZ' },
        { path: 'ok.txt', size: 1, sha256: SHA },
        { path: 'nul\0', size: 1, sha256: SHA },
      ],
      skipped: [{ path: 'x', size: 'big', reason: 'why' }],
    });
    assert.deepEqual(found, [
      'files[0].path must be a plain relative path (no leading /, no empty, . or .. parts)',
      'files[1].path must be a plain relative path (no leading /, no empty, . or .. parts)',
      'files[2].sha256 must be 64 lower-case hex digits',
      'files[2].size must be a whole number of bytes from 0',
      'files[3].path ok.txt is listed twice',
      'files[4].path must not hold NUL or a backslash',
      'skipped[0] must be {path, size, reason} (a path of at most 1024 characters, a whole size from 0, a reason of at most 1000 characters)',
    ]);
  });
});
