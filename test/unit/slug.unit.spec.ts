/** Job names become folder names: hostile names must still give a safe, readable slug. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { slugify } from '../../src/shared/slug';

/** What every slug must be, whatever the name. */
function assertSafe(slug: string): void {
  assert.match(slug, /^[a-z0-9]+(-[a-z0-9]+)*$/);
  assert.ok(slug.length >= 1 && slug.length <= 60, `length ${slug.length}`);
  assert.notEqual(slug, '.');
  assert.notEqual(slug, '..');
}

describe('slugify', () => {
  it('keeps a plain name readable', () => {
    assert.equal(slugify('Nightly Tests'), 'nightly-tests');
    assert.equal(slugify('build_and_deploy v2.1'), 'build-and-deploy-v2-1');
    assert.equal(slugify('a--b__c'), 'a-b-c');
  });

  it('turns accented letters and compatibility forms into ASCII', () => {
    assert.equal(slugify('Ångström Nightly Build'), 'angstrom-nightly-build');
    assert.equal(slugify('ﬁle'), 'file');
    assert.equal(slugify('İstanbul'), 'istanbul');
  });

  it('never gives a path: dots and slashes vanish', () => {
    for (const [name, slug] of [
      ['../..', 'job'],
      ['.', 'job'],
      ['..', 'job'],
      ['/', 'job'],
      ['abc/../../etc/passwd', 'abc-etc-passwd'],
      ['..\\..\\windows', 'windows'],
    ] as const) {
      assert.equal(slugify(name), slug, name);
      assertSafe(slugify(name));
    }
  });

  it('falls back to "job" when nothing usable is left', () => {
    for (const name of ['', '   ', '---', '🚀🔥', '日本語', '\0\n\t', '\u0301']) {
      assert.equal(slugify(name), 'job', JSON.stringify(name));
    }
  });

  it('strips markup characters', () => {
    assert.equal(slugify('<script>alert(1)</script>'), 'script-alert-1-script');
    assert.equal(slugify('"; rm -rf / #'), 'rm-rf');
    assert.equal(slugify('$(whoami)`id`'), 'whoami-id');
  });

  it('cuts very long names to 60 characters, never ending in a dash', () => {
    assert.equal(slugify('a'.repeat(1000)), 'a'.repeat(60));
    assert.equal(slugify(`${'x'.repeat(59)}-y`), 'x'.repeat(59));
    assert.equal(slugify(`${'x'.repeat(58)}  yz`), `${'x'.repeat(58)}-y`);
    assert.equal(slugify('ab '.repeat(500)).length, 59);
    assertSafe(slugify('ab '.repeat(500)));
  });

  it('is safe for a range of hostile names', () => {
    for (const name of ['../..', '', '🚀', '<script>', 'x'.repeat(10_000), ' -a- ', 'CON', 'NUL.txt', '%2e%2e%2f', '\u202Eevil', 'ａｂｃ']) {
      assertSafe(slugify(name));
    }
    assert.equal(slugify('ａｂｃ'), 'abc');
    assert.equal(slugify('%2e%2e%2f'), '2e-2e-2f');
  });
});
