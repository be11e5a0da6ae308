/** Pure HTTP input checks: environment maps, input file names and If-Match headers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIfMatch } from '../../src/http/etag';
import { envProblems, fileNameProblems, MAX_ENV_VALUE, MAX_ENV_VARS } from '../../src/http/validators';
import { ValidationError } from '../../src/shared/domain-errors';

describe('envProblems', () => {
  it('accepts an empty map and ordinary variables', () => {
    assert.deepStrictEqual(envProblems({}), []);
    assert.deepStrictEqual(envProblems({ CI: '1', _private: '', lower_case9: 'x y', PATH: '/opt/bin' }), []);
  });

  it('refuses anything but a plain object', () => {
    for (const value of [null, undefined, [], ['A=1'], 'A=1', 42, true]) {
      assert.deepStrictEqual(envProblems(value), ['must be an object of NAME: "value" pairs'], JSON.stringify(value));
    }
  });

  it('refuses invalid names', () => {
    for (const name of ['1A', 'A-B', 'A B', 'A=B', '', 'Ä', 'A\0']) {
      assert.deepStrictEqual(
        envProblems({ [name]: 'x' }),
        [`"${name}" is not a valid variable name (letters, digits and _, not starting with a digit)`],
        JSON.stringify(name),
      );
    }
  });

  it('accepts names up to 128 characters and refuses longer ones, quoting only 40', () => {
    assert.deepStrictEqual(envProblems({ [`B${'x'.repeat(127)}`]: '1' }), []);
    assert.deepStrictEqual(envProblems({ [`B${'x'.repeat(128)}`]: '1' }), [
      `"B${'x'.repeat(39)}" is not a valid variable name (letters, digits and _, not starting with a digit)`,
    ]);
  });

  it('refuses ENDERCOMPUTE_* names in any case', () => {
    assert.deepStrictEqual(envProblems({ ENDERCOMPUTE_RUN_ID: 'x' }), ['ENDERCOMPUTE_RUN_ID is reserved: ENDERCOMPUTE_* variables are set by EnderCompute']);
    assert.deepStrictEqual(envProblems({ endercompute_job: 'x' }), ['endercompute_job is reserved: ENDERCOMPUTE_* variables are set by EnderCompute']);
    assert.deepStrictEqual(envProblems({ ENDERCOMPUTE: 'x', MY_ENDERCOMPUTE_X: 'y' }), []);
  });

  it('refuses values that are not strings, contain NUL or are too long', () => {
    assert.deepStrictEqual(envProblems({ A: 1 }), ['A must be a string']);
    assert.deepStrictEqual(envProblems({ A: null }), ['A must be a string']);
    assert.deepStrictEqual(envProblems({ A: 'a\0b' }), ['A must not contain NUL characters']);
    assert.deepStrictEqual(envProblems({ A: 'x'.repeat(MAX_ENV_VALUE) }), []);
    assert.deepStrictEqual(envProblems({ A: 'x'.repeat(MAX_ENV_VALUE + 1) }), ['A must be at most 32768 characters']);
  });

  it('accepts 200 variables and refuses 201', () => {
    const vars = (count: number): Record<string, string> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`V${i}`, 'x']));
    assert.equal(MAX_ENV_VARS, 200);
    assert.deepStrictEqual(envProblems(vars(200)), []);
    assert.deepStrictEqual(envProblems(vars(201)), ['must have at most 200 variables']);
  });

  it('reports every problem at once', () => {
    assert.deepStrictEqual(envProblems({ '1bad': 5, OK: 'fine', ENDERCOMPUTE_X: 'a\0' }), [
      '"1bad" is not a valid variable name (letters, digits and _, not starting with a digit)',
      '1bad must be a string',
      'ENDERCOMPUTE_X is reserved: ENDERCOMPUTE_* variables are set by EnderCompute',
      'ENDERCOMPUTE_X must not contain NUL characters',
    ]);
  });
});

describe('fileNameProblems', () => {
  it('accepts plain names, hidden files and dots inside names', () => {
    for (const name of ['data.csv', '.hidden', '..x', 'x..', 'a b.txt', 'résumé.pdf', '🚀.txt', 'x'.repeat(255), 'script']) {
      assert.deepStrictEqual(fileNameProblems(name), [], JSON.stringify(name));
    }
  });

  it('refuses an empty name', () => {
    assert.deepStrictEqual(fileNameProblems(''), ['the file name is empty']);
  });

  it('refuses a NUL character', () => {
    assert.deepStrictEqual(fileNameProblems('a\0b'), ['the file name contains a NUL character']);
    assert.deepStrictEqual(fileNameProblems('../\0'), ['the file name contains a NUL character']);
  });

  it('refuses paths, relative, absolute or with backslashes', () => {
    assert.deepStrictEqual(fileNameProblems('../x'), ['"../x" is a path: give a plain file name']);
    assert.deepStrictEqual(fileNameProblems('/x'), ['"/x" is a path: give a plain file name']);
    assert.deepStrictEqual(fileNameProblems('a/b'), ['"a/b" is a path: give a plain file name']);
    assert.deepStrictEqual(fileNameProblems('x/'), ['"x/" is a path: give a plain file name']);
    assert.deepStrictEqual(fileNameProblems('..\\x'), ['"..\\x" is a path: give a plain file name']);
  });

  it('refuses . and ..', () => {
    assert.deepStrictEqual(fileNameProblems('.'), ['"." is not a file name']);
    assert.deepStrictEqual(fileNameProblems('..'), ['".." is not a file name']);
  });

  it('refuses control characters, showing them as ?', () => {
    assert.deepStrictEqual(fileNameProblems('a\nb'), ['"a?b" contains control characters']);
    assert.deepStrictEqual(fileNameProblems('a\x01\x1fb'), ['"a??b" contains control characters']);
    assert.deepStrictEqual(fileNameProblems('tab\there'), ['"tab?here" contains control characters']);
    assert.deepStrictEqual(fileNameProblems('del\x7f'), ['"del?" contains control characters']);
  });

  it('refuses names over 255 bytes, counting UTF-8 bytes', () => {
    assert.deepStrictEqual(fileNameProblems('x'.repeat(256)), ['the file name is longer than 255 bytes']);
    assert.deepStrictEqual(fileNameProblems('é'.repeat(128)), ['the file name is longer than 255 bytes']);
    assert.deepStrictEqual(fileNameProblems(`${'é'.repeat(127)}x`), []);
  });

  it('refuses names reserved for EnderCompute', () => {
    assert.deepStrictEqual(fileNameProblems('.endercompute'), ['".endercompute" is reserved for EnderCompute\'s own files']);
    assert.deepStrictEqual(fileNameProblems('.endercompute-script.sh'), ['".endercompute-script.sh" is reserved for EnderCompute\'s own files']);
    assert.deepStrictEqual(fileNameProblems('x.endercompute'), []);
  });
});

describe('parseIfMatch', () => {
  it('reads "3", W/"3" and 3 as version 3, which is revision 2 (versions start at 1)', () => {
    assert.equal(parseIfMatch('"3"'), 2n);
    assert.equal(parseIfMatch('W/"3"'), 2n);
    assert.equal(parseIfMatch('3'), 2n);
    assert.equal(parseIfMatch('  "17"  '), 16n);
    assert.equal(parseIfMatch('"1"'), 0n);
  });

  it('refuses version 0, which no resource has', () => {
    for (const header of ['"0"', '0', 'W/"0"', '"000"']) {
      assert.throws(() => parseIfMatch(header), (error: unknown) => error instanceof ValidationError && /versions start at 1/.test(error.message), header);
    }
  });

  it('reads versions up to 15 digits', () => {
    assert.equal(parseIfMatch('"999999999999999"'), 999_999_999_999_998n);
  });

  it('means no precondition when absent, blank or *', () => {
    assert.equal(parseIfMatch(undefined), undefined);
    assert.equal(parseIfMatch(''), undefined);
    assert.equal(parseIfMatch('   '), undefined);
    assert.equal(parseIfMatch('*'), undefined);
    assert.equal(parseIfMatch(' * '), undefined);
  });

  it('refuses anything else with a ValidationError quoting the header', () => {
    for (const header of ['abc', '-1', '"3", "4"', '"1.5"', 'W/"abc"', '"1234567890123456"', 'w/"3"', '""']) {
      assert.throws(
        () => parseIfMatch(header),
        (error: unknown) => {
          assert.ok(error instanceof ValidationError, String(error));
          assert.match(error.message, /^If-Match: must be a version such as "3" \(the ETag you received\), not /);
          assert.ok(error.message.endsWith(JSON.stringify(header)), error.message);
          return true;
        },
        header,
      );
    }
  });

  it('quotes at most 40 characters of a long header', () => {
    const header = 'x'.repeat(500);
    assert.throws(() => parseIfMatch(header), (error: unknown) => error instanceof ValidationError && error.message.endsWith(`not "${'x'.repeat(40)}"`));
  });
});
