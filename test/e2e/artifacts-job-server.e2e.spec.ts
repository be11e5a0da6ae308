/**
 * Issue 14 item 1 on job servers: artifacts collected by a real `endercompute runner`
 * with the same collector as the local runner, uploaded through the runner protocol
 * before the run's end is reported, and served by the built server byte-exact. The
 * same content from a local run is one copy in the log; the server's
 * ENDERCOMPUTE_MAX_ARTIFACT_BYTES reaches the job server in the run specification; an
 * upload cut by a SIGKILL of the server resumes after the restart and stores every
 * chunk once; and the protocol itself (as a job server speaks it) acknowledges repeated
 * uploads and announcements without storing anything twice.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { startJobServer, type JobServerProcess } from '../support/job-server-process';
import { runCli } from '../support/cli';
import { createJobWithFiles, getJson, postJson, requestRun, type Run as BaseRun, waitForRun } from '../support/rest';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

interface Run extends BaseRun {
  outputExpiredBy?: string | null;
  runner: string | null;
  artifactsSkipped: Array<{ path: string; size: number; reason: string }>;
}

interface Listed {
  items: Array<{ path: string; size: number; sha256: string }>;
  skipped: Array<{ path: string; size: number; reason: string }>;
}

const TOKEN = 'runner-token-artifacts-0123456789';
const MANUAL_TOKEN = 'runner-token-manual-0123456789ab';
/** The server's limit: one 1.1 MB file fits, two do not. */
const MAX_ARTIFACT_BYTES = 1_500_000;
const REPORT = Buffer.from('<testsuite name="unit" tests="1"/>\n');
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Builds a release from the input file `payload.bin` and exits with `$1`. */
const RELEASE_SCRIPT = [
  'mkdir -p dist reports/unit',
  'cp payload.bin dist/app-1.0.tar.gz',
  'printf \'<testsuite name="unit" tests="1"/>\\n\' > reports/unit/a.xml',
  'ln -s /etc/passwd dist/passwd.tar.gz',
  'echo built',
  'exit "${1:-0}"',
].join('\n');

