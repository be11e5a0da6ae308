import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectJson } from '../support/server-process';
import { waitForRun } from '../support/rest';
import { startTestApp, type TestApp } from '../support/test-app';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';

interface Summary { version: number; at: string; actor: string; source: string; event: string; restoredFrom: number | null; fields: string[] }
interface Detail { id: string; version: number; actor: string; event: string; restoredFrom: number | null; content: Record<string, unknown>; comparedTo: number | null; changes: Array<{ field: string; before: unknown; after: unknown }>; current: number }
interface Job { id: string; name: string; version: number; body?: string; args: string[]; files: Array<{ name: string; sha256: string }> }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of ['embedded store', 'EventStoreDB double'] as const) describeOn(kind);

function describeOn(kind: 'embedded store' | 'EventStoreDB double'): void {
  describe(`history API: versions, restore, as of a time on the ${kind}`, () => {
    let double: EsdbDouble | null = null;
    let t: TestApp;
    const json = async <T>(path: string, init: Parameters<TestApp['request']>[1] = {}, status = 200) => expectJson<T>(await t.request(path, init), status);
    const post = (path: string, body: unknown, actor = 'alice') => json<{ id: string; version: number }>(path, { method: 'POST', json: body, actor }, 201);
    const put = (path: string, body: unknown, actor = 'bob') => json<{ id: string; version: number }>(path, { method: 'PUT', json: body, actor });

    before(async () => {
      if (kind === 'EventStoreDB double') double = await startEsdbDouble();
      t = await startTestApp(double ? { EVENTSTORE_CONNECTION_STRING: double.connectionString } : {});
    });
    after(async () => {
      await t.close();
      await double?.stop();
    });

    it('lists a template\'s versions with who, when, how and which fields, and shows each with its changes', async () => {
      const script = await post('/api/scripts', { name: 'Release', body: 'make\n' });
      await put(`/api/scripts/${script.id}`, { body: 'make\nmake test\n' });
      await put(`/api/scripts/${script.id}`, { name: 'Release build' }, 'carol');
      const list = await json<{ id: string; current: number; items: Summary[] }>(`/api/scripts/release%20build/versions`);
      assert.equal(list.id, script.id);
      assert.equal(list.current, 3);
      assert.deepEqual(list.items.map((v) => [v.version, v.actor, v.source, v.event, v.fields]), [
        [1, 'alice', 'api', 'ScriptCreated', ['status', 'name', 'interpreter', 'body']],
        [2, 'bob', 'api', 'ScriptUpdated', ['body']],
        [3, 'carol', 'api', 'ScriptUpdated', ['name']],
      ]);
      assert.ok(list.items.every((v) => !Number.isNaN(Date.parse(v.at))));
      const two = await json<Detail>(`/api/scripts/${script.id}/versions/2`);
      assert.deepEqual(two.content, { status: 'active', name: 'Release', interpreter: 'bash', body: 'make\nmake test\n' });
      assert.deepEqual(two.changes, [{ field: 'body', before: 'make\n', after: 'make\nmake test\n' }]);
      assert.equal(two.comparedTo, 1);
      const since = await json<Detail>(`/api/scripts/${script.id}/versions/3?compareTo=1`);
      assert.deepEqual(since.changes.map((c) => c.field), ['name', 'body']);
      // Bad numbers are 400s naming the parameter; versions that do not exist are 404s.
      assert.match((await json<{ message: string }>(`/api/scripts/${script.id}/versions/0`, {}, 400)).message, /version: must be a version number/);
      assert.match((await json<{ message: string }>(`/api/scripts/${script.id}/versions/x1`, {}, 400)).message, /version: must be/);
      assert.match((await json<{ message: string }>(`/api/scripts/${script.id}/versions/2?compareTo=-1`, {}, 400)).message, /compareTo: must be/);
      assert.match((await json<{ message: string }>(`/api/scripts/${script.id}/versions/9`, {}, 404)).message, /has no version 9 \(its versions: 1, 2, 3\)/);
      assert.equal((await t.request('/api/scripts/nope/versions')).status, 404);
    });

    it('numbers job versions as the API does (a run admitted is no version) and shows every field of the job', async () => {
      await post('/api/scripts', { name: 'Echo', body: 'echo hi' });
      const job = await post('/api/jobs', { name: 'Versioned', scriptId: 'echo', args: ['a'], env: { A: '1' }, tags: ['x'] });
      const run = await json<{ id: string }>(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }, 202);
      assert.ok(run.id);
      const edited = await put(`/api/jobs/${job.id}`, { args: ['a', 'b'], env: { A: '2' }, schedules: [{ cron: '0 3 * * *', timeZone: 'UTC' }] });
      const list = await json<{ current: number; items: Summary[] }>(`/api/jobs/${job.id}/versions`);
      assert.equal(list.current, edited.version);
      assert.deepEqual(list.items.map((v) => v.version), [1, edited.version]);
      assert.ok(edited.version > 2, 'the admitted run took a revision');
      assert.deepEqual(list.items[1].fields, ['args', 'env', 'schedules']);
      const first = await json<Detail>(`/api/jobs/${job.id}/versions/1`);
      for (const field of ['name', 'description', 'scriptId', 'args', 'env', 'tags', 'timeoutSeconds', 'maxConcurrent', 'schedules', 'keepWorkdir', 'keepRuns', 'files']) {
        assert.ok(field in first.content, `version content has ${field}`);
      }
      assert.equal((await t.request(`/api/jobs/${job.id}/versions/2`)).status, 404, 'the admission is no version');
      // The run's own events must not land in the next test's "nothing recorded" window.
      await waitForRun(t, run.id);
    });

    it('restores a version as a new version equal to it, honouring If-Match', async () => {
      const script = await post('/api/scripts', { name: 'Restorable', body: 'one' });
      await put(`/api/scripts/${script.id}`, { body: 'two' });
      await put(`/api/scripts/${script.id}`, { body: 'three' });
      const stale = await t.request(`/api/scripts/${script.id}/versions/2/restore`, { method: 'POST', headers: { 'if-match': '"2"' }, actor: 'dave' });
      assert.match((await expectJson<{ message: string }>(stale, 409)).message, /current version is 3/);
      const restored = await t.request(`/api/scripts/${script.id}/versions/2/restore`, { method: 'POST', headers: { 'if-match': '"3"' }, actor: 'dave' });
      const body = await expectJson<{ body: string; version: number }>(restored, 200);
      assert.deepEqual([body.body, body.version, restored.headers.get('etag')], ['two', 4, '"4"']);
      const four = await json<Detail>(`/api/scripts/${script.id}/versions/4`);
      const two = await json<Detail>(`/api/scripts/${script.id}/versions/2`);
      assert.deepEqual(four.content, two.content);
      assert.deepEqual([four.actor, four.event, four.restoredFrom], ['dave', 'ScriptUpdated', 2]);
      // The audit trail says so too.
      const audit = await (await t.request('/audit')).text();
      assert.match(audit, /Restoring version 2: Changed body of script template/);
      // Restoring what it already is records nothing.
      const head = await t.head();
      await json(`/api/scripts/${script.id}/versions/4/restore`, { method: 'POST' });
      assert.equal(await t.head(), head);
    });

    it('restores a job with its files, and refuses with 409 naming each reason it cannot', async () => {
      await post('/api/scripts', { name: 'Tpl A', body: 'a' });
      const b = await post('/api/scripts', { name: 'Tpl B', body: 'b' });
      const job = await post('/api/jobs', { name: 'Alpha', scriptId: 'tpl a', args: ['1'] });
      const form = new FormData();
      form.append('file', new Blob(['kept bytes']), 'kept.txt');
      form.append('file', new Blob(['gone bytes']), 'gone.txt');
      const withFiles = await json<Job & { files: Array<{ name: string; sha256: string }> }>(`/api/jobs/${job.id}/files`, { method: 'POST', body: form }, 201);
      assert.equal(withFiles.files.length, 2);
      const v3 = withFiles.version;
      // Rename, point at another template, drop the files.
      await put(`/api/jobs/${job.id}`, { name: 'Beta', scriptId: b.id, args: ['2'] });
      for (const name of ['kept.txt', 'gone.txt']) assert.equal((await t.request(`/api/jobs/${job.id}/files/${name}`, { method: 'DELETE' })).status, 204);

      // The name is taken now.
      const other = await post('/api/jobs', { name: 'alpha', scriptId: b.id });
      const named = await json<{ message: string }>(`/api/jobs/${job.id}/versions/${v3}/restore`, { method: 'POST' }, 409);
      assert.match(named.message, /cannot be restored: its name "Alpha" is now taken by another job \("alpha"\)/);
      assert.equal((await t.request(`/api/jobs/${other.id}`, { method: 'DELETE' })).status, 204);

      // Its template was removed (nothing uses Tpl A any more).
      const tplA = await json<{ id: string; version: number }>('/api/scripts/tpl%20a');
      assert.equal((await t.request(`/api/scripts/${tplA.id}`, { method: 'DELETE' })).status, 204);
      const removed = await json<{ message: string }>(`/api/jobs/${job.id}/versions/${v3}/restore`, { method: 'POST' }, 409);
      assert.match(removed.message, /cannot be restored: its script template \(\S+\) was removed/);

      // A version on a template that still exists, whose file's bytes expired.
      await put(`/api/jobs/${job.id}`, { name: 'Gamma' });
      const beforeGamma = (await json<{ items: Summary[] }>(`/api/jobs/${job.id}/versions`)).items;
      const form2 = new FormData();
      form2.append('file', new Blob(['kept bytes']), 'kept.txt');
      form2.append('file', new Blob(['gone bytes']), 'gone.txt');
      const again = await json<Job & { files: Array<{ name: string; sha256: string }> }>(`/api/jobs/${job.id}/files`, { method: 'POST', body: form2 }, 201);
      const withBoth = again.version;
      await put(`/api/jobs/${job.id}`, { args: ['3'] });
      for (const name of ['kept.txt', 'gone.txt']) assert.equal((await t.request(`/api/jobs/${job.id}/files/${name}`, { method: 'DELETE' })).status, 204);
      const gone = again.files.find((f) => f.name === 'gone.txt')!;
      await t.store.deleteStream(`blob-${gone.sha256}`);
      const head = await t.head();
      const expired = await json<{ message: string }>(`/api/jobs/${job.id}/versions/${withBoth}/restore`, { method: 'POST' }, 409);
      assert.match(expired.message, /cannot be restored: the bytes of its input file "gone.txt" expired/);
      assert.equal(await t.head(), head, 'a refused restore changes nothing');

      // A version whose files are all still stored restores, files included.
      const keptOnly = beforeGamma[beforeGamma.length - 1].version;
      const restoredRes = await t.request(`/api/jobs/${job.id}/versions/${keptOnly}/restore`, { method: 'POST', actor: 'erin' });
      const restored = await expectJson<Job>(restoredRes, 200);
      assert.deepEqual([restored.name, restored.args], ['Gamma', ['2']]);
      const current = await json<Detail>(`/api/jobs/${job.id}/versions/${restored.version}`);
      const target = await json<Detail>(`/api/jobs/${job.id}/versions/${keptOnly}`);
      assert.deepEqual(current.content, target.content);
      assert.deepEqual([current.restoredFrom, current.actor], [keptOnly, 'erin']);
      assert.equal(restoredRes.headers.get('etag'), `"${restored.version}"`);

      // The removal itself is no version to go back to; a removed job has nothing to restore.
      assert.equal((await t.request(`/api/jobs/${job.id}`, { method: 'DELETE' })).status, 204);
      const afterRemoval = await json<{ items: Summary[] }>(`/api/jobs/${job.id}/versions`);
      assert.equal(afterRemoval.items[afterRemoval.items.length - 1].event, 'JobRemoved');
      const removedJob = await json<{ message: string }>(`/api/jobs/${job.id}/versions/1/restore`, { method: 'POST' }, 410);
      assert.match(removedJob.message, new RegExp(`^The job "[^"]+" \\(${job.id}\\) was removed at \\S+ by \\S+: a removed job cannot be restored\\. Its versions stay readable at GET /api/jobs/${job.id}/versions$`));
      assert.equal((await t.request('/api/jobs/never-was-a-job/versions/1/restore', { method: 'POST' })).status, 404, 'one that never existed');
    });

    it('answers a removed job\'s former name with a 404 naming its id, when and by whom it was removed, and where its versions are', async () => {
      const tpl = await post('/api/scripts', { name: 'Former names tpl', body: 'true' });
      const job = await post('/api/jobs', { name: 'Nightly former', scriptId: tpl.id });
      assert.equal((await t.request(`/api/jobs/${job.id}`, { method: 'DELETE', actor: 'bob' })).status, 204);
      // Read your writes: the removal's answer is out, so the name already leads to it.
      const byId = await json<{ items: Summary[] }>(`/api/jobs/${job.id}/versions`);
      const removal = byId.items[byId.items.length - 1];
      assert.deepEqual([removal.event, removal.actor], ['JobRemoved', 'bob']);
      const hint = `No job is named "NIGHTLY FORMER" now. A job of that name was removed at ${removal.at} by bob: its id is ${job.id}, and its versions stay readable at GET /api/jobs/${job.id}/versions`;
      // Names compare as everywhere: case-insensitively. The list, one version and a restore all say so.
      assert.equal((await json<{ message: string }>('/api/jobs/NIGHTLY%20FORMER/versions', {}, 404)).message, hint);
      assert.equal((await json<{ message: string }>('/api/jobs/NIGHTLY%20FORMER/versions/1', {}, 404)).message, hint);
      const head = await t.head();
      assert.equal((await json<{ message: string }>('/api/jobs/NIGHTLY%20FORMER/versions/1/restore', { method: 'POST' }, 404)).message, hint);
      assert.equal(await t.head(), head, 'the refused restore changed nothing');

      // The name reused: it answers the new job's history, not the hint.
      const namesake = await post('/api/jobs', { name: 'nightly former', scriptId: tpl.id });
      const reused = await json<{ id: string; items: Summary[] }>('/api/jobs/Nightly%20Former/versions');
      assert.deepEqual([reused.id, reused.items.map((v) => v.event)], [namesake.id, ['JobCreated']]);
      assert.equal((await json<{ id: string }>('/api/jobs/nightly%20former/versions/1')).id, namesake.id);

      // Removed too: both are named, newest removal first.
      assert.equal((await t.request(`/api/jobs/${namesake.id}`, { method: 'DELETE', actor: 'carol' })).status, 204);
      const second = (await json<{ items: Summary[] }>(`/api/jobs/${namesake.id}/versions`)).items.pop()!;
      assert.equal(
        (await json<{ message: string }>('/api/jobs/nightly%20former/versions', {}, 404)).message,
        `No job is named "nightly former" now. 2 jobs of that name were removed, newest first: ` +
          `${namesake.id} at ${second.at} by carol; ${job.id} at ${removal.at} by bob. Their versions stay readable at GET /api/jobs/<id>/versions`,
      );

      // A name no job ever had is the plain 404.
      assert.equal((await json<{ message: string }>('/api/jobs/never%20named/versions', {}, 404)).message, 'No job "never named" exists');
      assert.equal((await json<{ message: string }>('/api/jobs/never%20named/versions/1/restore', { method: 'POST' }, 404)).message, 'No job "never named" exists');
    });

    it('lists a removed job\'s runs and events by its id, as before its removal; its former name no longer answers', async () => {
      const tpl = await post('/api/scripts', { name: 'Removed with runs tpl', body: 'echo ran' });
      const job = await post('/api/jobs', { name: 'Removed with runs', scriptId: tpl.id });
      const requested = await json<{ id: string }>(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }, 202);
      await waitForRun(t, requested.id);
      assert.equal((await t.request(`/api/jobs/${job.id}`, { method: 'DELETE', actor: 'bob' })).status, 204);
      const runs = await json<{ items: Array<{ id: string; status: string }> }>(`/api/runs?jobId=${job.id}`);
      assert.deepEqual(runs.items.map((run) => [run.id, run.status]), [[requested.id, 'succeeded']]);
      const events = await json<{ items: Array<{ type: string; stream: string }> }>(`/api/events?jobId=${job.id}&limit=100`);
      const types = events.items.map((event) => event.type);
      for (const type of ['JobCreated', 'RunRequested', 'RunFinished', 'JobRemoved']) assert.ok(types.includes(type), `${type} is listed: ${types.join(', ')}`);
      assert.ok(events.items.every((event) => event.stream.includes(job.id)), 'only the job\'s own streams');
      // The pages too: the runs list and the audit, filtered by the id.
      assert.ok((await (await t.request(`/runs?job=${job.id}`)).text()).includes(`/runs/${requested.id}`), 'the runs page lists its run');
      const audit = await (await t.request(`/audit?job=${job.id}`)).text();
      assert.ok(audit.includes('Removed with runs') && !audit.includes('No job'), 'the audit page lists its events');
      assert.equal((await t.request('/api/runs?jobId=Removed%20with%20runs')).status, 404);
      assert.equal((await t.request('/api/events?jobId=Removed%20with%20runs')).status, 404);
      assert.equal((await t.request('/api/runs?jobId=never-issued')).status, 404);
    });

    it('names at most five removed jobs of one name, newest first, and says how many more there are', async () => {
      const tpl = await post('/api/scripts', { name: 'Churn tpl', body: 'true' });
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const job = await post('/api/jobs', { name: 'Churn', scriptId: tpl.id });
        assert.equal((await t.request(`/api/jobs/${job.id}`, { method: 'DELETE', actor: 'erin' })).status, 204);
        ids.push(job.id);
      }
      const { message } = await json<{ message: string }>('/api/jobs/churn/versions', {}, 404);
      assert.match(message, /^No job is named "churn" now\. 7 jobs of that name were removed, newest first: /);
      const named = [...message.matchAll(/(?:: |; )(\w+) at \S+ by erin/g)].map((m) => m[1]);
      assert.deepEqual(named, ids.slice(2).reverse());
      assert.match(message, /by erin; and 2 more\. Their versions stay readable at GET \/api\/jobs\/<id>\/versions$/);
    });

    it('answers a removed template\'s former name with a 404 naming its id, when and by whom it was removed, and where its versions are', async () => {
      const script = await post('/api/scripts', { name: 'Old tpl', body: 'old' });
      assert.equal((await t.request(`/api/scripts/${script.id}`, { method: 'DELETE', actor: 'dave' })).status, 204);
      const removal = (await json<{ items: Summary[] }>(`/api/scripts/${script.id}/versions`)).items.pop()!;
      assert.deepEqual([removal.event, removal.actor], ['ScriptRemoved', 'dave']);
      const hint = `No script template is named "old tpl" now. A script template of that name was removed at ${removal.at} by dave: its id is ${script.id}, and its versions stay readable at GET /api/scripts/${script.id}/versions`;
      assert.equal((await json<{ message: string }>('/api/scripts/old%20tpl/versions', {}, 404)).message, hint);
      assert.equal((await json<{ message: string }>('/api/scripts/old%20tpl/versions/1', {}, 404)).message, hint);
      assert.equal((await json<{ message: string }>('/api/scripts/old%20tpl/versions/1/restore', { method: 'POST' }, 404)).message, hint);
      // Its id still answers the restore as before: gone, not unknown.
      assert.match((await json<{ message: string }>(`/api/scripts/${script.id}/versions/1/restore`, { method: 'POST' }, 410)).message, /was removed at .* by dave/);

      const namesake = await post('/api/scripts', { name: 'OLD TPL', body: 'new' });
      const reused = await json<{ id: string; items: Summary[] }>('/api/scripts/old%20tpl/versions');
      assert.deepEqual([reused.id, reused.items.map((v) => v.event)], [namesake.id, ['ScriptCreated']]);

      assert.equal((await json<{ message: string }>('/api/scripts/never%20a%20tpl/versions', {}, 404)).message, 'No script template "never a tpl" exists');
    });

    it('restores a job onto the template it used then, which then counts as in use', async () => {
      const first = await post('/api/scripts', { name: 'First tpl', body: '1' });
      const second = await post('/api/scripts', { name: 'Second tpl', body: '2' });
      const job = await post('/api/jobs', { name: 'Switcher', scriptId: first.id });
      await put(`/api/jobs/${job.id}`, { scriptId: second.id });
      const restored = await json<{ scriptId: string; scriptName: string; version: number }>(`/api/jobs/${job.id}/versions/1/restore`, { method: 'POST' });
      assert.deepEqual([restored.scriptId, restored.scriptName, restored.version], [first.id, 'First tpl', 3]);
      const refused = await json<{ message: string }>(`/api/scripts/${first.id}`, { method: 'DELETE' }, 409);
      assert.match(refused.message, /used by job "Switcher"/);
      assert.equal((await t.request(`/api/scripts/${second.id}`, { method: 'DELETE' })).status, 204, 'the template it left is free');
    });

    it('shows jobs and templates as they stood at a time, and refuses bad times with a 400 naming the problem', async () => {
      const script = await post('/api/scripts', { name: 'Timed tpl', body: 'old body' });
      const job = await post('/api/jobs', { name: 'Timed job', scriptId: script.id, tags: ['when'], args: ['before'] });
      await sleep(30);
      const asOf = new Date().toISOString();
      await sleep(30);
      await put(`/api/jobs/${job.id}`, { name: 'Timed job renamed', args: ['after'] });
      await put(`/api/scripts/${script.id}`, { body: 'new body' });
      await post('/api/jobs', { name: 'Born later', scriptId: script.id, tags: ['when'] });
      // Its old name, given to another job since.
      const namesake = await post('/api/jobs', { name: 'Timed job', scriptId: script.id });

      const single = await t.request(`/api/jobs/${job.id}?asOf=${encodeURIComponent(asOf)}`);
      const then = await expectJson<Record<string, unknown>>(single, 200);
      assert.deepEqual([then.name, then.args, then.version, then.asOf, then.scriptName], ['Timed job', ['before'], 1, asOf, 'Timed tpl']);
      assert.equal(single.headers.get('x-as-of'), asOf);
      assert.doesNotMatch(single.headers.get('etag') ?? '', /^"\d+"$/, 'a past state is no version to edit');
      // By the name it had then, though another job has that name now.
      assert.equal((await json<{ id: string }>(`/api/jobs/timed%20job?asOf=${encodeURIComponent(asOf)}`)).id, job.id);
      assert.equal((await json<{ id: string }>('/api/jobs/timed%20job')).id, namesake.id);
      assert.match((await json<{ message: string }>(`/api/jobs/${namesake.id}?asOf=${encodeURIComponent(asOf)}`, {}, 404)).message, /existed at/);
      const now = await json<{ name: string }>(`/api/jobs/${job.id}`);
      assert.equal(now.name, 'Timed job renamed');

      const list = await json<{ items: Array<{ name: string }>; asOf: string }>(`/api/jobs?tag=when&asOf=${encodeURIComponent(asOf)}`);
      assert.deepEqual([list.items.map((j) => j.name), list.asOf], [['Timed job'], asOf]);
      const current = await json<{ items: Array<{ name: string }> }>('/api/jobs?tag=when');
      assert.deepEqual(current.items.map((j) => j.name), ['Born later', 'Timed job renamed']);
      const searched = await json<{ items: Array<{ name: string }> }>(`/api/jobs?q=TIMED&asOf=${encodeURIComponent(asOf)}`);
      assert.deepEqual(searched.items.map((j) => j.name), ['Timed job']);

      const scripts = await json<{ items: Array<{ name: string; body: string; version: number }>; asOf: string }>(`/api/scripts?asOf=${encodeURIComponent(asOf)}`);
      const timed = scripts.items.find((s) => s.name === 'Timed tpl')!;
      assert.deepEqual([timed.body, timed.version, scripts.asOf], ['old body', 1, asOf]);

      // The pages as of then: marked, read-only, the old body.
      const scriptsPage = await (await t.request(`/scripts?asOf=${encodeURIComponent(asOf)}`)).text();
      assert.match(scriptsPage, /id="as-of-banner"/);
      assert.ok(scriptsPage.includes('old body') && !scriptsPage.includes('new body'));
      const jobsPage = await (await t.request(`/jobs?asOf=${encodeURIComponent(asOf)}&tag=when`)).text();
      assert.ok(jobsPage.includes('Timed job<') && !jobsPage.includes('Born later') && !jobsPage.includes('hx-delete'));
      assert.equal((await t.request('/scripts?asOf=2999-01-01T00:00:00Z')).status, 400);

      const early = '2001-01-01T00:00:00Z';
      assert.deepEqual((await json<{ items: unknown[] }>(`/api/jobs?asOf=${early}`)).items, []);
      assert.match((await json<{ message: string }>(`/api/jobs/${job.id}?asOf=${early}`, {}, 404)).message, /existed at 2001-01-01T00:00:00\.999Z/, 'a time to the second means the end of that second');

      for (const [bad, problem] of [
        ['yesterday', /is not an ISO 8601 time/],
        ['2026-01-01T10:00:00', /add a time zone/],
        ['2026-02-30T10:00:00Z', /not a real date and time/],
        ['2026-01-01T25:00:00Z', /not a real date and time/],
        ['2999-01-01T00:00:00Z', /is in the future/],
      ] as const) {
        for (const path of [`/api/jobs?asOf=${bad}`, `/api/jobs/${job.id}?asOf=${bad}`, `/api/scripts?asOf=${bad}`]) {
          const answer = await json<{ message: string }>(path, {}, 400);
          assert.match(answer.message, /asOf: /, path);
          assert.match(answer.message, problem, path);
        }
      }
      assert.match((await json<{ message: string }>(`/api/jobs?lastStatus=never&asOf=${encodeURIComponent(asOf)}`, {}, 400)).message, /cannot be combined with lastStatus/);
    });
  });
}
