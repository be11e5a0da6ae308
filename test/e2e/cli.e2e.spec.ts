import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServerProcess, startServer } from '../support/server-process';

const CLI = resolve(__dirname, '../../src/cli/main.js');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('The CLI against the built server', () => {
  let server: ServerProcess;
  let dir: string;

  before(async () => {
    server = await startServer();
    dir = mkdtempSync(join(tmpdir(), 'endercompute-cli-'));
  });
  after(async () => {
    await server.stop();
    server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return new Promise((done) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { PATH: process.env.PATH ?? '', ENDERCOMPUTE_URL: server.url, ENDERCOMPUTE_KEY: server.key, ENDERCOMPUTE_ACTOR: 'carol', ...env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => done({ code, stdout, stderr }));
    });
  }

  it('creates a template and a job, attaches a file, runs it following the output, and exits with the run\'s code', async () => {
    const script = join(dir, 'greet.sh');
    writeFileSync(script, 'echo "hello $1 from $ENDERCOMPUTE_ACTOR"; cat data.txt; exit 3\n');
    const data = join(dir, 'data.txt');
    writeFileSync(data, 'file content\n');

    assert.equal((await cli(['scripts', 'create', 'greet', '--file', script])).code, 0);
    const created = await cli(['jobs', 'create', 'Greeter', '--script', 'greet', '--arg', 'world', '--tag', 'demo']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^Created job Greeter \(\w+\)/);
    assert.equal((await cli(['jobs', 'attach', 'greeter', data])).code, 0);

    const run = await cli(['jobs', 'run', 'greeter', '--follow']);
    assert.equal(run.code, 3, run.stderr);
    assert.equal(run.stdout, 'hello world from carol\nfile content\n');
    assert.match(run.stderr, /Greeter #1: failed \(exit code 3\)/);

    const listed = await cli(['runs', 'list', '--job', 'greeter', '--json']);
    const page = JSON.parse(listed.stdout) as { items: Array<{ number: number; status: string; requestedBy: string }> };
    assert.deepEqual(page.items.map((r) => [r.number, r.status, r.requestedBy]), [[1, 'failed', 'carol']]);
    const table = await cli(['jobs', 'list']);
    assert.match(table.stdout, /^NAME\s+TEMPLATE\s+TAGS\s+LAST RUN\nGreeter\s+greet\s+demo\s+#1 failed$/m);
  });

  it('says what went wrong: exit 1 with the server\'s message, exit 2 for a usage error', async () => {
    const missing = await cli(['jobs', 'show', 'no-such-job']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, '404: No job "no-such-job" exists\n');
    const wrongKey = await cli(['jobs', 'list'], { ENDERCOMPUTE_KEY: 'wrong-key' });
    assert.equal(wrongKey.code, 1);
    assert.equal(wrongKey.stderr, '401: You are not authenticated\n');
    const usage = await cli(['jobs', 'frobnicate']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Unknown command: jobs frobnicate/);
  });

  it('sends a number it cannot read as typed, for the server to refuse by name (never as null, which clears a limit)', async () => {
    const script = join(dir, 'noop.sh');
    writeFileSync(script, 'true\n');
    assert.equal((await cli(['scripts', 'create', 'noop', '--file', script])).code, 0);
    assert.equal((await cli(['jobs', 'create', 'Limited', '--script', 'noop', '--timeout', '60'])).code, 0);
    const timeout = await cli(['jobs', 'update', 'limited', '--timeout', 'abc']);
    assert.equal(timeout.code, 1);
    assert.match(timeout.stderr, /^400: .*timeoutSeconds/);
    const delay = await cli(['jobs', 'run', 'limited', '--delay', 'soon']);
    assert.equal(delay.code, 1);
    assert.match(delay.stderr, /^400: .*delaySeconds/);
    const job = await cli(['jobs', 'show', 'limited', '--json']);
    assert.equal((JSON.parse(job.stdout) as { timeoutSeconds: number }).timeoutSeconds, 60);
  });
});