describe('artifacts from a job server (endercompute runner)', () => {
  let server: ServerProcess;
  let dataDir: string;
  let port: string;
  let jobServer: JobServerProcess;
  const payload = randomBytes(1_100_000);
  const env = {
    ENDERCOMPUTE_RUNNER_TOKENS: `js-art=${TOKEN},js-manual=${MANUAL_TOKEN}`,
    ENDERCOMPUTE_RUNNER_LOST_SECONDS: '30',
    ENDERCOMPUTE_MAX_ARTIFACT_BYTES: String(MAX_ARTIFACT_BYTES),
    // The server's own runner has a label the job server lacks: a job can be placed on it.
    ENDERCOMPUTE_RUNNER_LABELS: 'local',
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'endercompute-artifacts-remote-'));
    server = await startServer({ dataDir, env });
    port = new URL(server.url).port;
    // No ENDERCOMPUTE_MAX_ARTIFACT_BYTES of its own: the server's limit comes with each run.
    jobServer = await startJobServer({ url: server.url, token: TOKEN, labels: ['remote'], name: 'js-art' });
  });

  after(async () => {
    await jobServer?.kill();
    jobServer?.cleanup();
    await server?.kill();
    server?.cleanup();
  });

  const job = (name: string, body: string, fields: Record<string, unknown>, files: Array<{ name: string; bytes: Buffer }> = []): Promise<string> =>
    createJobWithFiles(server, name, body, fields, files);
  const finished = async (jobId: string, args: string[] = [], timeoutMs = 60_000): Promise<Run> => {
    const run = await requestRun(server, jobId, { args });
    await waitForRun(server, run.id, timeoutMs);
    return getJson<Run>(server, `/api/runs/${run.id}`);
  };
  const bytesOf = async (path: string): Promise<{ response: Response; bytes: Buffer }> => {
    const response = await server.request(path);
    return { response, bytes: Buffer.from(await response.arrayBuffer()) };
  };
  const inLog = <T>(read: (db: Database.Database) => T): T => {
    const db = new Database(join(dataDir, 'events.db'), { readonly: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  };
  const chunkIndexes = (stream: string): number[] =>
    inLog((db) => db.prepare("SELECT json_extract(data, '$.index') FROM events WHERE stream = ? AND type = 'BlobChunkStored' ORDER BY revision").pluck().all(stream) as number[]);

  let remoteRun: Run;
  let releaseJob = '';

  it('keeps both files of a failed run on a job server, byte-exact, uploaded before its end', async () => {
    releaseJob = await job('release-remote', RELEASE_SCRIPT, { runsOn: ['remote'], artifacts: ['dist/*.tar.gz', 'reports/**/*.xml'] }, [{ name: 'payload.bin', bytes: payload }]);
    remoteRun = await finished(releaseJob, ['1']);
    assert.equal(remoteRun.status, 'failed');
    assert.equal(remoteRun.exitCode, 1);
    assert.equal(remoteRun.runner, 'js-art', 'executed on the job server');
    // The end is recorded only after the list: a finished run's list is complete.
    const listed = await getJson<Listed>(server, `/api/runs/${remoteRun.id}/artifacts`);
    assert.deepEqual(listed.items, [
      { path: 'dist/app-1.0.tar.gz', size: payload.length, sha256: sha256(payload) },
      { path: 'reports/unit/a.xml', size: REPORT.length, sha256: sha256(REPORT) },
    ]);
    assert.deepEqual(listed.skipped, [], 'the link the pattern meets is never taken');
    const tarball = await bytesOf(`/api/runs/${remoteRun.id}/artifacts/dist/app-1.0.tar.gz`);
    assert.equal(tarball.response.status, 200);
    assert.ok(tarball.bytes.equals(payload), 'the tarball byte-exact');
    assert.equal(tarball.response.headers.get('etag'), `"${sha256(payload)}"`);
    assert.equal(tarball.response.headers.get('content-length'), String(payload.length));
    const report = await bytesOf(`/api/runs/${remoteRun.id}/artifacts/reports/unit/a.xml`);
    assert.equal(report.response.status, 200);
    assert.ok(report.bytes.equals(REPORT), 'the report byte-exact');
    assert.deepEqual(chunkIndexes(`artifactdata-${sha256(payload)}-${remoteRun.id}`), Array.from({ length: Math.ceil(payload.length / 65536) }, (_, i) => i), 'each chunk stored once');
    // Uploaded and acknowledged: the job server removed the work directory.
    assert.equal(existsSync(join(jobServer.workDir, 'work', remoteRun.id)), false);
  });

  it('stores the same content from a local run and another job server run once', async () => {
    const localJob = await job('release-local', RELEASE_SCRIPT, { runsOn: ['local'], artifacts: ['dist/*.tar.gz', 'reports/**/*.xml'] }, [{ name: 'payload.bin', bytes: payload }]);
    const local = await finished(localJob);
    assert.equal(local.status, 'succeeded');
    assert.notEqual(local.runner, 'js-art', 'executed by the server itself');
    const again = await finished(releaseJob);
    assert.equal(again.runner, 'js-art');
    for (const run of [local, again]) {
      const tarball = await bytesOf(`/api/runs/${run.id}/artifacts/dist/app-1.0.tar.gz`);
      assert.ok(tarball.bytes.equals(payload), `byte-exact from run #${run.number}`);
    }
    inLog((db) => {
      const streams = db.prepare('SELECT DISTINCT stream FROM events WHERE stream LIKE ?').pluck().all(`artifactdata-${sha256(payload)}-%`) as string[];
      assert.deepEqual(streams, [`artifactdata-${sha256(payload)}-${remoteRun.id}`], 'one copy: the job server run stored it, the others reference it');
      const references = db.prepare("SELECT data FROM events WHERE stream = ? AND type = 'ArtifactContentReferenced' ORDER BY revision").pluck().all(streams[0]) as string[];
      assert.deepEqual(references.map((data) => (JSON.parse(data) as { runId: string }).runId), [remoteRun.id, local.id, again.id]);
      assert.equal(db.prepare("SELECT COUNT(*) FROM events WHERE stream LIKE ? AND type = 'BlobChunkStored'").pluck().get(`artifactdata-${sha256(REPORT)}-%`), 1, 'the report is one chunk for all three runs');
    });
  });

  it('applies the server’s ENDERCOMPUTE_MAX_ARTIFACT_BYTES on the job server, naming the file it skipped', async () => {
    const jobId = await job('two-big-files', 'head -c 1100000 /dev/urandom > a.bin; head -c 1100000 /dev/urandom > b.bin', { runsOn: ['remote'], artifacts: ['*.bin'] });
    const run = await finished(jobId);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.runner, 'js-art');
    const listed = await getJson<Listed>(server, `/api/runs/${run.id}/artifacts`);
    assert.deepEqual(listed.items.map((item) => [item.path, item.size]), [['a.bin', 1_100_000]]);
    assert.deepEqual(listed.skipped, [{ path: 'b.bin', size: 1_100_000, reason: `it would take the run's artifacts past ENDERCOMPUTE_MAX_ARTIFACT_BYTES (${MAX_ARTIFACT_BYTES} bytes)` }]);
    assert.deepEqual(run.artifactsSkipped, listed.skipped);
  });

  // A job server spoken for by the test itself, over the runner protocol, as `js-manual` with the label `manual`.
  const report = encodeURIComponent(JSON.stringify({ labels: ['manual'], softwareVersion: 'test', maxConcurrent: 1, running: [] }));
  const call = (path: string, init: RequestInit & { token?: string } = {}): Promise<Response> =>
    fetch(new URL(path, server.url), { ...init, headers: { authorization: `Bearer ${init.token ?? MANUAL_TOKEN}`, 'x-runner-report': report, ...(init.headers as Record<string, string>) } });
  const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const put = (runId: string, sha: string, size: number, offset: number, bytes: Buffer): Promise<Response> =>
    call(`/api/runner/runs/${runId}/artifacts/${sha}?size=${size}&offset=${offset}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  /** Claims the run just requested and reports it started. */
  const claimAndStart = async (runId: string): Promise<void> => {
    const claimed = await expectJson<{ run: { runId: string } }>(await call('/api/runner/claim', json({ workRoot: '/tmp/manual-runner', wait: 10 })), 200);
    assert.equal(claimed.run.runId, runId);
    await expectJson(await call(`/api/runner/runs/${runId}/started`, json({ pid: 999_999, processStartTicks: null, workdir: `/tmp/manual-runner/${runId}` })), 200);
  };
  const finish = async (runId: string, status: string, exitCode: number): Promise<void> => {
    await expectJson(await call(`/api/runner/runs/${runId}/finished`, json({ status, exitCode, signal: null, droppedBytes: 0, reason: null, outputBytes: 0 })), 200);
  };
  const eventsOf = (stream: string): number => inLog((db) => db.prepare('SELECT COUNT(*) FROM events WHERE stream = ?').pluck().get(stream) as number);

  it('speaks the artifact endpoints of the runner protocol: resumable, a repeated upload acknowledged and never stored twice', async () => {
    const jobId = await job('manual-remote', 'true', { runsOn: ['manual'] });
    const runId = (await requestRun(server, jobId)).id;
    await claimAndStart(runId);

    const content = randomBytes(200_000);
    const sha = sha256(content);
    const list = { files: [{ path: 'out/content.bin', size: content.length, sha256: sha }], skipped: [] };
    // A person's key is refused; so is a malformed list (named).
    assert.equal((await server.request(`/api/runner/runs/${runId}/artifacts`, json(list))).status, 401);
    const malformed = await expectJson<{ message: string[] | string }>(await call(`/api/runner/runs/${runId}/artifacts`, json({ files: [{ path: '../etc/passwd', size: 1, sha256: 'x' }], skipped: [] })), 400);
    assert.match(String(malformed.message), /files\[0\]\.path must be a plain relative path/);
    assert.match(String(malformed.message), /files\[0\]\.sha256 must be 64 lower-case hex digits/);

    assert.deepEqual(await expectJson(await call(`/api/runner/runs/${runId}/artifacts`, json(list)), 200), { recorded: false, lacking: [{ sha256: sha, size: content.length, offset: 0 }] });
    // The body breaks off after 150,000 bytes: two whole chunks are kept.
    assert.deepEqual(await expectJson(await put(runId, sha, content.length, 0, content.subarray(0, 150_000)), 200), { offset: 131_072 });
    // Repeated from 0: the known part is skipped, nothing stored twice.
    assert.deepEqual(await expectJson(await put(runId, sha, content.length, 0, content.subarray(0, 140_000)), 200), { offset: 131_072 });
    // Beyond what the server holds: 409 with where to continue.
    const gap = await expectJson<{ offset: number }>(await put(runId, sha, content.length, 180_000, content.subarray(180_000)), 409);
    assert.equal(gap.offset, 131_072);
    assert.deepEqual(await expectJson(await call(`/api/runner/runs/${runId}/artifacts`, json(list)), 200), { recorded: false, lacking: [{ sha256: sha, size: content.length, offset: 131_072 }] });
    assert.deepEqual(await expectJson(await put(runId, sha, content.length, 131_072, content.subarray(131_072)), 200), { offset: content.length });
    // Once complete, a repeated upload is acknowledged.
    assert.deepEqual(await expectJson(await put(runId, sha, content.length, 0, content), 200), { offset: content.length });
    // Other bytes under a sha256 are refused, naming it.
    const wrong = randomBytes(10);
    const refused = await expectJson<{ message: string[] | string }>(await put(runId, sha256(Buffer.from('other')), 10, 0, wrong), 400);
    assert.match(String(refused.message), /have another sha256/);

    assert.deepEqual(await expectJson(await call(`/api/runner/runs/${runId}/artifacts`, json(list)), 200), { recorded: true, lacking: [] });
    assert.deepEqual(await expectJson(await call(`/api/runner/runs/${runId}/artifacts`, json(list)), 200), { recorded: true, lacking: [] }, 'a repeated announcement is acknowledged');
    await finish(runId, 'succeeded', 0);
    // After the end, the run takes no more uploads.
    assert.equal((await put(runId, sha, content.length, 0, content)).status, 410);

    const served = await bytesOf(`/api/runs/${runId}/artifacts/out/content.bin`);
    assert.ok(served.bytes.equals(content), 'byte-exact');
    assert.deepEqual(chunkIndexes(`artifactdata-${sha}-${runId}`), [0, 1, 2, 3], 'four chunks, each once');
    assert.equal(eventsOf(`artifacts-${runId}`), 1, 'the list recorded once');
  });

  it('releases what a run stored without recording its list, whole or in part, when retention expires it', async () => {
    const jobId = await job('manual-orphans', 'true', { runsOn: ['manual'], keepRuns: 1 });
    const first = (await requestRun(server, jobId)).id;
    await claimAndStart(first);
    const whole = randomBytes(100_000);
    const part = randomBytes(200_000);
    const list = { files: [{ path: 'whole.bin', size: whole.length, sha256: sha256(whole) }, { path: 'part.bin', size: part.length, sha256: sha256(part) }], skipped: [] };
    assert.equal((await expectJson<{ recorded: boolean }>(await call(`/api/runner/runs/${first}/artifacts`, json(list)), 200)).recorded, false);
    assert.deepEqual(await expectJson(await put(first, sha256(whole), whole.length, 0, whole), 200), { offset: whole.length });
    assert.deepEqual(await expectJson(await put(first, sha256(part), part.length, 0, part.subarray(0, 150_000)), 200), { offset: 131_072 });
    // The job server gives up before announcing the list again: the run ends without one.
    await finish(first, 'failed', 1);
    const wholeCopy = `artifactdata-${sha256(whole)}-${first}`;
    const partCopy = `artifactdata-${sha256(part)}-${first}`;
    assert.ok(eventsOf(wholeCopy) > 0 && eventsOf(partCopy) > 0, 'both copies are in the log');
    assert.deepEqual((await getJson<Listed>(server, `/api/runs/${first}/artifacts`)).items, [], 'no list names them');

    // A newer run of the job (keepRuns 1) expires the first run's output, and with it what it stored.
    const second = (await requestRun(server, jobId)).id;
    await claimAndStart(second);
    await finish(second, 'succeeded', 0);
    await eventually(async () => ((await getJson<Run>(server, `/api/runs/${first}`)).outputExpiredBy === 'keepRuns' ? true : undefined), 20_000, 'the first run to expire');
    await eventually(async () => (eventsOf(wholeCopy) === 0 && eventsOf(partCopy) === 0 ? true : undefined), 20_000, 'both copies to be deleted');
    const expired = await getJson<Run>(server, `/api/runs/${first}`);
    assert.deepEqual([expired.status, expired.number], ['failed', 1], 'the run’s facts stay');
    const shown = (await runCli(server, ['runs', 'show', first])).stdout.toString();
    assert.match(shown, /^runner: js-manual$/m);
    assert.match(shown, /^output: 0 bytes, expired .+ \(the job's keepRuns\)$/m);
  });

  it('resumes an upload cut by a SIGKILL of the server, after its restart, storing every chunk once', async () => {
    const size = 60_000_000;
    // Bytes the test can make too: `yes` lines, cut at `size`.
    const expected = Buffer.alloc(size, 'artifact line\n');
    const jobId = await job('remote-big-artifact', `yes 'artifact line' | head -c ${size} > big.bin`, { runsOn: ['remote'], artifacts: ['big.bin'] });
    // SIGKILL, not SIGTERM: a server stopping with a job server connected was seen to wait for over a minute (left to the job server's owners).
    await server.kill();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // A limit that takes the big file (the job server learns it with the run).
    server = await startServer({ dataDir, env: { ...env, PORT: port, ENDERCOMPUTE_MAX_ARTIFACT_BYTES: String(2 * size) } });
    const run = await requestRun(server, jobId);
    const stream = `artifactdata-${sha256(expected)}-${run.id}`;
    await eventually(async () => (chunkIndexes(stream).length > 0 ? true : undefined), 60_000, 'the upload to begin');
    await server.kill();
    const before = chunkIndexes(stream).length;
    assert.ok(before < Math.ceil(size / 65536), `cut part-way (${before} chunks stored)`);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    server = await startServer({ dataDir, env: { ...env, PORT: port, ENDERCOMPUTE_MAX_ARTIFACT_BYTES: String(2 * size) } });
    await waitForRun(server, run.id, 120_000);
    const ended = await getJson<Run>(server, `/api/runs/${run.id}`);
    assert.equal(ended.status, 'succeeded', `${ended.status}: ${String((ended as { reason?: unknown }).reason)}`);
    assert.equal(ended.runner, 'js-art');
    assert.deepEqual(chunkIndexes(stream), Array.from({ length: Math.ceil(size / 65536) }, (_, i) => i), 'every chunk once, in order');
    const served = await bytesOf(`/api/runs/${run.id}/artifacts/big.bin`);
    assert.equal(served.response.status, 200);
    assert.equal(served.bytes.length, size);
    assert.ok(served.bytes.equals(expected), 'byte-exact');
  });
});
