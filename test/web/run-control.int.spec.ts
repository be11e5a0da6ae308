/**
 * The pages' run controls and job controls over HTTP, as htmx calls them:
 * pause, resume, cancel, re-time and re-run through the same commands as the
 * API with the page's actor; a refused action (409) as a message in the flash
 * area; the job form's limit and schedules editor with problems beside their
 * fields; the new filters; and hostile names, actors and cron text escaped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { activeMarkup, ESCAPED_IMG, ESCAPED_SCRIPT, IMG_TAG, SCRIPT_TAG } from '../support/markup';
import { type Run } from '../support/rest';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

const LONG_SCRIPT = 'for i in $(seq 1 600); do echo "tick $i"; sleep 0.1; done';

interface RunView extends Run {
  scheduledFor: string | null;
  rerunOf: string | null;
  cancelRequestedBy: string | null;
  pausedAt: string | null;
  actions: { cancel: boolean; pause: boolean; resume: boolean; reschedule: boolean };
}

interface EventItem {
  type: string;
  stream: string;
  metadata: { actor: string };
}

describe('pages: run controls, job limits and schedules over HTTP', () => {
  let t: TestApp;
  let scriptId: string;
  let jobId: string;
  const ACTOR = 'Zoë Ångström';

  /** A request as the pages' htmx sends it, from Zoë (percent-encoded, as the pages do). */
  const htmx = (path: string, init: RequestInit & { partial?: boolean; actor?: string } = {}): Promise<Response> =>
    t.request(path, {
      ...init,
      headers: {
        'x-actor': encodeURIComponent(init.actor ?? ACTOR),
        'hx-request': 'true',
        'hx-request-type': init.partial === false ? 'full' : 'partial',
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  const post = (path: string, fields: Record<string, string> = {}, actor?: string): Promise<Response> =>
    htmx(path, { method: 'POST', body: new URLSearchParams(fields), ...(actor ? { actor } : {}) });
  const run = async (id: string): Promise<RunView> => expectJson<RunView>(await t.request(`/api/runs/${id}`), 200);
  const until = (id: string, check: (run: RunView) => boolean, what: string): Promise<RunView> =>
    eventually(async () => {
      const current = await run(id);
      return check(current) ? current : undefined;
    }, 15_000, what);
  const events = async (stream: string): Promise<EventItem[]> =>
    (await expectJson<{ items: EventItem[] }>(await t.request(`/api/events?stream=${encodeURIComponent(stream)}&limit=1000`), 200)).items;

  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '2' });
    scriptId = (await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'Ticker', body: LONG_SCRIPT } }), 201)).id;
    jobId = (await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'Long job', scriptId } }), 201)).id;
  });

  after(async () => {
    await t?.close();
  });

  it('pauses, resumes and cancels from the run page, as the person, answering the run page', async () => {
    const { id } = await expectJson<{ id: string }>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: {} }), 202);
    await until(id, (r) => r.status === 'running', 'the run to start');
    const page = await (await htmx(`/runs/${id}`)).text();
    assert.match(page, new RegExp(`hx-post="/runs/${id}/pause"`), 'a running run offers Pause');
    assert.match(page, new RegExp(`hx-post="/runs/${id}/cancel"`), 'and Cancel');
    assert.doesNotMatch(page, /\/resume"|\/rerun"|\/reschedule"/, 'and nothing its state does not allow');

    const paused = await post(`/runs/${id}/pause`);
    assert.equal(paused.status, 200);
    assert.equal(paused.headers.get('hx-push-url'), `/runs/${id}`);
    assert.equal(paused.headers.get('hx-retarget'), 'body');
    const pausedPage = await paused.text();
    assert.match(pausedPage, /was paused/);
    assert.match(pausedPage, /status-paused/);
    assert.match(pausedPage, new RegExp(`hx-post="/runs/${id}/resume"`), 'a paused run offers Resume');
    assert.equal((await run(id)).status, 'paused');

    const resumed = await post(`/runs/${id}/resume`);
    assert.equal(resumed.status, 200);
    assert.match(await resumed.text(), /was resumed/);
    assert.equal((await run(id)).status, 'running');

    const cancelled = await post(`/runs/${id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.match(await cancelled.text(), /being cancelled|was cancelled/);
    const finished = await until(id, (r) => r.status === 'cancelled', 'the run to end cancelled');
    assert.equal(finished.cancelRequestedBy, ACTOR);
    const finishedPage = await (await htmx(`/runs/${id}`)).text();
    assert.match(finishedPage, /cancelled by <strong>Zoë Ångström<\/strong>/);
    assert.match(finishedPage, /Cancelled by<\/dt>/);

    const recorded = await events(`run-${id}`);
    for (const type of ['RunPaused', 'RunResumed', 'RunCancelRequested']) {
      const event = recorded.find((e) => e.type === type);
      assert.ok(event, `${type} is in the log`);
      assert.equal(event.metadata.actor, ACTOR, `${type} is attributed to the person`);
    }
  });

  it('shows a refused action (409) as the server’s message in the flash area, changing nothing', async () => {
    const { id } = await expectJson<{ id: string }>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: {} }), 202);
    await until(id, (r) => r.status === 'running', 'the run to start');
    await post(`/runs/${id}/cancel`);
    await until(id, (r) => r.status === 'cancelled', 'the run to end cancelled');
    const head = await t.head();
    for (const [action, verb] of [
      ['pause', 'paused'],
      ['resume', 'resumed'],
      ['cancel', 'cancelled'],
      ['reschedule', 're-timed'],
    ]) {
      for (const fields of [{}, { from: 'list' }] as Array<Record<string, string>>) {
        const refused = await post(`/runs/${id}/${action}`, fields);
        assert.equal(refused.status, 409, action);
        assert.equal(refused.headers.get('hx-retarget'), '#flash', action);
        const html = await refused.text();
        assert.ok(!html.includes('<html'), `${action}: a message, not a page`);
        assert.match(html, /class="alert alert-error"/, action);
        assert.ok(html.includes(`Run Long job #`) && html.includes(`has already finished (cancelled): it cannot be ${verb}`), `${action}: the decider's words (${html})`);
      }
    }
    assert.equal(await t.head(), head, 'nothing was recorded');
    const unknown = await post('/runs/zzzzzzzzzzzz-9/pause');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get('hx-retarget'), '#flash');
  });

  it('answers a button in a list with a message and a refresh of the lists', async () => {
    const { id } = await expectJson<{ id: string }>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: {} }), 202);
    await until(id, (r) => r.status === 'running', 'the run to start');
    const dashboard = await (await htmx('/')).text();
    assert.ok(dashboard.includes(`hx-post="/runs/${id}/pause"`) && dashboard.includes('hx-vals=\'{"from": "list"}\''), 'the dashboard row has the buttons');
    assert.match(await (await htmx('/', { partial: false })).text(), /id="dashboard-live"[^>]*hx-trigger="every 2s, runs-changed from:body"/, 'the dashboard refreshes itself after one is used');
    const runsList = await (await htmx('/runs?status=active')).text();
    assert.ok(runsList.includes(`hx-post="/runs/${id}/cancel"`), 'the runs list row has the buttons');
    assert.match(runsList, /hx-trigger="runs-changed from:body"/, 'and refreshes itself after one is used');
    const history = await (await htmx(`/jobs/${jobId}`)).text();
    assert.ok(history.includes(`hx-post="/runs/${id}/pause"`), 'the job history row has the buttons');

    const paused = await post(`/runs/${id}/pause`, { from: 'list' });
    assert.equal(paused.status, 200);
    assert.equal(paused.headers.get('hx-trigger'), 'runs-changed');
    assert.equal(paused.headers.get('hx-retarget'), '#flash');
    assert.equal(paused.headers.get('hx-push-url'), null, 'the person stays on the list');
    const message = await paused.text();
    assert.ok(message.startsWith('<div class="alert alert-success"') && message.includes('was paused'), message);
    const pausedList = await (await htmx('/')).text();
    assert.ok(pausedList.includes(`hx-post="/runs/${id}/resume"`) && pausedList.includes('paused for'), 'the row offers Resume now');

    const cancelled = await post(`/runs/${id}/cancel`, { from: 'list' });
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.headers.get('hx-trigger'), 'runs-changed');
    await until(id, (r) => r.status === 'cancelled', 'the paused run to end cancelled');
  });

  it('re-times a scheduled run, refusing bad times beside their fields, and starts it now', async () => {
    const { id } = await expectJson<{ id: string }>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: { delaySeconds: 7200 } }), 202);
    const page = await (await htmx(`/runs/${id}`)).text();
    assert.ok(page.includes('id="retime-form"') && page.includes('hx-morph-skip'), 'a scheduled run offers the re-time form, kept while the page refreshes');
    assert.ok(page.includes(`hx-post="/runs/${id}/reschedule" hx-disable="this"`), 'and Start now');

    const badDelay = await post(`/runs/${id}/reschedule`, { when: 'delay', delayAmount: '-3', delayUnit: 'hours' });
    assert.equal(badDelay.status, 422);
    const badDelayHtml = await badDelay.text();
    assert.ok(badDelayHtml.startsWith('<form id="retime-form"'), 'the form again, not a page');
    assert.match(badDelayHtml, /id="retime-delay"[^>]*aria-invalid="true"/);
    assert.match(badDelayHtml, /id="retime-delayAmount-error"[^>]*>.*above 0/s);
    const past = await post(`/runs/${id}/reschedule`, { when: 'at', at: '2001-01-01T00:00:00.000Z' });
    assert.equal(past.status, 422);
    assert.match(await past.text(), /id="retime-at"[^>]*aria-invalid="true"/);

    const later = await post(`/runs/${id}/reschedule`, { when: 'delay', delayAmount: '3', delayUnit: 'hours' });
    assert.equal(later.status, 200);
    assert.match(await later.text(), /will start at/);
    const moved = await run(id);
    assert.ok(Math.abs(Date.parse(moved.scheduledFor ?? '') - Date.now() - 3 * 3600_000) < 60_000, 'three hours from now');

    const now = await post(`/runs/${id}/reschedule`);
    assert.equal(now.status, 200);
    assert.match(await now.text(), /will start as soon as there is room/);
    await until(id, (r) => r.status === 'running', 'the run to start now');
    const retimed = (await events(`run-${id}`)).filter((e) => e.type === 'RunRescheduled');
    assert.equal(retimed.length, 2);
    assert.ok(retimed.every((e) => e.metadata.actor === ACTOR));
    await post(`/runs/${id}/cancel`);
    await until(id, (r) => r.status === 'cancelled', 'the run to end cancelled');
  });

  it('re-runs a finished run and answers the new run’s page', async () => {
    const { id } = await expectJson<{ id: string; number: number }>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: { args: ['--once'] } }), 202);
    await post(`/runs/${id}/cancel`);
    await until(id, (r) => r.status === 'cancelled', 'the run to end cancelled');
    const page = await (await htmx(`/runs/${id}`)).text();
    assert.ok(page.includes(`hx-post="/runs/${id}/rerun"`), 'a finished run offers Re-run');
    const rerun = await post(`/runs/${id}/rerun`, {}, 'Grace');
    assert.equal(rerun.status, 200);
    const pushed = rerun.headers.get('hx-push-url') ?? '';
    assert.match(pushed, new RegExp(`^/runs/${jobId}-\\d+$`));
    assert.notEqual(pushed, `/runs/${id}`);
    const html = await rerun.text();
    assert.match(html, /a re-run of #\d+ with the same inputs/);
    assert.match(html, new RegExp(`<dt>Re-run of</dt><dd><a href="/runs/${id}">Long job #${id.split('-')[1]}</a>`));
    const fresh = await run(pushed.split('/')[2]);
    assert.equal(fresh.rerunOf, id);
    assert.equal(fresh.requestedBy, 'Grace');
    await post(`/runs/${fresh.id}/cancel`);
    await until(fresh.id, (r) => r.status === 'cancelled', 'the re-run to end cancelled');
  });

  it('creates and edits a job with a limit and schedules; problems beside their fields', async () => {
    const refused = await post('/jobs', {
      name: 'Scheduled',
      scriptId,
      maxConcurrent: '0',
      'cron-0': '61 * * * *',
      'timeZone-0': 'UTC',
      'cron-2': '0 3 * * *',
      'timeZone-2': 'Mars/Olympus',
      'cron-5': '',
      'timeZone-5': 'UTC',
    });
    assert.equal(refused.status, 422);
    const html = await refused.text();
    assert.match(html, /id="maxConcurrent"[^>]*aria-invalid="true"/);
    assert.match(html, /id="maxConcurrent-error"[^>]*>.*from 1 to 1024/s);
    assert.match(html, /id="cron-0"[^>]*aria-invalid="true"/);
    assert.match(html, /id="cron-0-error"[^>]*><li>The schedule “?&quot;61 \* \* \* \*&quot;”? is not a valid cron expression/);
    assert.match(html, /id="timeZone-2"[^>]*aria-invalid="true"/);
    assert.match(html, /id="timeZone-2-error"[^>]*><li>The time zone must be an IANA time zone/);
    assert.doesNotMatch(html, /id="cron-2"[^>]*aria-invalid/, 'the valid cron of row 3 is not marked');
    assert.ok(html.includes('name="cron-5"'), 'the empty row is kept as typed');
    assert.ok(html.includes('hx-get="/jobs/new/schedule-row?row=6"'), 'the next added row comes after the last');

    const created = await post('/jobs', {
      name: 'Scheduled',
      scriptId,
      maxConcurrent: '2',
      'cron-0': '0 3 * * *',
      'timeZone-0': 'Europe/Helsinki',
      'cron-4': '@daily',
      'timeZone-4': '',
      'cron-7': '   ',
      'timeZone-7': 'UTC',
    });
    assert.equal(created.status, 200);
    const id = (created.headers.get('hx-push-url') ?? '').split('/')[2];
    const job = await expectJson<{ maxConcurrent: number | null; schedules: Array<{ cron: string; timeZone: string; nextAt: string | null }> }>(
      await t.request(`/api/jobs/${id}`),
      200,
    );
    assert.equal(job.maxConcurrent, 2);
    assert.deepEqual(
      job.schedules.map(({ cron, timeZone }) => ({ cron, timeZone })),
      [
        { cron: '0 3 * * *', timeZone: 'Europe/Helsinki' },
        { cron: '@daily', timeZone: 'UTC' },
      ],
    );
    const page = await created.text();
    assert.match(page, /<dd id="job-limit">2 at once/);
    assert.ok(page.includes('<p class="schedule-words">At 03:00</p>') && page.includes('<code>0 3 * * *</code> <span class="muted">in Europe/Helsinki time</span>'));
    assert.ok(page.includes(`<time datetime="${job.schedules[0].nextAt}" data-abs>`), 'the next firing is shown');

    const form = await (await htmx(`/jobs/${id}/edit`, { partial: false })).text();
    assert.match(form, /id="maxConcurrent" name="maxConcurrent" value="2"/);
    assert.ok(form.includes('name="cron-0" value="0 3 * * *"') && form.includes('name="cron-1" value="@daily"'), 'the schedules are the editor’s rows');
    const edited = await htmx(`/jobs/${id}`, {
      method: 'PUT',
      body: new URLSearchParams({ name: 'Scheduled', scriptId, maxConcurrent: '', 'cron-1': '@hourly', 'timeZone-1': 'UTC', version: '' }),
    });
    assert.equal(edited.status, 200);
    const after = await expectJson<{ maxConcurrent: number | null; schedules: Array<{ cron: string }> }>(await t.request(`/api/jobs/${id}`), 200);
    assert.equal(after.maxConcurrent, null, 'blank: no limit of its own');
    assert.deepEqual(after.schedules.map((s) => s.cron), ['@hourly'], 'a removed row is a removed schedule');
    const cleared = await htmx(`/jobs/${id}`, { method: 'PUT', body: new URLSearchParams({ name: 'Scheduled', scriptId }) });
    assert.equal(cleared.status, 200);
    assert.deepEqual((await expectJson<{ schedules: unknown[] }>(await t.request(`/api/jobs/${id}`), 200)).schedules, []);
  });

  it('adds a schedules row on request, with the button for the next one', async () => {
    const row = await (await htmx('/jobs/new/schedule-row?row=4')).text();
    assert.ok(row.includes('name="cron-4"') && row.includes('name="timeZone-4" value="UTC"'));
    assert.ok(row.includes(' autofocus'), 'the new row takes the focus');
    assert.ok(row.includes('hx-get="/jobs/new/schedule-row?row=5"'));
    assert.ok(!row.includes('<html'));
    const odd = await htmx(`/jobs/new/schedule-row?row=${encodeURIComponent(SCRIPT_TAG)}`);
    assert.equal(odd.status, 200);
    assert.ok((await odd.text()).includes('name="cron-0"'));
    const last = await (await htmx('/jobs/new/schedule-row?row=99')).text();
    assert.ok(last.includes('name="cron-99"') && !last.includes('id="schedule-add"'), 'no button past the last row');
  });

  it('filters jobs by last outcome and runs by outcome', async () => {
    const outcome = await (await htmx('/jobs?outcome=cancelled')).text();
    assert.ok(outcome.includes('Long job') && !outcome.includes('>Scheduled<'), 'Long job last ended cancelled');
    const never = await (await htmx('/jobs?outcome=never')).text();
    assert.ok(never.includes('>Scheduled<') && !never.includes('Long job</a>'));
    const none = await (await htmx('/jobs?outcome=succeeded')).text();
    assert.match(none, /No job matches/);
    const full = await (await htmx('/jobs?outcome=cancelled', { partial: false })).text();
    assert.match(full, /<option value="cancelled" selected>Cancelled<\/option>/);
    const cancelledRuns = await (await htmx('/runs?status=cancelled')).text();
    assert.ok(cancelledRuns.includes('status-cancelled') && !cancelledRuns.includes('status-running'));
    const finished = await (await htmx('/runs?status=finished', { partial: false })).text();
    assert.match(finished, /<optgroup label="Outcome">/);
    for (const status of ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost']) assert.ok(finished.includes(`<option value="${status}">`), status);
    assert.match(finished, /<option value="finished" selected>/);
    assert.ok(!finished.includes('id="ignored-filters"'), 'no notice when every filter was read');
  });

  it('says which filters it left out, showing the rest, and escapes what was given', async () => {
    const runs = await (await htmx('/runs?status=bogus', { partial: false })).text();
    assert.match(runs, /id="ignored-filters"[^>]*>Not understood, so left out: status “bogus”\. Showing the rest\.</);
    assert.ok(runs.includes('status-cancelled'), 'every run is listed');
    const jobs = await (await htmx(`/jobs?status=queued&outcome=${encodeURIComponent('<b>x</b>')}`)).text();
    assert.match(jobs, /id="ignored-filters"[^>]*>Not understood, so left out: outcome “&lt;b&gt;x&lt;\/b&gt;”\./);
    assert.ok(!jobs.includes('<b>x</b>'));
    // Trimmed as it is read: a status with a space around it is the status, not a filter left out.
    const spaced = await (await htmx(`/runs?status=${encodeURIComponent('cancelled ')}`)).text();
    assert.ok(spaced.includes('status-cancelled') && !spaced.includes('status-running') && !spaced.includes('id="ignored-filters"'));
    const cursor = await (await htmx('/runs?before=abc')).text();
    assert.match(cursor, /id="ignored-filters"[^>]*>Not understood, so left out: before “abc”\./);
    const audit = await (await htmx('/audit?type=Run-Finished&before=x', { partial: false })).text();
    assert.match(audit, /id="ignored-filters"[^>]*>Not understood, so left out: type “Run-Finished”, before “x”\. Showing the rest\.</);
  });

  it('shows a run a schedule requested with its cron and time zone, and the firing on the job page', async () => {
    const job = await expectJson<{ id: string }>(
      await t.request('/api/jobs', { method: 'POST', json: { name: 'Every second', scriptId, schedules: [{ cron: '* * * * * *', timeZone: 'Europe/Helsinki' }] } }),
      201,
    );
    const fired = await eventually(async () => {
      const page = await expectJson<{ items: RunView[] }>(await t.request(`/api/runs?jobId=${job.id}`), 200);
      return page.items.length > 0 ? page.items[page.items.length - 1] : undefined;
    }, 15_000, 'the schedule to fire');
    await expectJson(await t.request(`/api/jobs/${job.id}`, { method: 'PUT', json: { schedules: [] } }), 200);
    assert.equal(fired.requestedBy, 'schedule');
    const runPage = await (await htmx(`/runs/${fired.id}`, { partial: false })).text();
    assert.match(runPage, /<dt>Schedule<\/dt><dd>cron <code>\* \* \* \* \* \*<\/code> <span class="muted">\(Europe\/Helsinki\)<\/span>/);
    const audit = await (await htmx(`/audit?job=${encodeURIComponent('Every second')}`, { partial: false })).text();
    assert.ok(audit.includes('The schedule “* * * * * *” (Europe/Helsinki) fired for'), 'the firing in words, under the job’s filter');
    assert.ok(audit.includes('Requested by the schedule “* * * * * *” (Europe/Helsinki):'));
    for (const item of (await expectJson<{ items: RunView[] }>(await t.request(`/api/runs?jobId=${job.id}&status=active`), 200)).items) {
      await t.request(`/api/runs/${item.id}/cancel`, { method: 'POST' });
    }
  });

  it('names the new events in the audit trail', async () => {
    const audit = await (await htmx('/audit', { partial: false })).text();
    for (const sentence of ['Paused', 'Resumed', 'Asked to cancel', 'Re-timed to start at', 'Asked to start now:', 'with the same inputs as']) {
      assert.ok(audit.includes(sentence), sentence);
    }
    assert.match(audit, /<option value="ScheduleFired">Schedule fired<\/option>/);
    assert.match(audit, /<option value="RunRescheduled">Run re-timed<\/option>/);
  });

  it('escapes hostile names, actors and cron text in the controls, the job form and the job page', async () => {
    const hostile = encodeURIComponent(`${SCRIPT_TAG} ${IMG_TAG}`.slice(0, 64));
    const refused = await htmx('/jobs', {
      method: 'POST',
      body: new URLSearchParams({ name: `${IMG_TAG} x`, scriptId, maxConcurrent: IMG_TAG, 'cron-0': SCRIPT_TAG, 'timeZone-0': 'UTC', 'cron-1': '0 * * * *', 'timeZone-1': IMG_TAG }),
      headers: { 'x-actor': hostile },
    });
    assert.equal(refused.status, 422);
    const refusedHtml = await refused.text();
    assert.deepEqual(activeMarkup(refusedHtml), []);
    assert.ok(refusedHtml.includes(`value="${ESCAPED_SCRIPT}"`) && refusedHtml.includes(`value="${ESCAPED_IMG}"`), 'the typed text is kept, escaped');
    assert.ok(refusedHtml.includes(`id="cron-0-error"><li>The schedule &quot;${ESCAPED_SCRIPT}&quot; is not a valid cron expression`), 'the cron in its problem is escaped');
    assert.match(refusedHtml, /id="timeZone-1-error"/);

    const job = await expectJson<{ id: string }>(
      await t.request('/api/jobs', {
        method: 'POST',
        headers: { 'x-actor': hostile },
        json: { name: `${IMG_TAG} ${SCRIPT_TAG}`.slice(0, 100), scriptId, maxConcurrent: 1, schedules: [{ cron: '0 4 * * *', timeZone: 'Asia/Tokyo' }] },
      }),
      201,
    );
    const running = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {}, headers: { 'x-actor': hostile } }), 202);
    await until(running.id, (r) => r.status === 'running', 'the hostile run to start');
    const waiting = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {}, headers: { 'x-actor': hostile } }), 202);
    const scheduled = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: { delaySeconds: 600 }, headers: { 'x-actor': hostile } }), 202);
    await post(`/runs/${running.id}/pause`, {}, decodeURIComponent(hostile));
    const paths = ['/', `/jobs/${job.id}`, `/jobs/${job.id}/edit`, `/runs/${running.id}`, `/runs/${waiting.id}`, `/runs/${scheduled.id}`, '/runs', '/jobs?outcome=never', '/audit'];
    for (const path of paths) {
      for (const partial of [false, true]) {
        const response = await htmx(path, { partial, headers: { 'x-actor': hostile } });
        const html = await response.text();
        assert.equal(response.status, 200, path);
        assert.deepEqual(activeMarkup(html), [], `${path}${partial ? ' (fragment)' : ''}`);
      }
    }
    const runPage = await (await htmx(`/runs/${running.id}`, { partial: false })).text();
    assert.ok(runPage.includes(`hx-confirm="Cancel run “${ESCAPED_IMG}`), 'the name in the confirmation is escaped');
    const waitingPage = await (await htmx(`/runs/${waiting.id}`, { partial: false })).text();
    assert.match(
      waitingPage,
      /No\. 1 <span class="muted">· waiting for a place under its job&#39;s limit: 1 of its runs is executing \(maxConcurrent 1\)/,
      'the queue position, and why it waits (the job runs one at a time)',
    );
    const flash = await post(`/runs/${running.id}/resume`, { from: 'list' }, decodeURIComponent(hostile));
    const flashHtml = await flash.text();
    assert.deepEqual(activeMarkup(flashHtml), []);
    assert.ok(flashHtml.includes(ESCAPED_IMG), 'the job name in the message is escaped');
    for (const id of [running.id, waiting.id, scheduled.id]) await post(`/runs/${id}/cancel`);
    for (const id of [running.id, waiting.id, scheduled.id]) await until(id, (r) => r.status === 'cancelled', `run ${id} to end cancelled`);
    const cancelledPage = await (await htmx(`/runs/${running.id}`, { partial: false })).text();
    assert.deepEqual(activeMarkup(cancelledPage), []);
  });
});
