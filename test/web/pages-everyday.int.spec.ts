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
    assert.match(section, /<p class="schedule-words">Every 2 minutes <span class="muted">\(UTC\)<\/span><\/p>/);
    assert.match(section, /<p class="schedule-words">At 02:30, Monday through Friday <span class="muted">\(Europe\/Berlin time\)<\/span><\/p>/);
    assert.match(section, /<p class="schedule-words">At 00:00 <span class="muted">\(UTC\)<\/span><\/p>/);
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

    const list = await page('/jobs');
    const row = list.slice(list.indexOf(`href="/jobs/${jobId}"`));
    const next = /data-label="Next run"><time datetime="([^"]+)"/.exec(row);
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
});
