/**
 * `npm run projections:rebuild -- --data-dir DIR`: the offline rebuild, as an operator
 * runs it before an upgrade — beside a running server, on the embedded log and on
 * EventStoreDB — and the next start taking its result. Wrong arguments are refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { exitedAndRead, expectJson, type ServerProcess, startServer } from '../support/server-process';

const TOOL = resolve(__dirname, '../../src/tools/rebuild-projections.js');

function runTool(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [TOOL, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return exitedAndRead(child).then((code) => ({ code, out, err }));
}

async function names(server: ServerProcess): Promise<string[]> {
  return (await expectJson<{ items: Array<{ name: string }> }>(await server.request('/api/scripts'), 200)).items.map((s) => s.name);
}

async function createTemplates(server: ServerProcess, list: string[]): Promise<void> {
  for (const name of list) {
    await expectJson(await server.request('/api/scripts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, body: 'true' }) }), 201);
  }
}

describe('npm run projections:rebuild', () => {
  const servers: ServerProcess[] = [];
  let double: EsdbDouble | undefined;
  after(async () => {
    for (const server of servers) {
      await server.kill();
      server.cleanup();
    }
    await double?.stop();
  });

  it('rebuilds beside a running server; the next start takes the result', async () => {
    const first = await startServer();
    servers.push(first);
    await createTemplates(first, ['alpha', 'beta']);

    const tool = await runTool(['--data-dir', first.dataDir]);
    assert.equal(tool.code, 0, tool.err);
    assert.match(tool.out, new RegExp(`Rebuilding ${join(first.dataDir, 'projections.db')} from ${join(first.dataDir, 'events.db')}`));
    assert.match(tool.out, /Done: \d+ events applied in [\d.]+ s\. .*projections\.db\.ready is ready: the next server start takes it in place of projections\.db\./);
    const ready = join(first.dataDir, 'projections.db.ready');
    assert.equal(statSync(ready).mode & 0o777, 0o600, 'private, like the log');
    assert.equal(existsSync(`${ready}.building`), false);
    // The running server serves on from its own database meanwhile.
    await createTemplates(first, ['gamma']);
    assert.deepEqual(await names(first), ['alpha', 'beta', 'gamma']);
    await first.stop();

    const second = await startServer({ dataDir: first.dataDir });
    servers.push(second);
    assert.equal(existsSync(ready), false, 'taken in place of projections.db');
    assert.equal(statSync(join(first.dataDir, 'projections.db')).mode & 0o777, 0o600, 'the data dir\'s file modes');
    assert.deepEqual(await names(second), ['alpha', 'beta', 'gamma'], 'with what was appended after the rebuild');
    assert.doesNotMatch(second.output(), /Projections: building/, 'started warm: the tool built every projection the server feeds');
    await second.stop();
  });

  it('reads EventStoreDB when EVENTSTORE_CONNECTION_STRING is set, as the server does', async () => {
    double = await startEsdbDouble();
    const env = { EVENTSTORE_CONNECTION_STRING: double.connectionString };
    const server = await startServer({ env });
    servers.push(server);
    await createTemplates(server, ['on-esdb']);
    await server.stop();
    const tool = await runTool(['--data-dir', server.dataDir], env);
    assert.equal(tool.code, 0, tool.err);
    assert.match(tool.out, /from EventStoreDB at esdb:\/\/127\.0\.0\.1:\d+/);
    assert.ok(existsSync(join(server.dataDir, 'projections.db.ready')));
    const again = await startServer({ dataDir: server.dataDir, env });
    servers.push(again);
    assert.deepEqual(await names(again), ['on-esdb']);
    assert.equal(existsSync(join(server.dataDir, 'projections.db.ready')), false);
  });

  it('refuses wrong arguments and a data dir without a log (exit code 2), writing nothing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'endercompute-nolog-'));
    try {
      const noLog = await runTool(['--data-dir', empty]);
      assert.equal(noLog.code, 2);
      assert.match(noLog.err, new RegExp(`There is no event log at ${join(empty, 'events.db')}`));
      assert.equal(existsSync(join(empty, 'events.db')), false, 'no log was created');
      const missing = await runTool(['--data-dir', join(empty, 'nope')]);
      assert.equal(missing.code, 2);
      assert.match(missing.err, /does not exist/);
      const unknown = await runTool(['--data', empty]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /Unknown argument: --data\n/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
