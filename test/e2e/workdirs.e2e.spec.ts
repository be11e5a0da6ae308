/**
 * Run work directories against the built server: removed when the run ends,
 * whatever the outcome; kept for jobs with `keepWorkdir`, at most
 * ENDERCOMPUTE_KEEP_WORKDIRS in all, the oldest going first; removed after a
 * kill -9 and restart (the lost run's, and a finished run's that a crash left
 * behind), never following a symbolic link out of `<data>/work`; and a directory
 * that cannot be removed is logged with its path, harms nothing, and goes at the
 * next start.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { browserAvailable, launchBrowser } from '../support/browser';
import { heading, signIn } from '../support/pages';
import { getJson, JSON_HEADERS, postJson, requestRun, type Run as BaseRun, waitForRun } from '../support/rest';
import { scriptGates } from '../support/script-gates';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

interface Run extends BaseRun {
  workdir: string | null;
  workdirKept: boolean | null;
  runner: string | null;
}

interface Job {
  id: string;
  name: string;
  keepWorkdir: boolean;
}

const CLI = resolve(__dirname, '../../src/cli/main.js');
const isRoot = process.getuid?.() === 0;

describe('Run work directories on the built server', () => {
  const servers: ServerProcess[] = [];
  const gates = scriptGates('endercompute-workdir-gates-');
  const outside = mkdtempSync(join(tmpdir(), 'endercompute-outside-'));
  const undo: Array<() => void> = [];
  after(async () => {
    for (const step of undo) step();
    for (const server of servers) await server.kill();
    for (const server of servers) server.cleanup();
    gates.remove();
    rmSync(outside, { recursive: true, force: true });
  });

  async function start(dataDir?: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    const server = await startServer({ dataDir, env: { ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '1', ...gates.sandboxEnv, ...env } });
    servers.push(server);
    return server;
  }

  async function job(server: ServerProcess, name: string, body: string, fields: Record<string, unknown> = {}): Promise<Job> {
    await postJson(server, '/api/scripts', { name, interpreter: (fields.interpreter as string | undefined) ?? 'bash', body }, 201);
    const { interpreter: _i, ...rest } = fields;
    return postJson<Job>(server, '/api/jobs', { name, scriptId: name, ...rest }, 201);
  }

  async function attach(server: ServerProcess, jobId: string, name: string, bytes: Buffer): Promise<void> {
    const form = new FormData();
    form.append('file', new Blob([bytes]), name);
    await expectJson(await server.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: form }), 201);
  }

  const run = (server: ServerProcess, id: string): Promise<Run> => getJson<Run>(server, `/api/runs/${id}`);

  /** A page as htmx loads it after the key gate (a plain GET answers the gate). */
  const page = async (server: ServerProcess, path: string): Promise<string> =>
    (await server.request(path, { headers: { 'hx-request': 'true', 'hx-request-type': 'full' } })).text();

  /** Waits until the run is running and answers its work directory, checked to exist below `<data>/work`. */
  async function runningWorkdir(server: ServerProcess, id: string): Promise<string> {
    const running = await eventually(async () => {
      const current = await run(server, id);
      return current.status === 'running' ? current : undefined;
    }, 15_000, `run ${id} to be running`);
    assert.ok(running.workdir?.startsWith(join(server.dataDir, 'work') + '/'), `${running.workdir} is below <data>/work`);
    assert.equal(running.workdirKept, null, 'not said while it runs');
    const workdir = running.workdir!;
    assert.ok(existsSync(workdir), 'the directory is there while the run goes on');
    return workdir;
  }

  async function gone(path: string, what: string): Promise<void> {
    await eventually(async () => (existsSync(path) ? undefined : true), 10_000, `${what} to be removed`);
  }

  it('removes the work directory when a run ends, whatever the outcome: succeeded, failed, cancelled, timed out, failed to start', async () => {
    const server = await start();
    const input = Buffer.alloc(256 * 1024, 7);
    const cases: Array<{ status: string; make: () => Promise<{ id: string; running: boolean; end?: () => Promise<void> }> }> = [];
    const gated = async (name: string, body: (wait: string) => string, status: string, end: (id: string, open: () => void) => Promise<void>): Promise<void> => {
      const gate = gates.gate();
      const made = await job(server, name, body(gate.wait));
      await attach(server, made.id, 'input.bin', input);
      cases.push({
        status,
        make: async () => {
          const { id } = await requestRun(server, made.id);
          return { id, running: true, end: () => end(id, gate.open) };
        },
      });
    };
    await gated('ok', (wait) => `mkdir -p out/deep; cp input.bin out/deep/; echo hi > "$HOME/note"; ${wait}`, 'succeeded', async (_id, open) => open());
    await gated('bad', (wait) => `echo trying > made.txt; ${wait}; exit 3`, 'failed', async (_id, open) => open());
    await gated('stopped', (wait) => `echo waiting > made.txt; ${wait}`, 'cancelled', async (id) => {
      assert.equal((await server.request(`/api/runs/${id}/cancel`, { method: 'POST' })).status, 202);
    });
    const slow = await job(server, 'slow', 'echo start > made.txt; sleep 60', { timeoutSeconds: 2 });
    cases.push({ status: 'timed_out', make: async () => ({ id: (await requestRun(server, slow.id)).id, running: true }) });
    const broken = await job(server, 'broken', 'echo never', { interpreter: '/no/such/interpreter' });
    await attach(server, broken.id, 'input.bin', input);
    cases.push({ status: 'failed', make: async () => ({ id: (await requestRun(server, broken.id)).id, running: false }) });

    for (const { status, make } of cases) {
      const { id, running, end } = await make();
      const workdir = running ? await runningWorkdir(server, id) : null;
      if (running) assert.ok(readdirSync(workdir!).some((name) => name.startsWith('.endercompute-script')), 'the script is in it');
      await end?.();
      const ended = (await waitForRun(server, id)) as Run;
      assert.equal(ended.status, status, `${id}: ${ended.reason}`);
      assert.ok(ended.workdir, 'the view says where it ran');
      assert.ok(existsSync(dirname(ended.workdir)), 'its job folder was made (so was the run directory)');
      await gone(ended.workdir, `the ${status} run's directory`);
      assert.equal((await run(server, id)).workdirKept, false);
    }
    // Nothing of any of them is left: each job folder is empty.
    for (const folder of readdirSync(join(server.dataDir, 'work'))) assert.deepEqual(readdirSync(join(server.dataDir, 'work', folder)), [], folder);
    const runPage = await page(server, `/runs/${(await getJson<{ items: Run[] }>(server, '/api/runs?limit=1')).items[0].id}`);
    assert.match(runPage, /<dd id="run-workdir"><span class="muted">removed when the run ended<\/span>/);
  });

  it('keeps the work directories of a keepWorkdir job, at most ENDERCOMPUTE_KEEP_WORKDIRS (the newest, with their files), next to a job without it; across a restart too', async () => {
    const server = await start(undefined, { ENDERCOMPUTE_KEEP_WORKDIRS: '2' });
    const kept = await job(server, 'debug-me', 'echo "run $ENDERCOMPUTE_RUN_NUMBER" > result.txt; exit $((ENDERCOMPUTE_RUN_NUMBER % 2))', { keepWorkdir: true });
    assert.equal(kept.keepWorkdir, true);
    await attach(server, kept.id, 'input.txt', Buffer.from('the input\n'));
    const plain = await job(server, 'plain', 'echo plain > result.txt');
    assert.equal(plain.keepWorkdir, false, 'off by default');

    const keptRuns: Run[] = [];
    const plainRuns: Run[] = [];
    for (let i = 0; i < 4; i++) {
      keptRuns.push((await waitForRun(server, (await requestRun(server, kept.id)).id)) as Run);
      plainRuns.push((await waitForRun(server, (await requestRun(server, plain.id)).id)) as Run);
    }
    assert.deepEqual(keptRuns.map((r) => r.status), ['failed', 'succeeded', 'failed', 'succeeded'], 'kept whatever the outcome');
    for (const r of plainRuns) await gone(r.workdir!, `plain #${r.number}`);
    for (const r of keptRuns.slice(0, 2)) await gone(r.workdir!, `debug-me #${r.number}, beyond the limit`);
    const checkKept = async (s: ServerProcess): Promise<void> => {
      for (const r of keptRuns.slice(2)) {
        assert.equal(readFileSync(join(r.workdir!, 'result.txt'), 'utf8'), `run ${r.number}\n`, 'kept with what the run wrote');
        assert.equal(readFileSync(join(r.workdir!, 'input.txt'), 'utf8'), 'the input\n', 'and its input file');
        assert.equal((await run(s, r.id)).workdirKept, true);
      }
      for (const r of [...keptRuns.slice(0, 2), ...plainRuns]) {
        assert.equal((await run(s, r.id)).workdirKept, false);
        assert.equal(existsSync(r.workdir!), false);
      }
    };
    await checkKept(server);
    const newest = keptRuns[3];
    const newestPage = await page(server, `/runs/${newest.id}`);
    assert.ok(newestPage.includes(`<dd id="run-workdir">kept at <code class="small">${newest.workdir}</code>`), 'the run page says where to look');
    const oldest = await page(server, `/runs/${keptRuns[0].id}`);
    assert.match(oldest, /<dd id="run-workdir"><span class="muted">removed when the run ended/);
    const jobPage = await page(server, `/jobs/${kept.id}`);
    assert.match(jobPage, /<dd id="job-keep-workdir">Kept after each run/);

    await server.stop();
    const restarted = await start(server.dataDir, { ENDERCOMPUTE_KEEP_WORKDIRS: '2' });
    await checkKept(restarted);

    // Turning keepWorkdir off: the kept ones go at the next start.
    const updated = await expectJson<Job>(
      await restarted.request(`/api/jobs/${kept.id}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ keepWorkdir: false }) }),
      200,
    );
    assert.equal(updated.keepWorkdir, false);
    await restarted.stop();
    const again = await start(server.dataDir, { ENDERCOMPUTE_KEEP_WORKDIRS: '2' });
    for (const r of keptRuns) await gone(r.workdir!, `debug-me #${r.number} once the job no longer keeps them`);
    assert.equal((await run(again, newest.id)).workdirKept, false);
  });

  it('removes the lost run’s directory after kill -9 and a restart, and sweeps a finished run’s left-behind directory, but never follows a link out of <data>/work', async () => {
    const server = await start();
    const slow = await job(server, 'cut-short', 'echo started > made.txt; sleep 300');
    const done = await job(server, 'done', 'echo done > made.txt');
    const escape = await job(server, 'escape', 'echo escape > made.txt');
    const finished = (await waitForRun(server, (await requestRun(server, done.id)).id)) as Run;
    const escaped = (await waitForRun(server, (await requestRun(server, escape.id)).id)) as Run;
    await gone(finished.workdir!, 'the finished run’s directory');
    await gone(escaped.workdir!, 'the other finished run’s directory');
    const lost = await requestRun(server, slow.id);
    const lostDir = await runningWorkdir(server, lost.id);
    await server.kill();

    // What a crash between RunFinished and the removal leaves behind.
    mkdirSync(join(finished.workdir!, 'deep'), { recursive: true });
    writeFileSync(join(finished.workdir!, 'deep', 'left.txt'), 'left behind');
    // A job folder replaced by a link to somewhere else: the sweep must not remove what it points to.
    const precious = join(outside, String(escaped.number), 'precious.txt');
    mkdirSync(dirname(precious), { recursive: true });
    writeFileSync(precious, 'not the server’s');
    rmSync(dirname(escaped.workdir!), { recursive: true, force: true });
    symlinkSync(outside, dirname(escaped.workdir!));
    // A folder no run knows: left alone.
    const stranger = join(server.dataDir, 'work', 'someone-elses', '1', 'keep.txt');
    mkdirSync(dirname(stranger), { recursive: true });
    writeFileSync(stranger, 'mine');

    const restarted = await start(server.dataDir);
    const ended = await run(restarted, lost.id);
    assert.equal(ended.status, 'lost');
    await gone(lostDir, 'the lost run’s directory');
    await gone(finished.workdir!, 'the left-behind directory of a finished run');
    assert.equal((await run(restarted, lost.id)).workdirKept, false);
    assert.equal(readFileSync(precious, 'utf8'), 'not the server’s', 'a link out of <data>/work is not followed');
    assert.equal(readFileSync(stranger, 'utf8'), 'mine', 'a folder of no known run is left alone');
    // The server goes on running runs.
    assert.equal(((await waitForRun(restarted, (await requestRun(restarted, done.id)).id)) as Run).status, 'succeeded');
  });

  it('logs a directory it cannot remove with its path, goes on running runs, and removes it at the next start', async () => {
    const server = await start();
    const gate = gates.gate();
    const stuck = await job(server, 'stuck', `echo x > file.txt; ${gate.wait}`);
    const { id } = await requestRun(server, stuck.id);
    const workdir = await runningWorkdir(server, id);
    // Running is not yet written: wait for the script's file before making it immutable.
    await eventually(async () => (existsSync(join(workdir, 'file.txt')) ? true : undefined), 10_000, 'the script to write file.txt');
    // Root may remove anything but an immutable file; anyone else is stopped by a folder it may not write.
    const block = isRoot ? () => execFileSync('chattr', ['+i', join(workdir, 'file.txt')]) : () => chmodSync(dirname(workdir), 0o500);
    const unblock = isRoot ? () => execFileSync('chattr', ['-i', join(workdir, 'file.txt')]) : () => chmodSync(dirname(workdir), 0o700);
    block();
    undo.push(() => {
      if (existsSync(workdir)) unblock();
    });
    gate.open();
    assert.equal((await waitForRun(server, id)).status, 'succeeded', 'a failed removal does not change how the run ended');
    await eventually(async () => (server.output().includes(`Could not remove the work directory ${workdir}`) ? true : undefined), 10_000, 'the failure to be logged');
    assert.ok(existsSync(workdir));
    const other = await job(server, 'other', 'echo fine');
    assert.equal(((await waitForRun(server, (await requestRun(server, other.id)).id)) as Run).status, 'succeeded', 'the next run starts and ends');
    assert.equal(server.child.exitCode, null, 'the server is still up');

    await server.stop();
    unblock();
    const restarted = await start(server.dataDir);
    await gone(workdir, 'the directory, at the next start');
    assert.equal((await run(restarted, id)).workdirKept, false);
  });

  it('sets keepWorkdir through the API (refusing anything but true or false), the job form and the CLI', async () => {
    const server = await start();
    await postJson(server, '/api/scripts', { name: 'tpl', body: 'true' }, 201);
    for (const keepWorkdir of ['yes', 1, null]) {
      const refused = await server.request('/api/jobs', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name: 'x', scriptId: 'tpl', keepWorkdir }) });
      assert.equal(refused.status, 400, JSON.stringify(keepWorkdir));
      // null is refused like every field without a meaning for it; other values must be booleans.
      assert.match(await refused.text(), keepWorkdir === null ? /keepWorkdir: must not be null/ : /keepWorkdir must be true or false/);
    }
    const created = await postJson<Job>(server, '/api/jobs', { name: 'api', scriptId: 'tpl' }, 201);
    const refusedUpdate = await server.request(`/api/jobs/${created.id}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ keepWorkdir: null }) });
    assert.equal(refusedUpdate.status, 400);
    assert.equal((await getJson<Job>(server, `/api/jobs/${created.id}`)).keepWorkdir, false, 'nothing was changed');

    const htmx = { 'hx-request': 'true', 'hx-request-type': 'partial', 'x-actor': 'zoe' };
    const scriptId = (await getJson<{ items: Array<{ id: string; name: string }> }>(server, '/api/scripts')).items.find((s) => s.name === 'tpl')!.id;
    const posted = await server.request('/jobs', { method: 'POST', headers: htmx, body: new URLSearchParams({ name: 'form', scriptId, keepWorkdir: 'on' }) });
    assert.equal(posted.status, 200);
    const formJob = (await getJson<{ items: Job[] }>(server, '/api/jobs?q=form')).items[0];
    assert.equal(formJob.keepWorkdir, true, 'ticked');
    const editForm = await page(server, `/jobs/${formJob.id}/edit`);
    assert.match(editForm, /id="keepWorkdir" name="keepWorkdir" type="checkbox" value="on" checked/);
    const saved = await server.request(`/jobs/${formJob.id}`, { method: 'PUT', headers: htmx, body: new URLSearchParams({ name: 'form', scriptId }) });
    assert.equal(saved.status, 200);
    assert.equal((await getJson<Job>(server, `/api/jobs/${formJob.id}`)).keepWorkdir, false, 'unticked and saved');

    const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((done) => {
        const child = spawn(process.execPath, [CLI, '--json', ...args], { env: { PATH: process.env.PATH ?? '', ENDERCOMPUTE_URL: server.url, ENDERCOMPUTE_KEY: server.key } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => done({ code, stdout, stderr }));
      });
    const made = await cli(['jobs', 'create', 'cli', '--script', 'tpl', '--keep-workdir']);
    assert.equal(made.code, 0, made.stderr);
    assert.equal((JSON.parse(made.stdout) as Job).keepWorkdir, true);
    const off = await cli(['jobs', 'update', 'cli', '--no-keep-workdir']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal((JSON.parse(off.stdout) as Job).keepWorkdir, false);
    const on = await cli(['jobs', 'update', 'cli', '--keep-workdir']);
    assert.equal((JSON.parse(on.stdout) as Job).keepWorkdir, true);
    // Both given: the last one wins, as with every negatable option of the CLI.
    const both = await cli(['jobs', 'update', 'cli', '--keep-workdir', '--no-keep-workdir']);
    assert.equal(both.code, 0, both.stderr);
    assert.equal((JSON.parse(both.stdout) as Job).keepWorkdir, false);
  });

  it('in a browser: a person ticks Keep work directories, runs the job, and the run page says where its directory is kept', async () => {
    assert.ok(browserAvailable(), 'chromium is installed');
    const server = await start();
    await postJson(server, '/api/scripts', { name: 'Leaves a file', body: 'echo "for later" > left.txt' }, 201);
    const browser = await launchBrowser();
    try {
      const { page } = browser;
      await signIn(page, server.url, 'Ada', server.key);
      await page.goto(`${server.url}/jobs/new`);
      await page.fill('#name', 'Debuggable');
      await page.selectOption('#scriptId', { label: 'Leaves a file (bash)' });
      await page.check('#keepWorkdir');
      await browser.screenshot('wd-01-job-form');
      await page.click('#job-form button[type=submit]');
      await page.waitForURL(/\/jobs\/[0-9a-z]{12}$/);
      assert.equal(await heading(page), 'Debuggable');
      assert.match(await page.locator('#job-keep-workdir').innerText(), /Kept after each run/);
      await page.click('#run-form button[type=submit]');
      await page.waitForURL(/\/runs\//);
      await page.locator('.page-title .status', { hasText: 'Succeeded' }).waitFor({ timeout: 15_000 });
      const shown = page.locator('#run-workdir');
      await shown.filter({ hasText: 'kept at' }).waitFor({ timeout: 10_000 });
      const path = await shown.locator('code').innerText();
      assert.equal(readFileSync(join(path, 'left.txt'), 'utf8'), 'for later\n', 'the directory it names is there, with what the run left');
      await browser.screenshot('wd-02-run-kept');
      assert.deepEqual(browser.problems, []);
    } finally {
      await browser.close();
    }
  });
});
