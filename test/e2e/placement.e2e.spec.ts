/**
 * Placement with the built server and CLI, and in a real browser: a server whose local
 * runner has `ENDERCOMPUTE_RUNNER_LABELS=linux` executes a job that runs on `linux`; a
 * job that also needs `gpu` stays queued, and the CLI, the run page and the dashboard
 * say which runner it waits for; the job page shows the labels. Screenshots go to
 * test-results/ (placement-*.png).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { JobView } from '../../src/jobs/job.view';
import type { RunView } from '../../src/runs/run.view';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { signIn } from '../support/pages';
import { getJson, outputOf, waitForRun } from '../support/rest';
import { runCli } from '../support/cli';
import { type ServerProcess, startServer } from '../support/server-process';

describe('placement: the built server, the CLI and the pages', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let dir: string;
  let waitingRun: RunView;
  let gpuJob: JobView;

  async function cli(args: string[]): Promise<string> {
    const result = await runCli(server, args, { ENDERCOMPUTE_ACTOR: 'carol' });
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return result.stdout.toString();
  }

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    dir = mkdtempSync(join(tmpdir(), 'endercompute-placement-'));
    server = await startServer({ env: { ENDERCOMPUTE_RUNNER_LABELS: 'linux' } });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates jobs with --runs-on; the local runner executes the linux one and leaves the one that needs a gpu queued', async () => {
    writeFileSync(join(dir, 'uname.sh'), 'echo "on $(uname -s)"\n');
    await cli(['scripts', 'create', 'uname', '--file', join(dir, 'uname.sh')]);
    const linux = JSON.parse(await cli(['jobs', 'create', 'on-linux', '--script', 'uname', '--runs-on', 'linux', '--json'])) as JobView;
    assert.deepEqual(linux.runsOn, ['linux']);
    gpuJob = JSON.parse(await cli(['jobs', 'create', 'on-gpu', '--script', 'uname', '--runs-on', 'Linux', '--runs-on', 'GPU', '--json'])) as JobView;
    assert.deepEqual(gpuJob.runsOn, ['linux', 'gpu']);
    assert.match(await cli(['jobs', 'show', 'on-gpu']), /^runs on:  a runner with linux, gpu$/m);

    waitingRun = JSON.parse(await cli(['jobs', 'run', 'on-gpu', '--json'])) as RunView;
    const ran = JSON.parse(await cli(['jobs', 'run', 'on-linux', '--json'])) as RunView;
    const done = await waitForRun(server, ran.id);
    assert.equal(done.status, 'succeeded');
    const runnerId = readFileSync(join(server.dataDir, 'runner-id'), 'utf8').trim();
    assert.ok(server.output().includes(`Runner: ${runnerId}, labels linux (it takes runs whose runsOn it has every label of)`), 'the start-up lines name the runner and its labels');
    assert.equal((await getJson<RunView>(server, `/api/runs/${ran.id}`)).runner, runnerId, "this server's local runner executed it");
    assert.equal((await outputOf(server, ran.id)).toString(), 'on Linux\n');
    const waiting = await getJson<RunView>(server, `/api/runs/${waitingRun.id}`);
    assert.equal(waiting.status, 'queued');
    assert.equal(waiting.waitingFor, 'a runner with labels linux, gpu');
    assert.match(await cli(['runs', 'show', ran.id]), new RegExp(`^runner: ${runnerId}$`, 'm'));
    const shown = await cli(['runs', 'show', waitingRun.id]);
    assert.match(shown, /^runs on: a runner with linux, gpu$/m);
    assert.match(shown, /^waiting for a runner with labels linux, gpu$/m);

    const refused = await runCli(server, ['jobs', 'update', 'on-linux', '--runs-on', 'has space']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^400: runsOn: "has space" is not a label/);
  });

  it('shows runsOn on the job page, waitingFor on the run page, and the note on the dashboard', async () => {
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(10_000);
    await signIn(page, server.url, 'Ada', server.key);

    await page.goto(`${server.url}/jobs/${gpuJob.id}`);
    const runsOn = page.locator('#job-runs-on');
    await runsOn.waitFor();
    assert.deepEqual(await runsOn.locator('.tag').allInnerTexts(), ['runner: linux', 'runner: gpu']);
    await browser.screenshot('placement-job');

    await page.goto(`${server.url}/runs/${waitingRun.id}`);
    const waitingFor = page.locator('#run-waiting-for');
    await waitingFor.waitFor();
    assert.equal(await waitingFor.innerText(), 'waiting for a runner with labels linux, gpu');
    assert.equal(await page.locator('#run-runs-on').innerText(), 'a runner with labels linux, gpu');
    await browser.screenshot('placement-run');

    await page.goto(server.url);
    const note = page.locator('#dash-waiting-runner');
    await note.waitFor();
    assert.match(await note.innerText(), /^1 queued run waits for a runner: no online runner has the labels it needs/);
    await browser.screenshot('placement-dashboard');

    // Edited to run anywhere, the job's next run starts; the queued one keeps its copy.
    await cli(['jobs', 'update', 'on-gpu', '--any-runner']);
    await page.goto(`${server.url}/jobs/${gpuJob.id}`);
    assert.equal(await page.locator('#job-runs-on').innerText(), 'Any runner');
    const next = JSON.parse(await cli(['jobs', 'run', 'on-gpu', '--json'])) as RunView;
    assert.equal((await waitForRun(server, next.id)).status, 'succeeded');
    assert.equal((await getJson<RunView>(server, `/api/runs/${waitingRun.id}`)).status, 'queued');
  });
});
