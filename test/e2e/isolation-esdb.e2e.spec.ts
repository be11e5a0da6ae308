/**
 * On EventStoreDB a run has the network, so the store itself must refuse it: the
 * built server on a node that requires credentials (the double as a secure node),
 * its connection string in a file the sandbox covers, and a job that tries to
 * append to the store the way a hostile job would — with what it can find, and
 * with no credentials at all.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { ESDB_CLIENT_PATH, esdbAppendProbe } from '../support/esdb-probe';
import { outputOf, postJson, waitForRun, type Run } from '../support/rest';
import { startServer, type ServerProcess } from '../support/server-process';

const PASSWORD = 'Store-Pa55word-only-the-server-knows';

describe('Run isolation on EventStoreDB', { timeout: 120_000 }, () => {
  let double: EsdbDouble;
  let server: ServerProcess;
  const secrets = mkdtempSync(join(tmpdir(), 'endercompute-store-secret-'));
  const secretFile = join(secrets, 'connection-string');

  before(async () => {
    double = await startEsdbDouble({ users: { admin: PASSWORD } });
    writeFileSync(secretFile, `${double.connectionStringAs('admin', PASSWORD)}\n`);
    chmodSync(secretFile, 0o600);
    // The probe needs the client library: the checkout's node_modules is bound read-only
    // (wherever the checkout lives, e.g. under the server's HOME, which runs do not see).
    const nodeModules = dirname(dirname(ESDB_CLIENT_PATH));
    // So is the node's CA certificate (public: the job could bring its own copy), so that only credentials decide.
    const binds = `${nodeModules}:ro,${dirname(double.caFile!)}:ro`;
    server = await startServer({ env: { EVENTSTORE_CONNECTION_STRING_FILE: secretFile, ENDERCOMPUTE_SANDBOX_BIND: binds } });
  });
  after(async () => {
    await server?.kill();
    server?.cleanup();
    await double?.stop();
    rmSync(secrets, { recursive: true, force: true });
  });

  it('a job can neither read the server\'s credentials nor append to the store', async () => {
    await postJson(server, '/api/scripts', { name: 'store probe', interpreter: 'node', body: esdbAppendProbe() }, 201);
    await postJson(server, '/api/scripts', { name: 'secret probe', interpreter: 'bash', body: 'echo "file: [$(cat "$1" 2>&1)]"; needle=$(echo "$2" | base64 -d); grep -r -a -l -F -e "$needle" /proc/[0-9]*/environ /proc/[0-9]*/cmdline /tmp "$HOME" 2>/dev/null; echo done' }, 201);
    const storeJob = await postJson<{ id: string }>(server, '/api/jobs', { name: 'store probe', scriptId: 'store probe' }, 201);
    const secretJob = await postJson<{ id: string }>(server, '/api/jobs', { name: 'secret probe', scriptId: 'secret probe' }, 201);
    const eventsBefore = double.log.length;

    const looking = await postJson<Run>(server, `/api/jobs/${secretJob.id}/runs`, { args: [secretFile, Buffer.from(PASSWORD).toString('base64')] }, 202, 'mallory');
    const looked = await waitForRun(server, looking.id);
    const found = (await outputOf(server, looked.id)).toString();
    // The file is covered (reading it is refused); the password is in no process, file or environment the job sees.
    assert.match(found, /^file: \[cat: .*connection-string: Permission denied\]\ndone\n$/);
    assert.ok(!found.includes(PASSWORD));

    const appending = await postJson<Run>(server, `/api/jobs/${storeJob.id}/runs`, { args: [double.connectionString, 'forged-by-a-job'] }, 202, 'mallory');
    const appended = await waitForRun(server, appending.id);
    // (Node may print a TLS deprecation warning first: stderr and stdout share the log.)
    assert.match((await outputOf(server, appended.id)).toString(), /(^|\n)APPEND_REFUSED:AccessDeniedError\n$/);

    // The store holds the server's own events for these runs, and nothing the job wrote.
    assert.equal(double.log.stream('forged-by-a-job').length, 0);
    // (Each run request also admits the run on its job's stream.)
    const written = Array.from({ length: double.log.length - eventsBefore }, (_, index) => double.log.at(eventsBefore + index));
    const strangers = written.filter((record) => !record.stream.startsWith('run-') && !record.stream.startsWith('output-') && record.type !== 'JobRunAdmitted');
    assert.deepEqual(strangers.map((record) => `${record.stream} ${record.type}`), [], 'only the runs\' own events were added');
  });
});
