/**
 * Names and ids over HTTP (issue 10, items 4 and 5): a name is stored in NFC and
 * compared in NFC without regard to case; invisible, control and half characters are
 * refused wherever a person names something (templates, jobs, tags, input files,
 * actors); a name can never be taken for an id, a new id never equals a name, and a
 * removed resource's id answers 404 forever. Old logs stay readable as they are.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { NewEvent } from '../../src/event-store/event-store.port';
import { ProjectionEngine } from '../../src/projections/projection-engine';
import { RandomIdGenerator } from '../../src/shared/ids';
import { expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

interface Named {
  id: string;
  name: string;
  createdBy: string;
  tags?: string[];
}

const NFC = 'Caf\u00e9';
const NFD = 'Cafe\u0301';

/** Names no person can tell from another one, or that hide what they are. */
const INVISIBLE = [
  ['a zero-width space', 'build\u200b'],
  ['a right-to-left override', 'report\u202etxt.exe'],
  ['a zero-width joiner alone', '\u200d'],
  ['a byte order mark', 'de\ufeffploy'],
  ['a lone surrogate', 'broken\ud800'],
  ['a lone low surrogate', '\udc00'],
  ['a bell', 'ding\u0007'],
  ['a line separator', 'one\u2028two'],
] as const;

async function expectStatus(response: Response, status: number): Promise<void> {
  const text = await response.text();
  assert.equal(response.status, status, text);
}

/** Raw JSON text for a body, keeping a lone surrogate as the `\ud800` escape a client would send. */
function rawJson(value: unknown): string {
  return JSON.stringify(value);
}

