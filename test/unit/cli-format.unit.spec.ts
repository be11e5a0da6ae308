import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { shellWord } from '../../src/cli/format';

describe('shellWord: a value the CLI prints for a person to paste back into a shell', () => {
  it('stays bare when the shell reads it as it is, and is quoted so that bash reads it back exactly otherwise', () => {
    assert.equal(shellWord('release-build_2.0'), 'release-build_2.0');
    assert.equal(shellWord('a@b:c,d=e+f%g/h'), 'a@b:c,d=e+f%g/h');
    // `=ls` is bare-safe in bash but zsh expands it to a path: quoted too.
    for (const value of ['release build', "carol's job", '$(rm -rf ~)', '`id`', 'a;b', '*', '', 'tab\there', "'", 'ünïcode', '=ls', '~root']) {
      const word = shellWord(value);
      assert.notEqual(word, value, `${JSON.stringify(value)} is quoted`);
      // What bash makes of it: printf prints the one argument it got.
      assert.equal(execFileSync('bash', ['--norc', '--noprofile', '-c', `printf %s ${word}`], { encoding: 'utf8' }), value);
    }
  });
});
