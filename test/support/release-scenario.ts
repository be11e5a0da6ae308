/**
 * The end-to-end scenario every store runs the same way: a real bash script with args,
 * env and an input file that ends with exit 3, checked over REST (status, exit code,
 * who, timestamps, the exact output bytes), and a snapshot of everything the API shows,
 * to compare before and after a restart.
 */
import assert from 'node:assert/strict';
import { expectJson } from './server-process';
import { getJson, outputOf, postJson, requestRun, type RestClient, type Run, waitForRun } from './rest';

const SCRIPT = `#!/bin/bash
echo "job=$ENDERCOMPUTE_JOB run=$ENDERCOMPUTE_RUN_NUMBER actor=$ENDERCOMPUTE_ACTOR"
echo "args: $*"
echo "colour=$COLOUR"
echo "secret=\${SERVER_SECRET:-none} key=\${ENDERCOMPUTE_KEY:-none}"
printf 'input: '; cat input.txt
echo "to stderr" >&2
# Two pipes: order across them is the order of arrival, so give stderr a moment to arrive first.
sleep 0.2
printf 'bytes:\\x00\\xff<b>\\n'
exit 3
`;

/** What the script prints: stdout and stderr interleaved, with bytes that are not UTF-8. */
export const EXPECTED_OUTPUT = Buffer.concat([
  Buffer.from('job=Release build run=1 actor=bob\nargs: --fast x y\ncolour=blue\nsecret=none key=none\ninput: hello from a file\nto stderr\nbytes:'),
  Buffer.from([0x00, 0xff]),
  Buffer.from('<b>\n'),
]);

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * Creates the template (by alice), the job with args, env and `input.txt`, requests a
 * run (by bob) with one more argument, and checks the finished run and its output.
 * Start the server with `SERVER_SECRET` set to prove its environment does not leak.
 */
export async function runReleaseScenario(server: RestClient): Promise<{ run: Run; jobId: string }> {
  const script = await postJson<{ id: string }>(server, '/api/scripts', { name: 'fails', body: SCRIPT }, 201, 'alice');
  const job = await postJson<{ id: string }>(
    server,
    '/api/jobs',
    { name: 'Release build', scriptId: script.id, args: ['--fast'], env: { COLOUR: 'blue' } },
    201,
    'alice',
  );
  const form = new FormData();
  form.append('file', new Blob(['hello from a file\n']), 'input.txt');
  await expectJson(await server.request(`/api/jobs/${job.id}/files`, { method: 'POST', body: form }), 201);

  const requested = await requestRun(server, job.id, { args: ['x y'] }, 'bob');
  const run = await waitForRun(server, requested.id);
  assert.equal(run.status, 'failed');
  assert.equal(run.exitCode, 3);
  assert.equal(run.requestedBy, 'bob');
  for (const time of [run.requestedAt, run.startedAt, run.finishedAt]) assert.match(String(time), ISO_MS);
  assert.ok(run.requestedAt <= (run.startedAt ?? '') && (run.startedAt ?? '') <= (run.finishedAt ?? ''));
  assert.deepEqual(await outputOf(server, run.id), EXPECTED_OUTPUT);
  return { run, jobId: job.id };
}

/** An `/api/events` page without the events of `runner-presence-…` streams. */
function withoutPresence<T extends { items: Array<{ stream: string }> }>(page: T): T {
  return { ...page, items: page.items.filter((event) => !event.stream.startsWith('runner-presence-')) };
}

/** Everything the API shows about the scenario, bytes as base64: equal snapshots mean nothing changed. */
export async function snapshot(server: RestClient, runId: string, jobId: string): Promise<unknown> {
  const bytes = async (path: string) => Buffer.from(await (await server.request(path)).arrayBuffer()).toString('base64');
  return {
    jobs: await getJson(server, '/api/jobs'),
    scripts: await getJson(server, '/api/scripts'),
    run: await getJson(server, `/api/runs/${runId}`),
    runs: await getJson(server, '/api/runs'),
    output: await bytes(`/api/runs/${runId}/output`),
    file: await bytes(`/api/jobs/${jobId}/files/input.txt`),
    // Without runner presence: a server records its local runner going offline at a stop and back at a start.
    events: withoutPresence(await getJson<{ items: Array<{ stream: string }>; next: string | null }>(server, '/api/events?limit=1000&includeBytes=true')),
  };
}
