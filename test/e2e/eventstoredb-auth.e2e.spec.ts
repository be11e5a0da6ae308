/**
 * The built server on an EventStoreDB node that requires credentials (the double as a
 * secure node), given the connection string through EVENTSTORE_CONNECTION_STRING_FILE (as
 * a Docker secret would): it runs a job end to end, and its password shows nowhere it
 * prints (start-up banner, health, errors). Without credentials, or with a wrong password,
 * it refuses to start and says what to fix, again without printing the password.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { createJob, getJson, outputOf, requestRun, waitForRun } from '../support/rest';
import { runServerUntilExit } from '../support/server-exit';
import { type ServerProcess, startServer } from '../support/server-process';

const PASSWORD = 'Sup3r-s3cret-pw';

describe('The built server on EventStoreDB requiring credentials', () => {
  let double: EsdbDouble;
  const servers: ServerProcess[] = [];
  const secrets = mkdtempSync(join(tmpdir(), 'endercompute-secrets-'));
  before(async () => {
    double = await startEsdbDouble({ users: { admin: PASSWORD } });
  });
  after(async () => {
    for (const server of servers) {
      await server.kill();
      server.cleanup();
    }
    await double.stop();
    rmSync(secrets, { recursive: true, force: true });
  });

  /** A connection-string file as a secret manager writes it: one line, a trailing newline, mode 0600. */
  function secretFile(name: string, connectionString: string): string {
    const file = join(secrets, name);
    writeFileSync(file, `${connectionString}\n`);
    chmodSync(file, 0o600);
    return file;
  }

  it('runs a job with the connection string read from EVENTSTORE_CONNECTION_STRING_FILE, never printing the password', async () => {
    const file = secretFile('connection', double.connectionStringAs('admin', PASSWORD));
    const server = await startServer({ env: { EVENTSTORE_CONNECTION_STRING_FILE: file } });
    servers.push(server);
    assert.match(server.output(), /Event store: EventStoreDB at esdb:\/\/\*\*\*@127\.0\.0\.1:\d+\?tls=true/);

    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 200);
    const healthText = await health.text();
    assert.equal(JSON.parse(healthText).store, 'eventstoredb');

    const jobId = await createJob(server, 'Secure hello', 'bash', 'echo "hello from $ENDERCOMPUTE_JOB"');
    const run = await waitForRun(server, (await requestRun(server, jobId)).id);
    assert.equal(run.status, 'succeeded');
    assert.equal((await outputOf(server, run.id)).toString(), 'hello from Secure hello\n');
    assert.ok(double.log.length > 0);

    const events = await server.request('/api/events?limit=1000');
    for (const text of [server.output(), healthText, await events.text()]) assert.ok(!text.includes(PASSWORD), 'the password is never shown');
    assert.ok(!JSON.stringify(await getJson<unknown>(server, `/api/runs/${run.id}`)).includes(PASSWORD));
  });

  it('refuses to start without credentials, saying access was denied', async () => {
    const exit = await runServerUntilExit(mkdtempSync(join(secrets, 'data-')), { EVENTSTORE_CONNECTION_STRING_FILE: secretFile('anonymous', double.connectionString) });
    assert.equal(exit.code, 1, exit.stderr);
    assert.match(exit.stderr, /EnderCompute could not start: EventStoreDB refused the .*: access denied: the connection string names no user/);
    assert.doesNotMatch(exit.stderr, /\n\s+at /);
  });

  it('refuses to start with a wrong password, saying so without printing it', async () => {
    const wrong = 'Wr0ng-pw-visible?';
    const exit = await runServerUntilExit(mkdtempSync(join(secrets, 'data-')), { EVENTSTORE_CONNECTION_STRING_FILE: secretFile('wrong', double.connectionStringAs('admin', wrong)) });
    assert.equal(exit.code, 1, exit.stderr);
    assert.match(exit.stderr, /EventStoreDB refused .*: the user name or password in the connection string was not accepted/);
    assert.ok(!`${exit.stdout}${exit.stderr}`.includes(wrong));
  });

  it('reports an invalid connection string without its password, and both variables at once as a configuration error', async () => {
    const broken = `esdb://admin:${PASSWORD}@127.0.0.1:2113:99?tls=true`;
    const exit = await runServerUntilExit(mkdtempSync(join(secrets, 'data-')), { EVENTSTORE_CONNECTION_STRING_FILE: secretFile('broken', broken) });
    assert.equal(exit.code, 1, exit.stderr);
    assert.match(exit.stderr, /The EventStoreDB connection string esdb:\/\/\*\*\*@127\.0\.0\.1:2113:99\?tls=true is invalid: expected/);
    assert.ok(!`${exit.stdout}${exit.stderr}`.includes(PASSWORD));

    const both = await runServerUntilExit(mkdtempSync(join(secrets, 'data-')), {
      EVENTSTORE_CONNECTION_STRING: double.connectionString,
      EVENTSTORE_CONNECTION_STRING_FILE: secretFile('both', double.connectionStringAs('admin', PASSWORD)),
    });
    assert.equal(both.code, 1);
    assert.match(both.stderr, /Invalid configuration:\n {2}- Set EVENTSTORE_CONNECTION_STRING or EVENTSTORE_CONNECTION_STRING_FILE, not both/);
  });
});