describe('REST: names and ids', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'base', body: 'true' } }), 201);
  });
  after(async () => {
    await t.close();
  });

  async function appendLegacy(stream: string, type: string, data: unknown): Promise<void> {
    const event: NewEvent = { id: randomUUID(), type, data, metadata: { actor: 'old', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'api' } };
    const { position } = await t.store.append(stream, [event], 'any');
    await t.app.get(ProjectionEngine).waitFor(position);
  }

  for (const [kind, path, extra] of [
    ['template', '/api/scripts', { body: 'true' }],
    ['job', '/api/jobs', { scriptId: 'base' }],
  ] as const) {
    it(`stores a ${kind} name in NFC and treats the composed and decomposed forms as one name`, async () => {
      const created = await expectJson<Named>(await t.request(path, { method: 'POST', json: { name: NFD, ...extra } }), 201);
      assert.equal(created.name, NFC, 'stored composed');
      const again = await expectJson<{ message: string }>(await t.request(path, { method: 'POST', json: { name: NFC, ...extra } }), 409);
      assert.match(again.message, /already exists/);
      await expectJson(await t.request(path, { method: 'POST', json: { name: 'CAFE\u0301', ...extra } }), 409);
      for (const spelling of [NFC, NFD, 'CAF\u00c9', 'cafe\u0301']) {
        const found = await expectJson<Named>(await t.request(`${path}/${encodeURIComponent(spelling)}`), 200);
        assert.equal(found.id, created.id, spelling);
      }
      // A rename to another spelling of its own name is a change of nothing but the form.
      const renamed = await expectJson<Named>(await t.request(`${path}/${created.id}`, { method: 'PUT', json: { name: 'CAFE\u0301' } }), 200);
      assert.equal(renamed.name, 'CAF\u00c9');
      await expectStatus(await t.request(`${path}/${created.id}`, { method: 'DELETE' }), 204);
    });

    it(`refuses ${kind} names with invisible, control or half characters, naming the field, and writes nothing`, async () => {
      const existing = await expectJson<Named>(await t.request(path, { method: 'POST', json: { name: `plain ${kind}`, ...extra } }), 201);
      for (const [what, name] of INVISIBLE) {
        const head = await t.head();
        const created = await t.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: rawJson({ name, ...extra }) });
        const body = await expectJson<{ problems: string[] }>(created, 400);
        assert.ok(body.problems.some((p) => p.startsWith('name ') || p.startsWith('name:')), `${what}: ${body.problems.join('; ')}`);
        const renamed = await t.request(`${path}/${existing.id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: rawJson({ name }) });
        await expectJson(renamed, 400);
        assert.equal(await t.head(), head, `${what}: nothing written`);
      }
      // The list stays well-formed JSON of whole characters.
      const list = await t.request(path);
      const text = new TextDecoder('utf-8', { fatal: true }).decode(await list.arrayBuffer());
      assert.doesNotMatch(text, /\\u[dD][89abAB]/, 'no surrogate escapes');
      assert.ok(JSON.parse(text));
    });

    it(`never lets a ${kind} name be taken for an id, and answers a removed ${kind}'s id with 404 forever`, async () => {
      const first = await expectJson<Named>(await t.request(path, { method: 'POST', json: { name: `first ${kind}`, ...extra } }), 201);
      const head = await t.head();
      for (const name of [first.id, first.id.toUpperCase(), 'abcdefghjkmn', '0123456789ab']) {
        const refused = await expectJson<{ problems: string[] }>(await t.request(path, { method: 'POST', json: { name, ...extra } }), 400);
        assert.match(refused.problems.join('; '), /name must not look like an id/);
        await expectJson(await t.request(`${path}/${first.id}`, { method: 'PUT', json: { name } }), 400);
      }
      // Nor a name that is a dot segment of an address (/api/jobs/.. is /api/), trimmed or not.
      for (const name of ['.', '..', ' .. ']) {
        const refused = await expectJson<{ problems: string[] }>(await t.request(path, { method: 'POST', json: { name, ...extra } }), 400);
        assert.match(refused.problems.join('; '), /name must not be "\.\.?": in an address it means the folder or its parent/);
        await expectJson(await t.request(`${path}/${first.id}`, { method: 'PUT', json: { name } }), 400);
      }
      assert.equal(await t.head(), head);
      // Names that merely resemble ids are fine: other lengths, letters ids never use, spaces; dots among other characters.
      for (const name of ['abcdefghjkm', 'nightlybuild', 'abcd efghjkmn', '...', '.hidden', 'v1..2']) {
        const made = await expectJson<Named>(await t.request(path, { method: 'POST', json: { name, ...extra } }), 201);
        // Reachable by its name.
        assert.equal((await expectJson<Named>(await t.request(`${path}/${encodeURIComponent(name)}`), 200)).id, made.id, name);
      }

      await expectStatus(await t.request(`${path}/${first.id}`, { method: 'DELETE' }), 204);
      for (let attempt = 0; attempt < 2; attempt++) {
        await expectJson(await t.request(`${path}/${first.id}`), 404);
        await expectJson(await t.request(`${path}/${first.id}`, { method: 'DELETE' }), 404);
      }
    });
  }

  it('keeps an old log readable: look-alike and id-shaped names stay, and ids still mean only their own job', async () => {
    // Written by a version that accepted these names: a job named exactly like another job's id.
    const victim = await expectJson<Named>(await t.request('/api/jobs', { method: 'POST', json: { name: 'victim', scriptId: 'base' } }), 201);
    const script = await expectJson<Named>(await t.request('/api/scripts/base'), 200);
    const impostorId = 'legacyimpost';
    await appendLegacy(`job-${impostorId}`, 'JobCreated', { jobId: impostorId, name: victim.id, description: '', scriptId: script.id, args: [], env: {}, tags: [], timeoutSeconds: null });
    await appendLegacy('job-legacynfdxx', 'JobCreated', { jobId: 'legacynfdxx', name: `old ${NFD}`, description: '', scriptId: script.id, args: [], env: {}, tags: [], timeoutSeconds: null });

    const nfd = await expectJson<Named>(await t.request('/api/jobs/legacynfdxx'), 200);
    assert.equal(nfd.name, `old ${NFD}`, 'an old name reads as it was written');
    assert.equal((await expectJson<Named>(await t.request(`/api/jobs/${encodeURIComponent(`OLD ${NFC}`)}`), 200)).id, 'legacynfdxx');
    await expectJson(await t.request('/api/jobs', { method: 'POST', json: { name: `old ${NFC}`, scriptId: 'base' } }), 409);

    // The id is the victim's: the impostor is reached by its own id only.
    assert.equal((await expectJson<Named>(await t.request(`/api/jobs/${victim.id}`), 200)).id, victim.id);
    await expectStatus(await t.request(`/api/jobs/${victim.id}`, { method: 'DELETE' }), 204);
    await expectJson(await t.request(`/api/jobs/${victim.id}`), 404);
    await expectJson(await t.request(`/api/jobs/${victim.id}`, { method: 'DELETE' }), 404);
    assert.equal((await expectJson<Named>(await t.request(`/api/jobs/${impostorId}`), 200)).name, victim.id, 'the impostor is untouched');
  });

  it('refuses invisible characters in tags and stores tags in NFC, so look-alike tags are one tag', async () => {
    const job = await expectJson<Named>(await t.request('/api/jobs', { method: 'POST', json: { name: 'tagged', scriptId: 'base', tags: [`${NFD}`, NFC, 'x\u200b'] } }), 400);
    assert.ok(job);
    const tagged = await expectJson<Named>(await t.request('/api/jobs', { method: 'POST', json: { name: 'tagged', scriptId: 'base', tags: [NFD, 'CAF\u00c9'] } }), 201);
    assert.deepEqual(tagged.tags, ['caf\u00e9']);
    const found = await expectJson<{ items: Named[] }>(await t.request(`/api/jobs?tag=${encodeURIComponent(NFD)}`), 200);
    assert.deepEqual(found.items.map((j) => j.id), [tagged.id]);
    const searched = await expectJson<{ items: Named[] }>(await t.request(`/api/jobs?q=${encodeURIComponent('CAFE\u0301')}`), 200);
    assert.ok(searched.items.some((j) => j.id === tagged.id));
  });

  it('refuses input file names with invisible characters (a right-to-left override hides the real extension)', async () => {
    await expectJson(await t.request('/api/jobs', { method: 'POST', json: { name: 'with files', scriptId: 'base' } }), 201);
    for (const name of ['invoice\u202efdp.exe', 'zero\u200bwidth.txt', 'b\ufeffom.txt']) {
      const head = await t.head();
      const form = new FormData();
      form.append('file', new Blob(['x']), name);
      const body = await expectJson<{ problems: string[] }>(await t.request('/api/jobs/with%20files/files', { method: 'POST', body: form }), 400);
      assert.match(body.problems.join('; '), /^file: the file name must not contain invisible formatting characters/);
      const run = new FormData();
      run.append('file', new Blob(['x']), name);
      await expectJson(await t.request('/api/jobs/with%20files/runs', { method: 'POST', body: run }), 400);
      assert.equal(await t.head(), head, name);
    }
  });

  it('refuses half characters in free text too (description, arguments, environment, script body), which no UTF-8 can carry', async () => {
    await expectJson(await t.request('/api/jobs', { method: 'POST', json: { name: 'free text', scriptId: 'base' } }), 201);
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['/api/jobs', 'POST', { name: 'x1', scriptId: 'base', description: 'a\ud800' }, /^description: /],
      ['/api/jobs/free%20text', 'PUT', { args: ['ok', '\udfff'] }, /^args: /],
      ['/api/jobs/free%20text', 'PUT', { env: { NAME: 'x\ud83d' } }, /^env: /],
      ['/api/scripts/base', 'PUT', { body: 'echo \ud800' }, /^body: /],
      ['/api/jobs/free%20text/runs', 'POST', { args: ['\ud800'] }, /^args: /],
    ];
    for (const [path, method, body, problem] of cases) {
      const head = await t.head();
      const answer = await t.request(path, { method, headers: { 'content-type': 'application/json' }, body: rawJson(body) });
      const refused = await expectJson<{ problems: string[] }>(answer, 400);
      assert.match(refused.problems.join('; '), problem, `${method} ${path}`);
      assert.match(refused.problems.join('; '), /unpaired surrogates/);
      assert.equal(await t.head(), head);
    }
    // Whole characters outside the basic plane are fine.
    await expectJson(await t.request('/api/jobs/free%20text', { method: 'PUT', json: { description: 'rocket \u{1F680}', args: ['\u{1F600}'] } }), 200);
  });

  it('stores actors in NFC and refuses invisible or control characters in X-Actor', async () => {
    const zoe = await expectJson<Named>(await t.request('/api/scripts', { method: 'POST', actor: 'Zoe%CC%88', json: { name: 'by zoe', body: 'true' } }), 201);
    assert.equal(zoe.createdBy, 'Zo\u00eb');
    const runs = await expectJson<{ items: unknown[] }>(await t.request(`/api/runs?by=${encodeURIComponent('ZOE\u0308')}`), 200);
    assert.deepEqual(runs.items, []);
    for (const actor of ['%E2%80%8Bmallory', 'eve%E2%80%AEnimda', 'a%EF%BB%BFb', 'a%07b', '%ED%A0%80', 'x'.repeat(65)]) {
      const head = await t.head();
      const body = await expectJson<{ problems: string[] }>(await t.request('/api/scripts', { method: 'POST', actor, json: { name: `by ${actor.slice(0, 8)}`, body: 'true' } }), 400);
      assert.match(body.problems.join('; '), /^X-Actor: /, actor);
      assert.equal(await t.head(), head, actor);
    }
  });

  it('refuses the actors EnderCompute records its own actions under, in any case', async () => {
    for (const actor of ['system', 'Runner', 'SCHEDULE', ' schedule ']) {
      const head = await t.head();
      const body = await expectJson<{ problems: string[] }>(await t.request('/api/scripts', { method: 'POST', actor: encodeURIComponent(actor), json: { name: `as ${actor.trim()}`, body: 'true' } }), 400);
      assert.match(body.problems.join('; '), /^X-Actor: ".*" is the name EnderCompute records its own actions under/, actor);
      assert.equal(await t.head(), head, actor);
    }
    // A name that merely contains one is anyone's.
    await expectJson(await t.request('/api/scripts', { method: 'POST', actor: 'systems-team', json: { name: 'by the team', body: 'true' } }), 201);
  });
});

