/** ENDERCOMPUTE_RUNNER_TOKENS and ENDERCOMPUTE_RUNNER_LOST_SECONDS, as the server reads them at start. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/app-config';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('ENDERCOMPUTE_RUNNER_TOKENS', () => {
  it('is empty by default, and reads name=token pairs separated by commas (spaces around them ignored)', () => {
    assert.deepEqual(loadConfig({}).runnerTokens, []);
    const config = loadConfig({ ENDERCOMPUTE_RUNNER_TOKENS: ' linux-1=aaaaaaaaaaaaaaaa1 , mac.build_2 = bbbbbbbbbbbbbbbb=2,' });
    assert.deepEqual(config.runnerTokens, [
      { name: 'linux-1', token: 'aaaaaaaaaaaaaaaa1' },
      { name: 'mac.build_2', token: 'bbbbbbbbbbbbbbbb=2' },
    ]);
  });

  it('names every bad entry by its position, never echoing a token', () => {
    const secret = 'secret-token-0123456789';
    const problems = problemsOf({
      ENDERCOMPUTE_KEY: 'the-shared-key-0123456789',
      ENDERCOMPUTE_RUNNER_TOKENS: ['no-token', 'short=abc', `schedule=${secret}`, `ok=${secret}`, `ok=${secret}x`, `other=${secret}`, 'dup=the-shared-key-0123456789', `sp=has space ${secret}`].join(','),
    });
    assert.deepEqual(
      problems.map((problem) => problem.replace(/ must be name=TOKEN.*/, ' is malformed')),
      [
        'ENDERCOMPUTE_RUNNER_TOKENS entry 1 is malformed',
        'ENDERCOMPUTE_RUNNER_TOKENS entry 2 is malformed',
        'ENDERCOMPUTE_RUNNER_TOKENS entry 3 is malformed',
        'ENDERCOMPUTE_RUNNER_TOKENS entry 5 names the runner "ok" again: each runner once',
        'ENDERCOMPUTE_RUNNER_TOKENS entry 6 repeats the token of an earlier entry: each runner needs its own token',
        'ENDERCOMPUTE_RUNNER_TOKENS entry 7 uses the same token as ENDERCOMPUTE_KEY, ENDERCOMPUTE_KEYS or ENDERCOMPUTE_METRICS_TOKEN: a runner token must be its own',
        'ENDERCOMPUTE_RUNNER_TOKENS entry 8 is malformed',
      ],
    );
    const text = problems.join('\n');
    assert.ok(!text.includes(secret) && !text.includes('abc') && !text.includes('the-shared-key'), 'no token echoed');
  });

  it('refuses a token that is also a named key or the metrics token', () => {
    for (const env of [{ ENDERCOMPUTE_KEYS: 'alice=alice-key-0123456789' }, { ENDERCOMPUTE_METRICS_TOKEN: 'alice-key-0123456789' }]) {
      const problems = problemsOf({ ...env, ENDERCOMPUTE_RUNNER_TOKENS: 'r1=alice-key-0123456789' });
      assert.equal(problems.length, 1);
      assert.match(problems[0], /entry 1 uses the same token as/);
    }
  });
});

describe('ENDERCOMPUTE_RUNNER_LOST_SECONDS', () => {
  it('is 120 by default and a whole number of seconds from 1 to 86400', () => {
    assert.equal(loadConfig({}).runnerLostSeconds, 120);
    assert.equal(loadConfig({ ENDERCOMPUTE_RUNNER_LOST_SECONDS: '5' }).runnerLostSeconds, 5);
    assert.deepEqual(problemsOf({ ENDERCOMPUTE_RUNNER_LOST_SECONDS: '0' }), ['ENDERCOMPUTE_RUNNER_LOST_SECONDS must be a whole number from 1 to 86400, not "0"']);
  });
});
