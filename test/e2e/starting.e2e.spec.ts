/**
 * A server listens before it has started: while it builds its read models from the log
 * (seconds to minutes on a long history), every request is answered 503 with
 * `Retry-After` and what it is doing (health, API, pages, htmx requests), instead of the
 * connection being refused; nothing is read or changed meanwhile. The build is held by
 * stopping the build process (SIGSTOP) as soon as it is forked, so the test does not
 * race it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { createTemplates } from '../projections/engine-fixtures';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { runCli, type RunningCli, startCli } from '../support/cli';
import { heading } from '../support/pages';
import { childrenOf, processState } from '../support/run-processes';
import { eventually, expectJson, startServer, type ServerProcess } from '../support/server-process';

/** The server's build process, once it is forked: the child running `projection-build.child.js`. */
function buildProcessOf(server: ServerProcess): number | undefined {
  return childrenOf(server.child.pid!).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('projection-build.child');
    } catch {
      return false;
    }
  });
}

/** Stops the server's build process (SIGSTOP) as soon as it shows: it takes a few hundred ms just to load. Answers its pid. */
async function holdBuildProcess(server: ServerProcess): Promise<number> {
  let builder: number | undefined;
  for (let i = 0; i < 2000 && builder === undefined; i++) {
    builder = buildProcessOf(server);
    if (builder === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(builder !== undefined, 'the build process was forked');
  process.kill(builder, 'SIGSTOP');
  return builder;
}

/** Lets a held build process go on (it may have ended already). */
function resume(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // Gone: it finished.
  }
}

async function seededDataDir(templates: number): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-starting-'));
  const store = SqliteEventStore.open(join(dataDir, 'events.db'));
  // Appended together: one transaction per turn rather than one per template.
  await Promise.all(Array.from({ length: 10 }, (_, i) => createTemplates(store, i * (templates / 10), templates / 10)));
  await store.close();
  return dataDir;
}

