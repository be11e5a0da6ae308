/**
 * The pure parts of artifacts: the header a hostile file name gets, byte ranges, the
 * CLI's refusal of paths that would leave its download directory, and the rules of
 * artifact patterns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentDisposition, parseRange } from '../../src/artifacts/artifact-http';
import { safeSegments } from '../../src/cli/artifact-download';
import { artifactPatternProblems } from '../../src/runs/runner/artifact-patterns';

describe('Content-Disposition of an artifact', () => {
  it('keeps a plain name and gives every hostile one a harmless ASCII form and its exact UTF-8 form', () => {
    assert.equal(contentDisposition('dist/app-1.0.tar.gz'), `attachment; filename="app-1.0.tar.gz"; filename*=UTF-8''app-1.0.tar.gz`);
    const cases: Array<[string, string]> = [
      ['a"; filename="evil.exe', 'a__ filename=_evil.exe'],
      ['line\r\nSet-Cookie: x=1', 'line__Set-Cookie: x=1'],
      ['back\\slash.txt', 'back_slash.txt'],
      ['100%.txt', '100_.txt'],
      ['rapport é ✓.pdf', 'rapport _ _.pdf'],
    ];
    for (const [name, ascii] of cases) {
      const header = contentDisposition(`reports/${name}`);
      assert.equal(header.split('; filename*=')[0], `attachment; filename="${ascii}"`, name);
      // Nothing a header parser could read as a new header or a second parameter.
      assert.doesNotMatch(header, /[\r\n\0]/);
      assert.equal(decodeURIComponent(header.split("UTF-8''")[1]), name, 'the exact name survives in filename*');
      assert.match(header.split("UTF-8''")[1], /^[A-Za-z0-9%._~!-]*$/);
    }
  });
});

describe('Range of an artifact', () => {
  it('reads one range of the forms a-b, a- and -n, ignores what it cannot read, and says when none fits', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'part', start: 0, end: 10 });
    assert.deepEqual(parseRange('bytes=90-200', 100), { kind: 'part', start: 90, end: 100 }, 'an end past the file is cut to it');
    assert.deepEqual(parseRange('bytes=95-', 100), { kind: 'part', start: 95, end: 100 });
    assert.deepEqual(parseRange('bytes=-5', 100), { kind: 'part', start: 95, end: 100 });
    assert.deepEqual(parseRange('bytes=-500', 100), { kind: 'part', start: 0, end: 100 });
    assert.deepEqual(parseRange(undefined, 100), { kind: 'whole' });
    for (const ignored of ['bytes=0-1,5-6', 'items=0-1', 'bytes=x-y', 'bytes=-']) assert.deepEqual(parseRange(ignored, 100), { kind: 'whole' }, ignored);
    for (const unsatisfiable of ['bytes=100-', 'bytes=150-160', 'bytes=-0', 'bytes=9-3']) assert.deepEqual(parseRange(unsatisfiable, 100), { kind: 'unsatisfiable' }, unsatisfiable);
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' }, 'an empty file has no byte to send');
  });
});

describe('paths the CLI writes under its download directory', () => {
  it('takes plain relative paths and refuses every path that could leave the directory', () => {
    assert.deepEqual(safeSegments('dist/app-1.0.tar.gz'), ['dist', 'app-1.0.tar.gz']);
    assert.deepEqual(safeSegments('..hidden/a..b'), ['..hidden', 'a..b']);
    for (const bad of ['/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', '', 'a\\..\\b', 'x\0y', 'a/']) {
      assert.throws(() => safeSegments(bad), /not a plain relative path/, JSON.stringify(bad));
    }
  });
});

describe('artifact patterns', () => {
  it('accepts relative globs and names each refused one', () => {
    assert.deepEqual(artifactPatternProblems(['dist/*.tar.gz', 'reports/**/*.xml', '{a,b}/x?.txt', 'a..b/*']), []);
    assert.deepEqual(artifactPatternProblems(['/abs', '~/x', '..', 'a/../b', '!x', '', 'a\0b', 7]), [
      'artifacts: pattern "/abs" must be relative to the work directory, not an absolute path',
      'artifacts: pattern "~/x" must be relative to the work directory, not an absolute path',
      'artifacts: pattern ".." must not contain ".." (it would reach outside the work directory)',
      'artifacts: pattern "a/../b" must not contain ".." (it would reach outside the work directory)',
      'artifacts: pattern "!x" must not start with "!" (negated patterns are not supported)',
      'artifacts: a pattern must not be empty',
      'artifacts: pattern "a\\u0000b" contains a NUL character',
      'artifacts: each pattern must be a string',
    ]);
    assert.deepEqual(artifactPatternProblems(Array.from({ length: 51 }, () => 'x')), ['artifacts: at most 50 patterns']);
    assert.deepEqual(artifactPatternProblems('dist/*'), ['artifacts must be a list of glob patterns']);
  });
});
