/**
 * Everyday rough edges of the pages (issue 15), over HTTP as htmx calls them:
 * every schedule problem at once in the form's words, the "this run" badge on
 * extra variables, schedules in words with their next times, upcoming firings
 * on the dashboard, the jobs list's next run and Run button, and the forms'
 * human messages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

describe('pages: everyday rough edges over HTTP', () => {
  let t: TestApp;
  let scriptId: string;

  /** A request as htmx sends it, from Zoë. */
  const htmx = (path: string, init: RequestInit & { partial?: boolean } = {}): Promise<Response> =>
    t.request(path, {
      ...init,
      headers: {
        'x-actor': encodeURIComponent('Zoë'),
        'hx-request': 'true',
        'hx-request-type': init.partial === false ? 'full' : 'partial',
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  const post = (path: string, fields: Record<string, string>): Promise<Response> => htmx(path, { method: 'POST', body: new URLSearchParams(fields) });
  const page = async (path: string): Promise<string> => {
    const response = await htmx(path, { partial: false });
    assert.equal(response.status, 200, path);
    return response.text();
  };
  const createJob = async (body: Record<string, unknown>): Promise<string> =>
    (await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { scriptId, ...body } }), 201)).id;

  before(async () => {
    t = await startTestApp();
    scriptId = (await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'Echo', interpreter: 'bash', body: 'echo "$@"; env | grep -E "^(A|EXTRA)=" | sort' } }), 201)).id;
  });

  after(async () => {
    await t?.close();
  });

  it('reports a bad cron and a bad time zone of one schedule together, in the form’s words', async () => {
    const head = await t.head();
    const refused = await post('/jobs', { name: 'Two problems', scriptId, 'cron-0': 'bad cron', 'timeZone-0': 'Mars/Olympus', 'cron-1': '* * * * * * *', 'timeZone-1': 'UTC' });
    assert.equal(refused.status, 422);
    const html = await refused.text();
    assert.match(html, /id="cron-0"[^>]*aria-invalid="true"/);
    assert.match(html, /id="timeZone-0"[^>]*aria-invalid="true"/);
    assert.match(html, /id="timeZone-0-error"[^>]*><li>The time zone must be an IANA time zone/);
    assert.match(html, /id="cron-0-error"[^>]*><li>The schedule &quot;bad cron&quot; is not a valid cron expression: it needs five fields \(minute, hour, day of month, month, day of week\), six with seconds first/);
    assert.match(html, /id="cron-1-error"[^>]*><li>[^<]*it needs five fields/, 'seven fields get the same words');
    assert.doesNotMatch(html, /seven/);
    // The API says the same, every problem in one answer.
    const api = await t.request('/api/jobs', { method: 'POST', json: { name: 'Two problems', scriptId, schedules: [{ cron: '61 * * * *', timeZone: 'Mars/Olympus' }] } });
    assert.equal(api.status, 400);
    const message = ((await api.json()) as { message: string }).message;
    assert.match(message, /\[0\]\.timeZone must be an IANA time zone/);
    assert.match(message, /\[0\]\.cron "61 \* \* \* \*" is not a valid cron expression: .*minute/);
    assert.equal(await t.head(), head, 'nothing was written');
  });

  it('marks extra environment variables of one run with "this run", as it does extra arguments', async () => {
    const jobId = await createJob({ name: 'Env job', args: ['job-arg'], env: { A: '1', EXTRA: 'job value' } });
    const started = await post(`/jobs/${jobId}/runs`, { args: 'run-arg', env: 'EXTRA=run value\nNEW=2', when: 'now' });
    assert.equal(started.status, 200);
    const html = await page(`/runs/${jobId}-1`);
    const badge = ' <span class="badge">this run</span>';
    assert.ok(html.includes(`<li><code>A=1</code></li>`), 'the job’s own variable has no badge');
    assert.ok(html.includes(`<li><code>EXTRA=run value</code>${badge}</li>`), 'a variable the run replaced is marked');
    assert.ok(html.includes(`<li><code>NEW=2</code>${badge}</li>`), 'a variable the run added is marked');
    assert.ok(html.includes(`<li><code>run-arg</code>${badge}</li>`) && html.includes('<li><code>job-arg</code></li>'), 'arguments as before');
  });

  it('shows each schedule in words with its next times, the dashboard’s upcoming firings, and the jobs list’s next run', async () => {
    const jobId = await createJob({
      name: 'Nightly build',
      schedules: [
        { cron: '*/2 * * * *', timeZone: 'UTC' },
        { cron: '30 2 * * 1-5', timeZone: 'Europe/Berlin' },
        { cron: '@daily', timeZone: 'UTC' },
      ],
    });
    const html = await page(`/jobs/${jobId}`);
    const section = html.slice(html.indexOf('id="job-schedules"'), html.indexOf('</section>', html.indexOf('id="job-schedules"')));
    assert.match(section, /<p class="schedule-words">Every 2 minutes<\/p>\s*<p class="schedule-what"><code>\*\/2 \* \* \* \*<\/code> <span class="muted">in UTC<\/span>/);
    assert.match(section, /<p class="schedule-words">At 02:30, Monday through Friday<\/p>\s*<p class="schedule-what"><code>30 2 \* \* 1-5<\/code> <span class="muted">in Europe\/Berlin time<\/span>/);
    assert.match(section, /<p class="schedule-words">At 00:00<\/p>\s*<p class="schedule-what"><code>@daily<\/code>/);
    // The next five times of each, as times the browser shows in the person's own time zone.
    const first = section.split('<li class="schedule">')[1];
    const times = [...first.matchAll(/<time datetime="([^"]+)" data-abs>/g)].map((match) => Date.parse(match[1]));
    assert.equal(times.length, 5);
    for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 120_000, 'two minutes apart');
    assert.ok(times[0] > Date.now() - 1000 && times[0] <= Date.now() + 120_000);

    const dashboard = await page('/');
    const waiting = dashboard.slice(dashboard.indexOf('id="panel-waiting"'), dashboard.indexOf('id="panel-finished"'));
    assert.ok(waiting.includes(`href="/jobs/${jobId}"`), 'the scheduled job is listed under Will run');
    assert.match(waiting, /every 2 minutes/);
    assert.match(waiting, /at 02:30, Monday through Friday · Europe\/Berlin/);
    assert.match(waiting, /<span class="count">3<\/span>/, 'its three schedules count');
    // A change to the job shows at once, though the dashboard keeps its list between changes.
    const renamed = await t.request(`/api/jobs/${jobId}`, { method: 'PUT', json: { name: 'Renamed build', scriptId, schedules: [{ cron: '*/2 * * * *', timeZone: 'UTC' }] } });
    assert.equal(renamed.status, 200);
    const after = await page('/');
    const waitingAfter = after.slice(after.indexOf('id="panel-waiting"'), after.indexOf('id="panel-finished"'));
    assert.ok(waitingAfter.includes('Renamed build') && !waitingAfter.includes('Nightly build'));
    assert.match(waitingAfter, /<span class="count">1<\/span>/);
    await t.request(`/api/jobs/${jobId}`, { method: 'PUT', json: { name: 'Nightly build', scriptId, schedules: [{ cron: '*/2 * * * *', timeZone: 'UTC' }, { cron: '30 2 * * 1-5', timeZone: 'Europe/Berlin' }, { cron: '@daily', timeZone: 'UTC' }] } });

    const list = await page('/jobs');
    const row = list.slice(list.indexOf(`href="/jobs/${jobId}"`));
    const next = /data-label="Next run"><div><time datetime="([^"]+)"/.exec(row);
    assert.ok(next, 'the row shows its next run');
    assert.equal(next[1], new Date(times[0]).toISOString());
    assert.ok(row.slice(0, row.indexOf('</tr>')).includes(`hx-post="/jobs/${jobId}/runs" hx-vals='{"from": "list"}'`), 'the row has a Run button');
  });

  it('runs a job from the jobs list’s Run button, and says in the flash area why not when refused', async () => {
    const jobId = await createJob({ name: 'From the list' });
    const started = await post(`/jobs/${jobId}/runs`, { from: 'list' });
    assert.equal(started.status, 200);
    assert.equal(started.headers.get('hx-push-url'), `/runs/${jobId}-1`, 'the person lands on the new run');
    assert.match(await started.text(), /Run #1 of “From the list” was requested/);
    const run = await expectJson<{ requestedBy: string; args: string[] }>(await t.request(`/api/runs/${jobId}-1`), 200);
    assert.equal(run.requestedBy, 'Zoë');

    const refused = await post(`/jobs/${jobId}/runs`, { from: 'list', stray: 'x' });
    assert.equal(refused.status, 422);
    assert.equal(refused.headers.get('hx-retarget'), '#flash');
    assert.match(await refused.text(), /class="alert alert-error".*“From the list” was not started: This form has no field “stray”/s);
  });

  it('keeps no chosen file silently: a refused job or run form says which files to choose again', async () => {
    const body = new FormData();
    body.append('name', 'Files lost');
    body.append('scriptId', scriptId);
    body.append('timeoutSeconds', 'soon');
    body.append('file', new Blob(['a']), 'data.csv');
    body.append('file', new Blob(['b']), 'notes.txt');
    const refused = await htmx('/jobs', { method: 'POST', body });
    assert.equal(refused.status, 422);
    const html = await refused.text();
    assert.match(html, /id="file-lost" role="status">The form was not saved, so the files you chose \(“data\.csv”, “notes\.txt”\) were not kept: choose them again\./);
    const plain = await post('/jobs', { name: 'No files', scriptId, timeoutSeconds: 'soon' });
    assert.doesNotMatch(await plain.text(), /file-lost/, 'no note when no file was chosen');

    const jobId = await createJob({ name: 'Run files lost' });
    const run = new FormData();
    run.append('when', 'at');
    run.append('at', '2001-01-01T00:00:00.000Z');
    run.append('file', new Blob(['x']), 'input.bin');
    const runRefused = await htmx(`/jobs/${jobId}/runs`, { method: 'POST', body: run });
    assert.equal(runRefused.status, 422);
    assert.match(await runRefused.text(), /id="run-file-lost" role="status">The run was not started, so the files you chose \(“input\.bin”\) were not kept/);
  });

  it('says an empty name once, in a person’s words, on the job and template forms', async () => {
    for (const [path, fields, words] of [
      ['/jobs', { name: '   ', scriptId }, 'Give the job a name'],
      ['/scripts', { name: '', interpreter: 'bash', body: 'echo' }, 'Give the template a name'],
    ] as const) {
      const refused = await post(path, fields);
      assert.equal(refused.status, 422, path);
      const html = await refused.text();
      const errors = /id="name-error"><li>(.*?)<\/ul>/s.exec(html);
      assert.ok(errors, `${path}: the name has its message`);
      assert.equal(errors[1], `${words}</li>`, `${path}: one message`);
      assert.doesNotMatch(html, /longer than or equal|must not be blank/, path);
    }
    const long = await post('/jobs', { name: 'x'.repeat(101), scriptId });
    assert.match(await long.text(), /id="name-error"><li>Name can be at most 100 characters<\/li>/);
  });

  it('tells a refused key where the current one is: renewed every Monday when generated; the API’s 401 stays', async () => {
    const wrong = await t.request('/', { headers: { authorization: 'Bearer last-weeks-key-000000' } });
    assert.equal(wrong.status, 401);
    const html = await wrong.text();
    assert.match(html, /You are not authenticated: this key was not accepted\./);
    assert.match(html, /id="key-help">This server’s key is set by its operator \(<code>ENDERCOMPUTE_KEY<\/code>/, 'a fixed key: ask the operator');
    const api = await t.request('/api/jobs', { headers: { authorization: 'Bearer last-weeks-key-000000' } });
    assert.equal(api.status, 401);
    assert.equal(((await api.json()) as { message: string }).message, 'You are not authenticated');
    const first = await t.request('/', { headers: { authorization: '' } });
    assert.doesNotMatch(await first.text(), /key-help/, 'no refusal before a key was tried');

    const generated = await startTestApp({ ENDERCOMPUTE_KEY: '' });
    try {
      const refused = await generated.request('/jobs', { headers: { authorization: 'Bearer last-weeks-key-000000' } });
      assert.equal(refused.status, 401);
      assert.match(
        await refused.text(),
        /id="key-help">This server generates its key and renews it every Monday at 00:00 \(server time\), so last week’s key no longer works\. An operator finds the current key in the server’s start-up output .* or in <code>key\.json<\/code> in its data directory\./,
      );
    } finally {
      await generated.close();
    }
  });

  it('says up front that a template in use cannot be deleted, and asks plainly for one that is not', async () => {
    const used = (await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'Used', interpreter: 'bash', body: 'true' } }), 201)).id;
    await expectJson(await t.request('/api/jobs', { method: 'POST', json: { name: 'User of Used', scriptId: used } }), 201);
    const usedPage = await page(`/scripts/${used}`);
    assert.match(usedPage, /<button type="button" class="btn btn-danger-ghost" disabled aria-describedby="delete-blocked">Delete<\/button>/);
    assert.match(usedPage, /id="delete-blocked">It cannot be deleted while 1 job uses it \(listed under “Used by”\): give that job another template or delete it first\./);
    assert.doesNotMatch(usedPage, /hx-delete="\/scripts\//);
    const unused = (await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'Unused', interpreter: 'bash', body: 'true' } }), 201)).id;
    const unusedPage = await page(`/scripts/${unused}`);
    assert.match(unusedPage, new RegExp(`hx-delete="/scripts/${unused}" hx-confirm="Delete the script template “Unused”\\? No job uses it\\.`));
    assert.doesNotMatch(unusedPage, /delete-blocked/);
  });

  it('a cancelled queued run: said once where it belongs, “Requested by”, no 0-byte download; history numbers are links; audit times are absolute', async () => {
    const jobId = await createJob({ name: 'Cancelled early' });
    await post(`/jobs/${jobId}/runs`, { when: 'delay', delayAmount: '2', delayUnit: 'hours' });
    const scheduled = await page(`/runs/${jobId}-1`);
    assert.match(scheduled, /<dt>Requested by<\/dt><dd>Zoë<\/dd>/);
    assert.doesNotMatch(scheduled, /Started by|Download raw/);
    const cancelled = await post(`/runs/${jobId}-1/cancel`, {});
    assert.equal(cancelled.status, 200);
    const html = await page(`/runs/${jobId}-1`);
    assert.equal(html.match(/cancelled by/gi)?.length, 2, 'the subtitle and the Details row');
    assert.match(html, /cancelled by <strong>Zoë<\/strong> before it started/);
    assert.match(html, /<dt>Cancelled by<\/dt>/);
    assert.doesNotMatch(html, /alert-error/, 'no red banner: nothing went wrong');
    assert.doesNotMatch(html, /Download raw/, 'no download of nothing');

    const job = await page(`/jobs/${jobId}`);
    assert.match(job, new RegExp(`<a class="row-title run-no-link" href="/runs/${jobId}-1" aria-label="Run #1">#1</a>`));
    assert.match(job, /<span class="run-label-now">Run now<\/span><span class="run-label-later">Schedule run<\/span>/);
    const audit = await page('/audit');
    assert.match(audit, /<div class="event-when"><time datetime="[^"]+" data-abs>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/time>/);
  });
});