describe('pages: names', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it("answers the key form saying what is wrong when the person's name holds invisible characters", async () => {
    const page = await t.request('/jobs', { headers: { 'x-actor': encodeURIComponent('Mallory\u200b') } });
    assert.equal(page.status, 400);
    const html = await page.text();
    assert.ok(html.includes('id="key-form"'), 'the key form, where the name can be changed');
    assert.match(html, /Your name must not contain invisible formatting characters/);
  });

  it('stores a name typed in the form in NFC, and puts a refused name beside its field', async () => {
    const htmx = (path: string, body: Record<string, string>): Promise<Response> =>
      t.request(path, { method: 'POST', headers: { 'hx-request': 'true' }, body: new URLSearchParams(body) });
    assert.equal((await htmx('/scripts', { name: NFD, interpreter: 'bash', body: 'true' })).status, 200);
    const scripts = await expectJson<{ items: Named[] }>(await t.request('/api/scripts'), 200);
    assert.deepEqual(scripts.items.map((script) => script.name), [NFC]);
    const refused = await htmx('/scripts', { name: 'two\u202eowt', interpreter: 'bash', body: 'true' });
    assert.equal(refused.status, 422);
    assert.match(await refused.text(), /id="name"[^>]*aria-invalid="true"/);
  });
});

