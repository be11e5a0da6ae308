/** loadConfig with a given environment object: defaults, every problem at once, named keys, no key in errors. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/app-config';
import { hasCredentials, redactConnectionString } from '../../src/config/connection-string';

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
    assert.deepStrictEqual(config.secretPaths, []);
    assert.equal(config.newLog, false);
    assert.equal(config.maxOutputBytes, 256 * 1024 * 1024);
    assert.equal(config.maxFileBytes, 64 * 1024 * 1024);
    assert.match(config.version, /^\d+\.\d+\.\d+/);
  });

  it('reads the local runner’s switch and labels: on and unlabelled by default, labels lower case and once each', () => {
    const plain = loadConfig({});
    assert.equal(plain.localRunner, true);
    assert.deepStrictEqual(plain.runnerLabels, []);
    const labelled = loadConfig({ ENDERCOMPUTE_RUNNER_LABELS: ' Linux, gpu ,,linux ', ENDERCOMPUTE_LOCAL_RUNNER: 'true' });
    assert.deepStrictEqual(labelled.runnerLabels, ['linux', 'gpu']);
    assert.equal(labelled.localRunner, true);
    for (const off of ['false', 'FALSE', '0', ' false ']) assert.equal(loadConfig({ ENDERCOMPUTE_LOCAL_RUNNER: off }).localRunner, false, off);
    assert.equal(loadConfig({ ENDERCOMPUTE_LOCAL_RUNNER: '1' }).localRunner, true);
  });

  it('refuses a local runner switch that is not true or false, and labels outside the syntax, naming them', () => {
    const { problems } = configError({ ENDERCOMPUTE_LOCAL_RUNNER: 'no', ENDERCOMPUTE_RUNNER_LABELS: 'linux,has space,ok' });
    assert.deepStrictEqual(problems, [
      'ENDERCOMPUTE_LOCAL_RUNNER must be true or false (or 1, 0), not "no"',
      'ENDERCOMPUTE_RUNNER_LABELS (labels separated by commas): "has space" is not a label (1–64 letters, digits, "-", "_", "." or ":" starting with a letter or digit)',
    ]);
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
      ENDERCOMPUTE_KEEP_WORKDIRS: ' ',
    });
    assert.equal(config.port, 3000);
    assert.equal(config.keepWorkdirs, 10);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.dataDir, resolve('./data'));
    assert.equal(config.fixedKey, null);
    assert.deepStrictEqual(config.namedKeys, []);
    assert.equal(config.eventStoreConnectionString, null);
    assert.ok(config.runnerId.length > 0);
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
      ENDERCOMPUTE_KEEP_WORKDIRS: ' 3 ',
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
    assert.equal(config.keepWorkdirs, 3);
  });

  describe('runner id', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'endercompute-config-'));
    after(() => rmSync(scratch, { recursive: true, force: true }));

    it('makes an id for a data dir without one (as earlier versions derived it), to be kept in <data>/runner-id, and writes nothing itself', () => {
      const dataDir = join(scratch, 'fresh');
      const config = loadConfig({ ENDERCOMPUTE_DATA_DIR: dataDir });
      assert.equal(config.runnerId, `${hostname()}#${createHash('sha256').update(dataDir).digest('hex').slice(0, 6)}`);
      assert.equal(config.runnerIdFile, join(dataDir, 'runner-id'));
      assert.equal(existsSync(join(dataDir, 'runner-id')), false);
      assert.notEqual(loadConfig({ ENDERCOMPUTE_DATA_DIR: join(scratch, 'other') }).runnerId, config.runnerId, 'another data dir, another id');
    });

    it('reads the id kept in <data>/runner-id, whatever the path or host name', () => {
      const dataDir = join(scratch, 'kept');
      mkdirSync(dataDir);
      writeFileSync(join(dataDir, 'runner-id'), 'build-host-0a1b2c3d\n');
      const config = loadConfig({ ENDERCOMPUTE_DATA_DIR: dataDir });
      assert.equal(config.runnerId, 'build-host-0a1b2c3d');
      assert.equal(config.runnerIdFile, null);
    });

    it('prefers ENDERCOMPUTE_RUNNER_ID and then keeps no file', () => {
      const config = loadConfig({ ENDERCOMPUTE_DATA_DIR: join(scratch, 'fresh'), ENDERCOMPUTE_RUNNER_ID: 'runner-7' });
      assert.equal(config.runnerId, 'runner-7');
      assert.equal(config.runnerIdFile, null);
    });

    it('refuses an empty or invalid runner-id file, saying what to do', () => {
      const dataDir = join(scratch, 'bad');
      mkdirSync(dataDir, { recursive: true });
      for (const content of ['', '\n', 'two words\n']) {
        writeFileSync(join(dataDir, 'runner-id'), content);
        const error = configError({ ENDERCOMPUTE_DATA_DIR: dataDir });
        assert.match(error.problems[0] ?? '', new RegExp(`^${join(dataDir, 'runner-id')} holds no valid runner id\\. Restore it from a backup, or delete it`));
      }
      assert.match(configError({ ENDERCOMPUTE_RUNNER_ID: 'has space' }).problems[0] ?? '', /ENDERCOMPUTE_RUNNER_ID must be/);
    });
  });

  describe('EventStoreDB connection string', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'endercompute-config-'));
    after(() => rmSync(scratch, { recursive: true, force: true }));
    const SECRET = 'esdb://admin:s3cr%2Ft@db.example.com:2113?tlsCAFile=/certs/ca.crt';

    it('reads EVENTSTORE_CONNECTION_STRING_FILE, trimmed, and names that file as a secret path', () => {
      const file = join(scratch, 'connection');
      writeFileSync(file, `${SECRET}\n`);
      const config = loadConfig({ EVENTSTORE_CONNECTION_STRING_FILE: ` ${file} ` });
      assert.equal(config.eventStoreConnectionString, SECRET);
      assert.deepStrictEqual(config.secretPaths, [file]);
    });

    it('makes a relative file path absolute', () => {
      const file = join(scratch, 'relative');
      writeFileSync(file, SECRET);
      const config = loadConfig({ EVENTSTORE_CONNECTION_STRING_FILE: relative(process.cwd(), file) });
      assert.deepStrictEqual(config.secretPaths, [file]);
    });

    it('refuses both variables at once, a missing file, an empty one and one of several lines, never quoting the content', () => {
      const file = join(scratch, 'both');
      writeFileSync(file, SECRET);
      assert.deepStrictEqual(configError({ EVENTSTORE_CONNECTION_STRING: SECRET, EVENTSTORE_CONNECTION_STRING_FILE: file }).problems, [
        'Set EVENTSTORE_CONNECTION_STRING or EVENTSTORE_CONNECTION_STRING_FILE, not both',
      ]);
      const missing = join(scratch, 'missing');
      assert.deepStrictEqual(configError({ EVENTSTORE_CONNECTION_STRING_FILE: missing }).problems, [
        `EVENTSTORE_CONNECTION_STRING_FILE: cannot read ${missing} (ENOENT)`,
      ]);
      const empty = join(scratch, 'empty');
      writeFileSync(empty, ' \n');
      assert.match(configError({ EVENTSTORE_CONNECTION_STRING_FILE: empty }).problems[0] ?? '', /is empty; it must hold the connection string$/);
      const lines = join(scratch, 'lines');
      writeFileSync(lines, `${SECRET}\n${SECRET}\n`);
      const error = configError({ EVENTSTORE_CONNECTION_STRING_FILE: lines });
      assert.match(error.problems[0] ?? '', /must hold the connection string on one line$/);
      assert.ok(!error.message.includes('s3cr'));
    });

    it('redacts the credentials exactly where the client would take them from', () => {
      assert.equal(redactConnectionString(SECRET), 'esdb://***@db.example.com:2113?tlsCAFile=/certs/ca.crt');
      assert.equal(redactConnectionString('esdb+discover://ops:pa/ss@cluster:2113'), 'esdb+discover://***@cluster:2113');
      assert.equal(redactConnectionString('esdb://localhost:2113?tls=false'), 'esdb://localhost:2113?tls=false');
      assert.equal(hasCredentials(SECRET), true);
      assert.equal(hasCredentials('esdb://localhost:2113?tls=false'), false);
    });
  });

  it('reads ENDERCOMPUTE_NEW_LOG as a yes or no', () => {
    assert.equal(loadConfig({ ENDERCOMPUTE_NEW_LOG: '1' }).newLog, true);
    assert.equal(loadConfig({ ENDERCOMPUTE_NEW_LOG: 'true' }).newLog, true);
    assert.equal(loadConfig({ ENDERCOMPUTE_NEW_LOG: '0' }).newLog, false);
    assert.match(configError({ ENDERCOMPUTE_NEW_LOG: 'yes please' }).problems[0] ?? '', /^ENDERCOMPUTE_NEW_LOG must be 1 or true/);
  });

  it('accepts the bounds of every number', () => {
    assert.equal(loadConfig({ PORT: '0' }).port, 0);
    assert.equal(loadConfig({ PORT: '65535' }).port, 65535);
    assert.equal(loadConfig({ ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' }).maxConcurrentRuns, 1);
    assert.equal(loadConfig({ ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1024' }).maxConcurrentRuns, 1024);
    assert.equal(loadConfig({ ENDERCOMPUTE_MAX_FILE_BYTES: '1' }).maxFileBytes, 1);
    assert.equal(loadConfig({ ENDERCOMPUTE_KEEP_WORKDIRS: '0' }).keepWorkdirs, 0, 'none kept: every directory goes');
    assert.equal(loadConfig({ ENDERCOMPUTE_KEEP_WORKDIRS: '100000' }).keepWorkdirs, 100_000);
    assert.equal(loadConfig({}).minFreeBytes, 256 * 1024 * 1024, 'the minimum free disk space defaults to 256 MiB');
    assert.equal(loadConfig({ ENDERCOMPUTE_MIN_FREE_BYTES: '0' }).minFreeBytes, 0, 'off');
    assert.equal(loadConfig({ ENDERCOMPUTE_MIN_FREE_BYTES: ' 1073741824 ' }).minFreeBytes, 1024 ** 3);
  });

  it('refuses a minimum free disk space that is not a whole number of bytes', () => {
    for (const raw of ['-1', '1.5', '256M', 'lots']) {
      assert.deepStrictEqual(configError({ ENDERCOMPUTE_MIN_FREE_BYTES: raw }).problems, [
        `ENDERCOMPUTE_MIN_FREE_BYTES must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, not "${raw}"`,
      ]);
    }
  });

  it('reports every invalid value at once, in one ConfigError', () => {
    const error = configError({
      PORT: '70000',
      ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '0',
      ENDERCOMPUTE_MAX_OUTPUT_BYTES: '1023',
      ENDERCOMPUTE_MAX_FILE_BYTES: '1.5',
      ENDERCOMPUTE_KEEP_WORKDIRS: '-1',
      ENDERCOMPUTE_KEY: 'too-short',
    });
    assert.deepStrictEqual(error.problems, [
      'ENDERCOMPUTE_KEY must be at least 16 characters long',
      'PORT must be a whole number from 0 to 65535, not "70000"',
      'ENDERCOMPUTE_MAX_CONCURRENT_RUNS must be a whole number from 1 to 1024, not "0"',
      `ENDERCOMPUTE_MAX_OUTPUT_BYTES must be a whole number from 1024 to ${Number.MAX_SAFE_INTEGER}, not "1023"`,
      'ENDERCOMPUTE_MAX_FILE_BYTES must be a whole number from 1 to 1073741824, not "1.5"',
      'ENDERCOMPUTE_KEEP_WORKDIRS must be a whole number from 0 to 100000, not "-1"',
    ]);
  });

  it('reads ENDERCOMPUTE_MAX_ARTIFACT_BYTES: 1 GiB by default, 0 keeps none, anything but a whole number is refused', () => {
    assert.equal(loadConfig({}).maxArtifactBytes, 1024 * 1024 * 1024);
    assert.equal(loadConfig({ ENDERCOMPUTE_MAX_ARTIFACT_BYTES: '0' }).maxArtifactBytes, 0);
    assert.equal(loadConfig({ ENDERCOMPUTE_MAX_ARTIFACT_BYTES: '5000' }).maxArtifactBytes, 5000);
    assert.deepStrictEqual(configError({ ENDERCOMPUTE_MAX_ARTIFACT_BYTES: '1GiB' }).problems, [
      `ENDERCOMPUTE_MAX_ARTIFACT_BYTES must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, not "1GiB"`,
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

  it('reads ENDERCOMPUTE_KEEP_OUTPUT_DAYS as days above 0, fractions allowed; unset or blank keeps output forever', () => {
    assert.equal(loadConfig({}).keepOutputDays, null);
    assert.equal(loadConfig({ ENDERCOMPUTE_KEEP_OUTPUT_DAYS: ' ' }).keepOutputDays, null);
    assert.equal(loadConfig({ ENDERCOMPUTE_KEEP_OUTPUT_DAYS: '30' }).keepOutputDays, 30);
    assert.equal(loadConfig({ ENDERCOMPUTE_KEEP_OUTPUT_DAYS: ' 0.5 ' }).keepOutputDays, 0.5);
    for (const bad of ['0', '-1', 'forever', '1e3', '36501', '0.0000000000001', '1,5']) {
      assert.match(configError({ ENDERCOMPUTE_KEEP_OUTPUT_DAYS: bad }).message, /ENDERCOMPUTE_KEEP_OUTPUT_DAYS must be a number of days above 0/, bad);
    }
  });
});