describe('A server that is starting', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) {
      await server.kill();
      server.cleanup();
    }
  });

  it('answers 503 with what it is doing while it builds its read models, changes nothing, then serves', async () => {
    const server = await startServer({ dataDir: await seededDataDir(20_000), until: 'listening' });
    servers.push(server);
    const builder = await holdBuildProcess(server);
    try {
      // Health: no key needed, 503 with the stage and how far the build has come.
      const health = await fetch(`${server.url}/api/health`);
      assert.equal(health.headers.get('retry-after'), '2');
      const starting = await expectJson<{ status: string; store: string; sandbox: string; version: string; message: string; progress: { applied: number; percent: number; stage: string } }>(health, 503);
      assert.equal(starting.status, 'starting');
      assert.equal(starting.store, 'sqlite');
      assert.equal(starting.progress.stage, 'applying');
      assert.ok(starting.progress.percent >= 0 && starting.progress.percent < 100, JSON.stringify(starting.progress));
      assert.match(starting.message, /^EnderCompute is starting: it is building its read models from the event log, \d+% done \([\d,]+ events applied\); try again in a moment$/);

      // The API, with the key: the error body, naming the same; a change is refused, not queued.
      const list = await server.request('/api/scripts');
      assert.equal(list.headers.get('retry-after'), '2');
      assert.equal(list.headers.get('endercompute-status'), 'starting', 'the gate\'s mark, which a proxy\'s 503 lacks');
      const refused = await expectJson<{ statusCode: number; error: string; message: string }>(list, 503);
      assert.deepEqual(Object.keys(refused), ['statusCode', 'error', 'message']);
      assert.match(refused.message, /^EnderCompute is starting: it is building its read models/);
      const create = await server.request('/api/scripts', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'made while starting', interpreter: 'bash', body: 'echo no' }),
      });
      assert.equal(create.status, 503);
      // A body the parsers refuse gets the same answer (Nest's error filter does not exist yet).
      const unparsable = await server.request('/api/scripts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name": ' });
      assert.match((await expectJson<{ message: string }>(unparsable, 503)).message, /^EnderCompute is starting/);

      // A page: a page of its own that says so, shows the progress and reloads itself.
      const page = await fetch(`${server.url}/scripts`, { headers: { accept: 'text/html' } });
      assert.equal(page.status, 503);
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/, 'the pages\' security headers');
      const html = await page.text();
      assert.match(html, /<meta http-equiv="refresh" content="2">/);
      assert.match(html, /<h1>EnderCompute is starting<\/h1>/);
      assert.match(html, /It is building its read models from the event log, \d+% done/);
      assert.match(html, /<progress class="starting-progress" max="100" value="\d+">/);
      // htmx: a part of a page (a live panel polling) reloads the page, which is then the starting page; a form sent
      // gets the message where the page shows messages; a navigation loads the starting page whole.
      const part = await fetch(`${server.url}/scripts`, { headers: { 'hx-request': 'true', 'hx-request-type': 'partial' } });
      assert.equal(part.status, 503);
      assert.equal(part.headers.get('hx-refresh'), 'true');
      const form = await fetch(`${server.url}/scripts`, {
        method: 'POST',
        headers: { 'hx-request': 'true', 'hx-request-type': 'partial', 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: 'name=x',
      });
      assert.equal(form.status, 503);
      assert.equal(form.headers.get('hx-retarget'), '#flash');
      assert.match(await form.text(), /<p class="alert-message">EnderCompute is starting: it is building its read models/);
      const navigation = await fetch(`${server.url}/scripts?q=x`, { headers: { 'hx-request': 'true', 'hx-boosted': 'true' } });
      assert.equal(navigation.status, 503);
      assert.equal(navigation.headers.get('hx-redirect'), '/scripts?q=x');
      const elsewhere = await fetch(`${server.url}//elsewhere.example/scripts`, { headers: { 'hx-request': 'true', 'hx-boosted': 'true' } });
      assert.equal(elsewhere.headers.get('hx-redirect'), '/', 'never to another host');
    } finally {
      resume(builder);
    }

    const ok = await eventually(async () => {
      const response = await fetch(`${server.url}/api/health`);
      return response.status === 200 ? ((await response.json()) as { status: string; sandbox: string }) : undefined;
    }, 60_000, 'the server to start');
    assert.equal(ok.status, 'ok');
    const scripts = await expectJson<{ items: Array<{ name: string }> }>(await server.request('/api/scripts'), 200);
    assert.equal(scripts.items.length, 20_000, 'every template of the log');
    assert.equal(scripts.items.some((script) => script.name === 'made while starting'), false, 'the change refused while starting was not made');
    const page = await server.request('/scripts', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    const messages = server.logLines().map((line) => String(line.msg));
    const listening = messages.findIndex((message) => /^EnderCompute is listening at http:\/\/\S+ and answers 503 until it has started$/.test(message));
    const running = messages.findIndex((message) => /is running at/.test(message));
    assert.ok(listening >= 0 && running > listening, 'it says where it listens first, then that it runs');
  });

  it('is waited for by the CLI: a command sent while it starts is carried out once, after the start; --wait-for-start 0 and health do not wait', async () => {
    const server = await startServer({ dataDir: await seededDataDir(2_000), until: 'listening' });
    servers.push(server);
    const builder = await holdBuildProcess(server);
    const body = join(mkdtempSync(join(tmpdir(), 'endercompute-cli-')), 'waited.sh');
    writeFileSync(body, 'echo waited\n');
    let created: RunningCli;
    try {
      const impatient = await runCli(server, ['scripts', 'list', '--wait-for-start', '0']);
      assert.equal(impatient.code, 1);
      assert.match(impatient.stderr, /^503: EnderCompute is starting: it is building its read models from the event log/);
      assert.doesNotMatch(impatient.stderr, /waiting/);
      const health = await runCli(server, ['health']);
      assert.equal(health.code, 1, 'health says how the server is now');
      assert.match(health.stderr, /^503: EnderCompute is starting/);

      // A change (a POST) sent while it starts: the CLI says once why it waits, and sends it again once started.
      created = startCli(server, ['scripts', 'create', 'waited for', '--file', body, '--interpreter', 'bash', '--json']);
      await eventually(async () => (created.stderrSoFar().includes('(waiting for it to start)') ? true : undefined), 30_000, 'the CLI to wait');
    } finally {
      resume(builder);
    }
    const result = await created.result;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout.toString()).name, 'waited for');
    assert.match(result.stderr, /^503: EnderCompute is starting: [^\n]* \(waiting for it to start\)\n$/, 'said once why it waits, and nothing else');
    const scripts = await expectJson<{ items: Array<{ name: string }> }>(await server.request('/api/scripts'), 200);
    assert.equal(scripts.items.filter((script) => script.name === 'waited for').length, 1, 'made once');

    const wrong = await runCli(server, ['scripts', 'list', '--wait-for-start', 'soon']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^--wait-for-start must be a whole number of seconds from 0 to 86400, not "soon"/);
    const wrongVariable = await runCli(server, ['scripts', 'list'], { ENDERCOMPUTE_WAIT_FOR_START: '10m' });
    assert.equal(wrongVariable.code, 2);
    assert.match(wrongVariable.stderr, /^ENDERCOMPUTE_WAIT_FOR_START must be a whole number of seconds/);
    assert.equal((await runCli(server, ['scripts', 'list'], { ENDERCOMPUTE_WAIT_FOR_START: '' })).code, 0, 'an empty variable is none');
    rmSync(dirname(body), { recursive: true });
  });

  it('stops at once when told to while it builds: the build ends with it, it never served, and the next start builds again', async () => {
    const dataDir = await seededDataDir(20_000);
    const server = await startServer({ dataDir, until: 'listening' });
    servers.push(server);
    const builder = await holdBuildProcess(server);
    const asked = performance.now();
    await server.stop();
    assert.ok(performance.now() - asked < 10_000, 'it did not wait for the build');
    // Ended: gone, or a zombie left to whatever reaps orphans here.
    await eventually(async () => (['Z', 'X', null].includes(processState(builder)) ? true : undefined), 10_000, `the build process to end with the server (${processState(builder)}): ${server.output()}`);
    const printed = server.output();
    assert.doesNotMatch(printed, /is running at|could not start/, 'it never served, and a start cut short is no failure');
    // Its stop hooks run on read models that were never opened: none of them may fail.
    assert.deepEqual(server.logLines().filter((line) => line.level === 'error' || line.level === 'fatal'), []);
    assert.match(printed, /"event":"server stopping","signal":"SIGTERM","runsExecuting":0/);

    const again = await startServer({ dataDir });
    servers.push(again);
    assert.match(again.output(), /Projections: building projections\.db from the log/);
    const scripts = await expectJson<{ items: unknown[] }>(await again.request('/api/scripts'), 200);
    assert.equal(scripts.items.length, 20_000);
  });

  it('in a browser: shows the build\'s progress, and turns into EnderCompute by itself once started', async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    const server = await startServer({ dataDir: await seededDataDir(20_000), until: 'listening' });
    servers.push(server);
    const builder = await holdBuildProcess(server);
    let browser: Browser | undefined;
    try {
      browser = await launchBrowser();
      const page = browser.page;
      await page.goto(`${server.url}/scripts`);
      assert.equal(await heading(page), 'EnderCompute is starting');
      assert.match(await page.locator('main').innerText(), /It is building its read models from the event log, \d+% done[\s\S]*reloads itself every 2 seconds/);
      assert.equal(await page.locator('progress.starting-progress').isVisible(), true);
      await browser.screenshot('starting');
      resume(builder);
      // It reloads itself and becomes EnderCompute at the same address: here the key form, as for any first visit.
      await page.locator('#key-form').waitFor({ state: 'visible', timeout: 60_000 });
      assert.match(page.url(), /\/scripts$/);
      // The browser reports each 503 it loaded as a console error; anything else (a CSP violation) is a fault.
      assert.deepEqual(browser.problems.filter((problem) => !/status of 503/.test(problem)), []);
    } finally {
      resume(builder);
      await browser?.close();
    }
  });
});
