/**
 * `GET /api/runs/:id/output/search` on a real server in this process: the
 * matches agree with a plain search of `/output` (lines and byte offsets),
 * across batch boundaries, page by page with `next`; bad queries are 400s,
 * an expired output is a 410.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, expectJson } from '../support/server-process';
import { createJob, getJson, outputOf, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { startTestApp, type TestApp } from '../support/test-app';

interface Match {
  line: number;
  offset: number;
  lineOffset: number;
}
interface Answer {
  q: string;
  matches: Match[];
  next: string | null;
  searchedBytes: number;
}

/** The same search done the plain way: every non-overlapping occurrence, ASCII letters either case. */
function expected(output: Buffer, q: string): Match[] {
  const text = output.toString('latin1').replace(/[A-Z]/g, (c) => c.toLowerCase());
  const needle = Buffer.from(q, 'utf8').toString('latin1').toLowerCase();
  const matches: Match[] = [];
  let line = 1;
  let counted = 0;
  for (let hit = text.indexOf(needle); hit >= 0; hit = text.indexOf(needle, hit + needle.length)) {
    for (let newline = text.indexOf('\n', counted); newline >= 0 && newline < hit; newline = text.indexOf('\n', newline + 1)) line++;
    counted = hit;
    const lineOffset = text.lastIndexOf('\n', hit - 1) + 1;
    matches.push({ line, offset: hit, lineOffset });
  }
  return matches;
}

describe('the output search (API)', () => {
  let t: TestApp;
  let big: Run;
  let bigOutput: Buffer;

  before(async () => {
    t = await startTestApp();
    // About 1.6 MB: several stored batches; "Line" in mixed case, a colour code around some words.
    const jobId = await createJob(t, 'many lines', 'bash', `awk 'BEGIN { for (i = 1; i <= 120000; i++) if (i % 9973 == 0) printf "\\033[31mERROR\\033[0m at %d\\n", i; else print "Line " i " ok" }'; printf 'progress 10%%\\rprogress 100%%\\nlast line without end'`);
    big = await waitForRun(t, (await requestRun(t, jobId)).id, 60_000);
    bigOutput = await outputOf(t, big.id);
  });
  after(() => t.close());

  const search = (runId: string, query: string) => t.request(`/api/runs/${runId}/output/search?${query}`);

  it('answers every occurrence with its line and byte offsets, as a plain search of the output finds them', async () => {
    assert.ok(bigOutput.length > 1_000_000, `the output is large enough to span batches (${bigOutput.length} bytes)`);
    const answer = await expectJson<Answer>(await search(big.id, 'q=error'), 200);
    const want = expected(bigOutput, 'error');
    assert.equal(want.length, 12);
    assert.deepEqual(answer.matches, want);
    assert.equal(answer.next, null);
    assert.equal(answer.searchedBytes, bigOutput.length);
    // The line numbers are the lines a person counts: line 9973 is the first error.
    assert.equal(answer.matches[0].line, 9973);
    assert.equal(bigOutput.subarray(answer.matches[0].lineOffset, answer.matches[0].offset).toString(), '\x1b[31m');
  });

  it('pages through many matches with next, and the pages join up exactly', async () => {
    const want = expected(bigOutput, 'LINE 11');
    assert.ok(want.length > 250, `${want.length} matches`);
    const got: Match[] = [];
    let from: string | null = '0';
    let pages = 0;
    while (from !== null) {
      const answer: Answer = await expectJson<Answer>(await search(big.id, `q=${encodeURIComponent('LINE 11')}&limit=100&from=${from}`), 200);
      assert.ok(answer.matches.length <= 100);
      got.push(...answer.matches);
      from = answer.next;
      pages++;
    }
    assert.equal(pages, Math.ceil(want.length / 100));
    assert.deepEqual(got, want);
  });

  it('counts a carriage-return progress line as one line, and finds text on the unfinished last line', async () => {
    const progress = await expectJson<Answer>(await search(big.id, 'q=progress'), 200);
    assert.deepEqual(progress.matches.map((m) => m.line), [120001, 120001]);
    const last = await expectJson<Answer>(await search(big.id, 'q=without%20end'), 200);
    assert.deepEqual(last.matches, expected(bigOutput, 'without end'));
    assert.equal(last.matches[0].line, 120002);
  });

  it('finds nothing as an empty list, and refuses an empty, missing or too long q, a bad from or limit, by name', async () => {
    const none = await expectJson<Answer>(await search(big.id, 'q=nowhere-to-be-found'), 200);
    assert.deepEqual({ matches: none.matches, next: none.next }, { matches: [], next: null });
    for (const [query, name] of [
      ['q=', 'q'],
      ['', 'q'],
      [`q=${'x'.repeat(201)}`, 'q'],
      ['q=a&from=-1', 'from'],
      ['q=a&from=abc', 'from'],
      ['q=a&limit=0', 'limit'],
      ['q=a&limit=1001', 'limit'],
    ]) {
      const body = await expectJson<{ message: string[] | string }>(await search(big.id, query), 400);
      assert.match(JSON.stringify(body.message), new RegExp(`${name}:`), `${query} names ${name}`);
    }
    await expectJson(await search('no-such-run', 'q=a'), 404);
  });

  it('serves the run page the lines around a line (a #L link before the tail), and refuses a line that is no number', async () => {
    const around = (runId: string, query: string) => t.request(`/runs/${runId}/output/around?${query}`, { headers: { 'hx-request': 'true', 'hx-request-type': 'partial' } });
    const html = await (await around(big.id, 'line=9973')).text();
    assert.match(html, /Around line 9973/);
    assert.match(html, /<span class="ol" id="L9873" data-n="9873"[^>]*>Line 9873 ok\n<\/span>/, 'from a hundred lines before');
    assert.match(html, /id="L9973" data-n="9973"[^>]*><span class="ansi-red-fg">ERROR<\/span> at 9973\n/);
    assert.match(await (await around(big.id, 'line=999999')).text(), /The stored output has no line 999999/);
    for (const query of ['line=0', 'line=abc', '']) assert.equal((await around(big.id, query)).status, 400, query);
  });

  it('answers 410 for an output that retention expired, like the other output endpoints', async () => {
    await postJson(t, '/api/scripts', { name: 'keep one', interpreter: 'bash', body: 'echo kept output' }, 201);
    const job = await postJson<{ id: string }>(t, '/api/jobs', { name: 'keep one', scriptId: 'keep one', keepRuns: 1 }, 201);
    const first = await waitForRun(t, (await requestRun(t, job.id)).id);
    await expectJson<Answer>(await search(first.id, 'q=kept'), 200);
    await waitForRun(t, (await requestRun(t, job.id)).id);
    await eventually(async () => ((await getJson<{ outputExpiredAt: string | null }>(t, `/api/runs/${first.id}`)).outputExpiredAt !== null ? true : undefined), 20_000, 'the first output to expire');
    const gone = await expectJson<{ message: string }>(await search(first.id, 'q=kept'), 410);
    assert.match(gone.message, /expired/);
    const page = await t.request(`/runs/${first.id}/output/around?line=1`, { headers: { 'hx-request': 'true', 'hx-request-type': 'partial' } });
    assert.equal(page.status, 410);
  });
});
