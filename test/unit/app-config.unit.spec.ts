/** loadConfig with a given environment object: defaults, every problem at once, named keys, no key in errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/app-config';

const KEY_A = 'alice-key-0123456789';
const KEY_B = 'bob-key-abcdefghijkl';

function configError(env: NodeJS.ProcessEnv): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.name, 'ConfigError');
  assert.equal(caught.message, `Invalid configuration:\n  - ${caught.problems.join('\n  - ')}`);
  return caught;
}

describe('loadConfig', () => {
  it('has a default for everything', () => {
    const config = loadConfig({});
    const dataDir = resolve('./data');
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.dataDir, dataDir);
    assert.equal(config.fixedKey, null);
    assert.deepStrictEqual(config.namedKeys, []);
    assert.equal(config.eventStoreConnectionString, null);
    assert.equal(config.maxConcurrentRuns, 4);
    assert.equal(config.runnerId, `${hostname()}#${createHash('sha256').update(dataDir).digest('hex').slice(0, 6)}`);
    assert.equal(config.maxOutputBytes, 256 * 1024 * 1024);
    assert.equal(config.maxFileBytes, 64 * 1024 * 1024);
    assert.match(config.version, /^\d+\.\d+\.\d+/);
  });

  it('treats blank values as absent', () => {
    const config = loadConfig({
      PORT: '  ',
      HOST: ' ',
      ENDERCOMPUTE_DATA_DIR: '',
      ENDERCOMPUTE_KEY: '   ',
      ENDERCOMPUTE_KEYS: ' , ,',
      EVENTSTORE_CONNECTION_STRING: '',
      ENDERCOMPUTE_RUNNER_ID: ' ',
    });
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.dataDir, resolve('./data'));
    assert.equal(config.fixedKey, null);
    assert.deepStrictEqual(config.namedKeys, []);
    assert.equal(config.eventStoreConnectionString, null);
    assert.match(config.runnerId, /#[0-9a-f]{6}$/);
  });

  it('reads every setting, trimmed', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: ' 0.0.0.0 ',
      ENDERCOMPUTE_DATA_DIR: '/var/lib/endercompute',
      ENDERCOMPUTE_KEY: `  ${KEY_A}  `,
      EVENTSTORE_CONNECTION_STRING: ' esdb://localhost:2113?tls=false ',
      ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '16',
      ENDERCOMPUTE_RUNNER_ID: ' runner-1 ',
      ENDERCOMPUTE_MAX_OUTPUT_BYTES: '1024',
      ENDERCOMPUTE_MAX_FILE_BYTES: '1073741824',
    });
    assert.equal(config.port, 8080);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.dataDir, '/var/lib/endercompute');
    assert.equal(config.fixedKey, KEY_A);
    assert.equal(config.eventStoreConnectionString, 'esdb://localhost:2113?tls=false');
    assert.equal(config.maxConcurrentRuns, 16);
    assert.equal(config.runnerId, 'runner-1');
    assert.equal(config.maxOutputBytes, 1024);
    assert.equal(config.maxFileBytes, 1024 * 1024 * 1024);
  });

  it('gives two data directories on one host different runner ids', () => {
    assert.notEqual(loadConfig({ ENDERCOMPUTE_DATA_DIR: '/srv/a' }).runnerId, loadConfig({ ENDERCOMPUTE_DATA_DIR: '/srv/b' }).runnerId);
    assert.equal(loadConfig({ ENDERCOMPUTE_DATA_DIR: '/srv/a' }).runnerId, loadConfig({ ENDERCOMPUTE_DATA_DIR: '/srv/a/' }).runnerId);
  });

  it('accepts the bounds of every number', () => {
    assert.equal(loadConfig({ PORT: '0' }).port, 0);
    assert.equal(loadConfig({ PORT: '65535' }).port, 65535);
    assert.equal(loadConfig({ ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' }).maxConcurrentRuns, 1);
    assert.equal(loadConfig({ ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1024' }).maxConcurrentRuns, 1024);
    assert.equal(loadConfig({ ENDERCOMPUTE_MAX_FILE_BYTES: '1' }).maxFileBytes, 1);
  });

  it('reports every invalid value at once, in one ConfigError', () => {
    const error = configError({
      PORT: '70000',
      ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '0',
      ENDERCOMPUTE_MAX_OUTPUT_BYTES: '1023',
      ENDERCOMPUTE_MAX_FILE_BYTES: '1.5',
      ENDERCOMPUTE_KEY: 'too-short',
    });
    assert.deepStrictEqual(error.problems, [
      'ENDERCOMPUTE_KEY must be at least 16 characters long',
      'PORT must be a whole number from 0 to 65535, not "70000"',
      'ENDERCOMPUTE_MAX_CONCURRENT_RUNS must be a whole number from 1 to 1024, not "0"',
      `ENDERCOMPUTE_MAX_OUTPUT_BYTES must be a whole number from 1024 to ${Number.MAX_SAFE_INTEGER}, not "1023"`,
      'ENDERCOMPUTE_MAX_FILE_BYTES must be a whole number from 1 to 1073741824, not "1.5"',
    ]);
  });

  it('refuses numbers that are not whole numbers', () => {
    for (const raw of ['abc', '3000abc', '-1', '1.5', 'NaN', 'Infinity']) {
      assert.deepStrictEqual(configError({ PORT: raw }).problems, [`PORT must be a whole number from 0 to 65535, not "${raw}"`], raw);
    }
  });

  describe('named keys', () => {
    it('reads name=KEY pairs separated by commas, trimmed', () => {
      const config = loadConfig({ ENDERCOMPUTE_KEYS: ` alice = ${KEY_A} ,bob=${KEY_B},` });
      assert.deepStrictEqual(config.namedKeys, [
        { name: 'alice', key: KEY_A },
        { name: 'bob', key: KEY_B },
      ]);
    });

    it('keeps = signs inside the key and spaces inside the name', () => {
      const config = loadConfig({ ENDERCOMPUTE_KEYS: `CI bot=${KEY_A}==` });
      assert.deepStrictEqual(config.namedKeys, [{ name: 'CI bot', key: `${KEY_A}==` }]);
    });

    it('accepts a 64-character name and refuses a 65-character one', () => {
      assert.equal(loadConfig({ ENDERCOMPUTE_KEYS: `${'n'.repeat(64)}=${KEY_A}` }).namedKeys[0]?.name, 'n'.repeat(64));
      assert.equal(configError({ ENDERCOMPUTE_KEYS: `${'n'.repeat(65)}=${KEY_A}` }).problems.length, 1);
    });

    it('refuses entries without a name, without =, or with a short key', () => {
      const error = configError({ ENDERCOMPUTE_KEYS: `=${KEY_A}` });
      assert.deepStrictEqual(error.problems, [
        'ENDERCOMPUTE_KEYS entry 1 must be name=KEY with a 1–64 character name (no control or invisible characters) and a key of at least 16 characters',
      ]);
      assert.equal(configError({ ENDERCOMPUTE_KEYS: KEY_A }).problems.length, 1);
      assert.equal(configError({ ENDERCOMPUTE_KEYS: 'carol=short-key' }).problems.length, 1);
      assert.equal(configError({ ENDERCOMPUTE_KEYS: `tab\tname=${KEY_A}` }).problems.length, 1);
    });

    it('refuses names with invisible characters, and keeps names in NFC (a key name is an actor)', () => {
      for (const name of ['zero\u200bwidth', 'rtl\u202eevil', 'half\ud800']) {
        assert.equal(configError({ ENDERCOMPUTE_KEYS: `${name}=${KEY_A}` }).problems.length, 1, name);
      }
      assert.equal(loadConfig({ ENDERCOMPUTE_KEYS: `Zoe\u0308=${KEY_A}` }).namedKeys[0]?.name, 'Zo\u00eb');
    });

    it('numbers a bad entry by its place in the list', () => {
      const error = configError({ ENDERCOMPUTE_KEYS: `alice=${KEY_A},carol=short` });
      assert.match(error.problems[0] ?? '', /^ENDERCOMPUTE_KEYS entry 2 must be name=KEY/);
    });

    it(
      'numbers a bad entry by its place in the list, also after another bad entry',

      () => {
        const error = configError({ ENDERCOMPUTE_KEYS: `dave=short,alice=${KEY_A},carol=short` });
        assert.deepStrictEqual(
          error.problems.map((problem) => /entry (\d+)/.exec(problem)?.[1]),
          ['1', '3'],
        );
      },
    );
  });

  it('never puts a key in the error message', () => {
    const shortShared = 'sharedsecret-9';
    const secrets = ['xyzzy-secret', 'plugh-secret-7', KEY_B, 'lonelyKeyWithoutName-123', shortShared];
    const error = configError({
      ENDERCOMPUTE_KEY: shortShared,
      ENDERCOMPUTE_KEYS: `alice=xyzzy-secret,bob=plugh-secret-7,=${KEY_B},lonelyKeyWithoutName-123`,
      PORT: 'nope',
    });
    assert.equal(error.problems.length, 6);
    for (const secret of secrets) {
      assert.ok(!error.message.includes(secret), `the message reveals ${secret}`);
      assert.ok(!error.problems.some((problem) => problem.includes(secret)), `a problem reveals ${secret}`);
      assert.ok(!String(error.stack).includes(secret), `the stack reveals ${secret}`);
    }
    assert.ok(error.message.includes('PORT must be a whole number from 0 to 65535, not "nope"'));
  });
});