describe('REST: a new id never equals a name', () => {
  it('skips an id that an old log uses as a name', async () => {
    // The generator's first id is exactly the name of a job in the (old) log.
    const taken = 'aaaaaaaaaaaa';
    let offerTaken = false;
    let offered = false;
    const ids = new (class extends RandomIdGenerator {
      override newId(): string {
        if (!offerTaken) return super.newId();
        offerTaken = false;
        offered = true;
        return taken;
      }
    })();
    const t = await startTestApp({}, { ids });
    try {
      const scriptId = 'legacyscrpt1';
      const meta = { actor: 'old', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'api' };
      await t.store.append(`script-${scriptId}`, [{ id: randomUUID(), type: 'ScriptCreated', data: { scriptId, name: 'old', interpreter: 'bash', body: 'true' }, metadata: meta }], 'no_stream');
      const { position } = await t.store.append(
        'job-legacyjob001',
        [{ id: randomUUID(), type: 'JobCreated', data: { jobId: 'legacyjob001', name: taken, description: '', scriptId, args: [], env: {}, tags: [], timeoutSeconds: null }, metadata: meta }],
        'no_stream',
      );
      await t.app.get(ProjectionEngine).waitFor(position);
      offerTaken = true;
      const job = await expectJson<Named>(await t.request('/api/jobs', { method: 'POST', json: { name: 'new', scriptId: 'old' } }), 201);
      assert.ok(offered, 'the generator did offer the taken id');
      assert.notEqual(job.id, taken);
      assert.equal((await expectJson<Named>(await t.request(`/api/jobs/${taken}`), 200)).id, 'legacyjob001');
      assert.equal((await expectJson<Named>(await t.request(`/api/jobs/${job.id}`), 200)).name, 'new');
    } finally {
      await t.close();
    }
  });
});
