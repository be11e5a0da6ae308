/**
 * Issue 14, items 1–3: artifacts, end to end with the built server, the CLI and a
 * browser. A release job builds `dist/app-1.0.tar.gz` and `reports/unit/a.xml`, puts a
 * note in `$ENDERCOMPUTE_ARTIFACTS_DIR`, plants symbolic links to `/etc/passwd` and
 * `/etc`, and exits 1: both files are still there, byte-exact, through the API (whole,
 * ranges, zip), the run page and the CLI; the links are not collected. `latest` picks
 * the newest succeeded run that has the file; identical files of two runs are stored
 * once (read in the log); the size limit names the file it skipped; retention removes
 * artifacts with output and the run says so; and the same on the EventStoreDB double.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { runCli } from '../support/cli';
import { signIn } from '../support/pages';
import { createJobWithFiles, getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

interface Listed {
  items: Array<{ path: string; size: number; sha256: string }>;
  skipped: Array<{ path: string; size: number; reason: string }>;
}

interface ArtifactRun extends Run {
  artifactsSkipped: Listed['skipped'];
  outputExpiredAt: string | null;
  outputExpiredBy: string | null;
}

/**
 * `$1`: the exit code; `$2`: `noreport` leaves the report out; `$3`: bytes appended to
 * the tarball (another content). The tarball is the job's input file `payload.bin`.
 */
const RELEASE_SCRIPT = [
  'mkdir -p dist reports/unit',
  'cp payload.bin dist/app-1.0.tar.gz',
  '[ -n "$3" ] && printf "%s" "$3" >> dist/app-1.0.tar.gz',
  '[ "$2" = noreport ] || printf \'<testsuite name="unit" tests="1"/>\\n\' > reports/unit/a.xml',
  'ln -s /etc/passwd dist/passwd.tar.gz',
  'ln -s /etc reports/etc',
  'mkdir -p "$ENDERCOMPUTE_ARTIFACTS_DIR/notes"',
  'echo "built by run $ENDERCOMPUTE_RUN_NUMBER" > "$ENDERCOMPUTE_ARTIFACTS_DIR/notes/summary.txt"',
  'ln -s /etc/passwd "$ENDERCOMPUTE_ARTIFACTS_DIR/passwd"',
  'ln -s /etc "$ENDERCOMPUTE_ARTIFACTS_DIR/etc"',
  'mkfifo "$ENDERCOMPUTE_ARTIFACTS_DIR/pipe"',
  'echo built',
  'exit "${1:-0}"',
].join('\n');

const REPORT = Buffer.from('<testsuite name="unit" tests="1"/>\n');
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function bytesOf(server: ServerProcess, path: string, headers: Record<string, string> = {}): Promise<{ response: Response; bytes: Buffer }> {
  const response = await server.request(path, { headers });
  return { response, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** A job of its own template, with optional artifact patterns and input files. */
const job = createJobWithFiles;

async function finishedRun(server: ServerProcess, jobId: string, args: string[] = []): Promise<ArtifactRun> {
  const run = await requestRun(server, jobId, { args });
  await waitForRun(server, run.id, 30_000);
  return getJson<ArtifactRun>(server, `/api/runs/${run.id}`);
}

/** The entries of a zip, read with python3's zipfile: name → sha256 of the bytes. */
function zipEntries(zip: Buffer): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'endercompute-zip-'));
  try {
    writeFileSync(join(dir, 'a.zip'), zip);
    const script = 'import zipfile,hashlib,sys,json\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(json.dumps({n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist()}))';
    return JSON.parse(execFileSync('python3', ['-c', script, join(dir, 'a.zip')]).toString()) as Record<string, string>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('artifacts on the embedded log (API, CLI, browser)', () => {
  let server: ServerProcess;
  const payload = randomBytes(300_000);
  let jobId = '';
  let failed: ArtifactRun;
  const temp = mkdtempSync(join(tmpdir(), 'endercompute-artifacts-test-'));

  before(async () => {
    // Room for one 300 KB tarball and a little more: the size-limit test's second file does not fit.
    // In the bubblewrap sandbox (refusing to start without one): $ENDERCOMPUTE_ARTIFACTS_DIR must be writable inside it.
    server = await startServer({ env: { ENDERCOMPUTE_MAX_ARTIFACT_BYTES: '400000', ENDERCOMPUTE_SANDBOX: 'bwrap' } });
    jobId = await job(server, 'release', RELEASE_SCRIPT, { artifacts: ['dist/*.tar.gz', 'reports/**/*.xml'] }, [{ name: 'payload.bin', bytes: payload }]);
    failed = await finishedRun(server, jobId, ['1']);
  });

  after(async () => {
    await server?.stop();
    server?.cleanup();
    rmSync(temp, { recursive: true, force: true });
  });

  it('keeps both files of a run that exited 1, byte-exact, with the artifacts directory’s files, and never follows a link', async () => {
    assert.equal(failed.status, 'failed');
    assert.equal(failed.exitCode, 1);
    const listed = await getJson<Listed>(server, `/api/runs/${failed.id}/artifacts`);
    assert.deepEqual(listed.items, [
      { path: 'dist/app-1.0.tar.gz', size: payload.length, sha256: sha256(payload) },
      { path: 'notes/summary.txt', size: 'built by run 1\n'.length, sha256: sha256(Buffer.from('built by run 1\n')) },
      { path: 'reports/unit/a.xml', size: REPORT.length, sha256: sha256(REPORT) },
    ]);
    // Links (and a FIFO) in $ENDERCOMPUTE_ARTIFACTS_DIR are named as skipped; links the patterns meet are never taken.
    assert.deepEqual(
      listed.skipped.map((s) => [s.path, s.reason]).sort(),
      [
        ['etc', 'it is a symbolic link (links are never followed)'],
        ['passwd', 'it is a symbolic link (links are never followed)'],
        ['pipe', 'it is not a regular file'],
      ],
    );
    assert.deepEqual(failed.artifactsSkipped, listed.skipped, 'the run names them too');
    const passwd = readFileSync('/etc/passwd');
    for (const item of listed.items) assert.notEqual(item.sha256, sha256(passwd));

    const tarball = await bytesOf(server, `/api/runs/${failed.id}/artifacts/dist/app-1.0.tar.gz`);
    assert.equal(tarball.response.status, 200);
    assert.ok(tarball.bytes.equals(payload), 'byte-exact');
    assert.equal(tarball.response.headers.get('etag'), `"${sha256(payload)}"`);
    assert.equal(tarball.response.headers.get('content-length'), String(payload.length));
    assert.equal(tarball.response.headers.get('content-type'), 'application/octet-stream');
    assert.equal(tarball.response.headers.get('content-disposition'), `attachment; filename="app-1.0.tar.gz"; filename*=UTF-8''app-1.0.tar.gz`);
    const report = await bytesOf(server, `/api/runs/${failed.id}/artifacts/reports/unit/a.xml`);
    assert.ok(report.bytes.equals(REPORT));

    for (const missing of ['dist/passwd.tar.gz', 'reports/etc/passwd', 'passwd', 'etc/passwd', '.endercompute-script.sh', 'payload.bin']) {
      const answer = await server.request(`/api/runs/${failed.id}/artifacts/${missing}`);
      assert.equal(answer.status, 404, missing);
      assert.match((await expectJson<{ message: string }>(answer, 404)).message, new RegExp(`kept no artifact "${missing.replace(/\./g, '\\.')}"`));
    }
  });

  it('answers byte ranges (206), refuses one past the end (416), and 304 for its ETag', async () => {
    const path = `/api/runs/${failed.id}/artifacts/dist/app-1.0.tar.gz`;
    const middle = await bytesOf(server, path, { range: 'bytes=70000-200000' });
    assert.equal(middle.response.status, 206);
    assert.equal(middle.response.headers.get('content-range'), `bytes 70000-200000/${payload.length}`);
    assert.equal(middle.response.headers.get('content-length'), '130001');
    assert.ok(middle.bytes.equals(payload.subarray(70000, 200001)), 'a range across chunk boundaries is exact');
    const tail = await bytesOf(server, path, { range: 'bytes=-10' });
    assert.equal(tail.response.status, 206);
    assert.ok(tail.bytes.equals(payload.subarray(payload.length - 10)));
    const open = await bytesOf(server, path, { range: `bytes=${payload.length - 5}-` });
    assert.ok(open.bytes.equals(payload.subarray(payload.length - 5)));
    const beyond = await server.request(path, { headers: { range: `bytes=${payload.length}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${payload.length}`);
    await beyond.text();
    const cached = await server.request(path, { headers: { 'if-none-match': `"${sha256(payload)}"` } });
    assert.equal(cached.status, 304);
  });

  it('sends every artifact in one zip, streamed', async () => {
    const zip = await bytesOf(server, `/api/runs/${failed.id}/artifacts.zip`);
    assert.equal(zip.response.status, 200);
    assert.equal(zip.response.headers.get('content-type'), 'application/zip');
    assert.deepEqual(zipEntries(zip.bytes), {
      'dist/app-1.0.tar.gz': sha256(payload),
      'notes/summary.txt': sha256(Buffer.from('built by run 1\n')),
      'reports/unit/a.xml': sha256(REPORT),
    });
  });

  it('the CLI lists them and downloads them under a directory, byte-exact', async () => {
    const listed = await runCli(server, ['runs', 'artifacts', failed.id]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout.toString(), /dist\/app-1\.0\.tar\.gz\s+300000\s+[0-9a-f]{64}/);
    assert.match(listed.stdout.toString(), /skipped passwd \(0 B\): it is a symbolic link/);
    const dir = join(temp, 'downloaded');
    const downloaded = await runCli(server, ['runs', 'artifacts', failed.id, '--download', dir]);
    assert.equal(downloaded.code, 0, downloaded.stderr);
    assert.ok(readFileSync(join(dir, 'dist/app-1.0.tar.gz')).equals(payload));
    assert.ok(readFileSync(join(dir, 'reports/unit/a.xml')).equals(REPORT));
    assert.equal(readFileSync(join(dir, 'notes/summary.txt'), 'utf8'), 'built by run 1\n');
    assert.deepEqual(readdirSync(dir).sort(), ['dist', 'notes', 'reports'], 'nothing else, no partial files');
    const asJson = await runCli(server, ['runs', 'artifacts', failed.id, '--json']);
    assert.equal((JSON.parse(asJson.stdout.toString()) as Listed).items.length, 3);
  });

  it('the run page lists them with sizes and links that download the exact bytes, and the skipped ones', async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}`);
    const browser: Browser = await launchBrowser();
    try {
      const page = browser.page;
      page.setDefaultTimeout(15_000);
      await signIn(page, server.url, 'Ada', server.key);
      await page.goto(`${server.url}/runs/${failed.id}`);
      const card = page.locator('#run-artifacts');
      await card.waitFor();
      const text = await card.innerText();
      assert.match(text, /dist\/app-1\.0\.tar\.gz\s+293 KiB/);
      assert.match(text, /reports\/unit\/a\.xml\s+35 B/);
      assert.match(text, /notes\/summary\.txt/);
      assert.match(text, /passwd\s+— it is a symbolic link/);
      const [download] = await Promise.all([page.waitForEvent('download'), card.locator('a', { hasText: 'dist/app-1.0.tar.gz' }).click()]);
      assert.equal(download.suggestedFilename(), 'app-1.0.tar.gz');
      assert.ok(readFileSync(await download.path()).equals(payload), 'the page’s link downloads the exact bytes');
      const [zip] = await Promise.all([page.waitForEvent('download'), card.locator('a', { hasText: 'All as zip' }).click()]);
      assert.equal(Object.keys(zipEntries(readFileSync(await zip.path()))).length, 3);
      assert.deepEqual(browser.problems, []);
    } finally {
      await browser.close();
    }
  });

  it('latest: the newest succeeded run that has the file (API and page), a 404 naming what was looked for otherwise', async () => {
    const none = await server.request(`/api/jobs/release/artifacts/latest/dist/app-1.0.tar.gz`);
    assert.equal(none.status, 404, 'only a failed run has it so far');
    assert.match((await expectJson<{ message: string }>(none, 404)).message, /No succeeded run of job "release" has an artifact "dist\/app-1\.0\.tar\.gz"/);

    const second = await finishedRun(server, jobId, ['0']);
    const third = await finishedRun(server, jobId, ['0', 'noreport', 'v3']);
    const fourth = await finishedRun(server, jobId, ['1', '', 'v4']);
    assert.deepEqual([second.status, third.status, fourth.status], ['succeeded', 'succeeded', 'failed']);

    const tarball = await bytesOf(server, `/api/jobs/${jobId}/artifacts/latest/dist/app-1.0.tar.gz`);
    assert.equal(tarball.response.status, 200);
    assert.equal(tarball.response.headers.get('x-run-number'), '3', 'the newest succeeded run (#4 failed)');
    assert.ok(tarball.bytes.equals(Buffer.concat([payload, Buffer.from('v3')])));
    const report = await bytesOf(server, `/api/jobs/release/artifacts/latest/reports/unit/a.xml`);
    assert.equal(report.response.headers.get('x-run-number'), '2', '#3 did not make the report');
    assert.ok(report.bytes.equals(REPORT));
    const ranged = await bytesOf(server, `/api/jobs/release/artifacts/latest/dist/app-1.0.tar.gz`, { range: 'bytes=-2' });
    assert.equal(ranged.response.status, 206);
    assert.equal(ranged.bytes.toString(), 'v3');
    const unknown = await server.request(`/api/jobs/release/artifacts/latest/dist/nothing.tar.gz`);
    assert.match((await expectJson<{ message: string }>(unknown, 404)).message, /"dist\/nothing\.tar\.gz"/);

    const browser = await launchBrowser();
    try {
      const page = browser.page;
      page.setDefaultTimeout(15_000);
      await signIn(page, server.url, 'Ada', server.key);
      await page.goto(`${server.url}/jobs/release/artifacts/latest/dist/app-1.0.tar.gz`);
      await page.locator('#artifact-run').waitFor();
      assert.equal(await page.locator('#artifact-run').innerText(), '#3');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#artifact-download')]);
      assert.ok(readFileSync(await download.path()).equals(Buffer.concat([payload, Buffer.from('v3')])));
      await page.goto(`${server.url}/jobs/release/artifacts/latest/dist/nothing.tar.gz`);
      await page.locator('main', { hasText: 'No succeeded run of job "release" has an artifact "dist/nothing.tar.gz"' }).waitFor();
    } finally {
      await browser.close();
    }
  });

  it('stores identical artifacts of two runs once (one copy in the log, referenced by both)', async () => {
    const db = new Database(join(server.dataDir, 'events.db'), { readonly: true });
    try {
      const streams = db.prepare("SELECT DISTINCT stream FROM events WHERE stream LIKE ?").pluck().all(`artifactdata-${sha256(payload)}-%`) as string[];
      assert.equal(streams.length, 1, 'runs #1 and #2 built the same tarball: one copy');
      const types = db.prepare('SELECT type FROM events WHERE stream = ? ORDER BY revision').pluck().all(streams[0]) as string[];
      assert.equal(types.filter((t) => t === 'BlobChunkStored').length, Math.ceil(payload.length / 65536));
      assert.equal(types.filter((t) => t === 'ArtifactContentReferenced').length, 2);
      const report = db.prepare("SELECT COUNT(*) FROM events WHERE stream LIKE ? AND type = 'BlobChunkStored'").pluck().get(`artifactdata-${sha256(REPORT)}-%`);
      assert.equal(report, 1, 'the report of runs #1, #2 and #4 is one chunk in all');
    } finally {
      db.close();
    }
  });

  it('names the file the size limit skipped, on the run and in the list', async () => {
    const big = await job(server, 'big', 'head -c 300000 /dev/urandom > a.bin; head -c 300000 /dev/urandom > b.bin; echo small > c.txt', { artifacts: ['*.bin', '*.txt'] });
    const run = await finishedRun(server, big);
    const listed = await getJson<Listed>(server, `/api/runs/${run.id}/artifacts`);
    assert.deepEqual(listed.items.map((i) => i.path), ['a.bin', 'c.txt'], 'what fits is kept');
    assert.deepEqual(run.artifactsSkipped, [{ path: 'b.bin', size: 300000, reason: "it would take the run's artifacts past ENDERCOMPUTE_MAX_ARTIFACT_BYTES (400000 bytes)" }]);
  });

  it('refuses absolute and escaping patterns with a 400 naming them, and sets patterns through the CLI', async () => {
    for (const [artifacts, problem] of [
      [['/etc/passwd'], /"\/etc\/passwd" must be relative to the work directory/],
      [['dist/../../secret'], /must not contain "\.\."/],
      [[''], /must not be empty/],
      ['dist/*', /artifacts must be a list of glob patterns/],
    ] as const) {
      const answer = await server.request('/api/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bad', scriptId: 'release', artifacts }) });
      assert.equal(answer.status, 400);
      assert.match((await expectJson<{ message: string }>(answer, 400)).message, problem);
    }
    // The job form: one pattern per line; a refused one is named beside the field, and nothing is saved.
    const htmx = { 'hx-request': 'true', 'hx-request-type': 'partial' };
    const scriptId = (await getJson<{ id: string }>(server, '/api/scripts/release')).id;
    const posted = await server.request('/jobs', { method: 'POST', headers: htmx, body: new URLSearchParams({ name: 'form-job', scriptId, artifacts: 'dist/*.tar.gz\r\n\r\n  reports/**/*.xml  \n' }) });
    assert.equal(posted.status, 200);
    const formJob = await getJson<{ id: string; artifacts: string[] }>(server, '/api/jobs/form-job');
    assert.deepEqual(formJob.artifacts, ['dist/*.tar.gz', 'reports/**/*.xml']);
    const edit = await (await server.request(`/jobs/${formJob.id}/edit`, { headers: { 'hx-request': 'true', 'hx-request-type': 'full' } })).text();
    assert.match(edit, /<textarea id="artifacts" name="artifacts"[^>]*>dist\/\*\.tar\.gz\nreports\/\*\*\/\*\.xml<\/textarea>/);
    const refusedForm = await server.request(`/jobs/${formJob.id}`, { method: 'PUT', headers: htmx, body: new URLSearchParams({ name: 'form-job', scriptId, artifacts: 'ok/*\n../secret/*' }) });
    const refusedHtml = await refusedForm.text();
    assert.match(refusedHtml, /id="artifacts-error"><li>[^<]*\.\.\/secret\/\*[^<]*must not contain/);
    assert.deepEqual((await getJson<{ artifacts: string[] }>(server, '/api/jobs/form-job')).artifacts, ['dist/*.tar.gz', 'reports/**/*.xml'], 'nothing saved');
    const jobPage = await (await server.request(`/jobs/${formJob.id}`, { headers: { 'hx-request': 'true', 'hx-request-type': 'full' } })).text();
    assert.match(jobPage, /id="job-artifacts"><ul class="envlist"><li><code>dist\/\*\.tar\.gz<\/code><\/li>/);

    const cli = await runCli(server, ['jobs', 'update', 'release', '--artifact', 'dist/**', '--artifact', 'out/*.zip', '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual((JSON.parse(cli.stdout.toString()) as { artifacts: string[] }).artifacts, ['dist/**', 'out/*.zip']);
    const refused = await runCli(server, ['jobs', 'update', 'release', '--artifact', '../up']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /400: artifacts: pattern "\.\.\/up" must not contain "\.\."/);
  });

  it('retention removes a run’s artifacts with its output, says so, and keeps a copy another run still has', async () => {
    const kept = await job(server, 'kept', 'echo "run $ENDERCOMPUTE_RUN_NUMBER" > "$ENDERCOMPUTE_ARTIFACTS_DIR/own.txt"; echo same > "$ENDERCOMPUTE_ARTIFACTS_DIR/shared.txt"', { keepRuns: 1 });
    const first = await finishedRun(server, kept);
    const own = sha256(Buffer.from('run 1\n'));
    const shared = sha256(Buffer.from('same\n'));
    const second = await finishedRun(server, kept);
    const expired = await eventually(async () => {
      const run = await getJson<ArtifactRun>(server, `/api/runs/${first.id}`);
      return run.outputExpiredAt !== null ? run : undefined;
    }, 20_000, 'the first run to expire');
    assert.equal(expired.outputExpiredBy, 'keepRuns');
    for (const path of [`/api/runs/${first.id}/artifacts`, `/api/runs/${first.id}/artifacts/own.txt`, `/api/runs/${first.id}/artifacts.zip`]) {
      const gone = await server.request(path);
      assert.equal(gone.status, 410, path);
      assert.match((await expectJson<{ message: string }>(gone, 410)).message, /The artifacts of run kept #1 expired with its output at .* \(retention by its job's keepRuns\)/);
    }
    const page = await (await server.request(`/runs/${first.id}`, { headers: { 'hx-request': 'true' } })).text();
    assert.match(page, /id="artifacts-expired">Expired with the run’s output/);
    // The log: the first run's own copy and list are gone; the copy the second run shares is not.
    await eventually(async () => {
      const db = new Database(join(server.dataDir, 'events.db'), { readonly: true });
      try {
        const count = (like: string): number => Number(db.prepare('SELECT COUNT(*) FROM events WHERE stream LIKE ?').pluck().get(like));
        return count(`artifactdata-${own}-%`) === 0 && count(`artifacts-${first.id}`) === 0 && count(`artifactdata-${shared}-%`) > 0 ? true : undefined;
      } finally {
        db.close();
      }
    }, 10_000, 'the expired copy to leave the log');
    const still = await bytesOf(server, `/api/runs/${second.id}/artifacts/shared.txt`);
    assert.equal(still.bytes.toString(), 'same\n');
    assert.equal((await bytesOf(server, `/api/runs/${second.id}/artifacts/own.txt`)).bytes.toString(), 'run 2\n');
  });
});

describe('artifacts on EventStoreDB (the gRPC double)', () => {
  let double: EsdbDouble;
  let server: ServerProcess;

  before(async () => {
    double = await startEsdbDouble();
    server = await startServer({ env: { ENDERCOMPUTE_SANDBOX: 'none', EVENTSTORE_CONNECTION_STRING: double.connectionString } });
  });

  after(async () => {
    await server?.stop();
    server?.cleanup();
    await double?.stop();
  });

  it('stores a file larger than one append in chunks and serves it whole, in ranges and zipped; the same bytes again are one copy', async () => {
    const payload = randomBytes(1_200_000);
    const id = await job(server, 'esdb-release', 'mkdir -p dist; cp payload.bin dist/app-1.0.tar.gz; exit 1', { artifacts: ['dist/*'] }, [{ name: 'payload.bin', bytes: payload }]);
    const first = await finishedRun(server, id);
    const second = await finishedRun(server, id);
    for (const run of [first, second]) {
      assert.equal(run.status, 'failed');
      const whole = await bytesOf(server, `/api/runs/${run.id}/artifacts/dist/app-1.0.tar.gz`);
      assert.ok(whole.bytes.equals(payload), 'byte-exact');
    }
    const part = await bytesOf(server, `/api/runs/${second.id}/artifacts/dist/app-1.0.tar.gz`, { range: 'bytes=600000-700000' });
    assert.equal(part.response.status, 206);
    assert.ok(part.bytes.equals(payload.subarray(600000, 700001)));
    const zip = await bytesOf(server, `/api/runs/${second.id}/artifacts.zip`);
    assert.deepEqual(zipEntries(zip.bytes), { 'dist/app-1.0.tar.gz': sha256(payload) });
    const copies = [`artifactdata-${sha256(payload)}-${first.id}`, `artifactdata-${sha256(payload)}-${second.id}`].map((s) => double.log.visibleStream(s).length);
    assert.deepEqual(copies, [Math.ceil(payload.length / 65536) + 3, 0], 'chunks, BlobCompleted and two references in the first run’s copy; none of its own for the second');
    assert.ok(existsSync(server.dataDir));
  });
});

describe('artifacts of a run cut short by kill -9', () => {
  let server: ServerProcess | null = null;
  let restarted: ServerProcess | null = null;
  after(async () => {
    await restarted?.stop();
    await server?.kill().catch(() => undefined);
    server?.cleanup();
  });

  it('are collected by recovery from the work directory that survived, before it is removed', async () => {
    server = await startServer({ env: { ENDERCOMPUTE_SANDBOX: 'bwrap' } });
    const id = await job(server, 'crashy', 'mkdir -p dist; printf "partial build" > dist/app.tar.gz; echo "$ENDERCOMPUTE_RUN_NUMBER" > "$ENDERCOMPUTE_ARTIFACTS_DIR/n.txt"; echo ready; sleep 300', { artifacts: ['dist/*'] });
    const run = await requestRun(server, id);
    await eventually(async () => ((await getJson<Run>(server!, `/api/runs/${run.id}`)).outputBytes > 0 ? true : undefined), 15_000, 'the run to print');
    await server.kill();
    restarted = await startServer({ dataDir: server.dataDir, env: { ENDERCOMPUTE_SANDBOX: 'bwrap' } });
    const lost = await getJson<ArtifactRun>(restarted, `/api/runs/${run.id}`);
    assert.equal(lost.status, 'lost');
    const listed = await getJson<Listed>(restarted, `/api/runs/${run.id}/artifacts`);
    assert.deepEqual(listed.items.map((i) => i.path), ['dist/app.tar.gz', 'n.txt']);
    assert.equal((await bytesOf(restarted, `/api/runs/${run.id}/artifacts/dist/app.tar.gz`)).bytes.toString(), 'partial build');
    await eventually(async () => (existsSync(join(server!.dataDir, 'work', `crashy-${id}`, '1')) ? undefined : true), 10_000, 'the work directory to go');
  });
});

describe('artifacts after the read models are rebuilt from the log', () => {
  let server: ServerProcess | null = null;
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  // A build writes each run's row once per batch: the artifacts projection, which looks the
  // run up while applying its list, must find a run requested and finished in that batch.
  it('lists the same files, and the run the same facts, as before the rebuild', async () => {
    server = await startServer({ env: { ENDERCOMPUTE_SANDBOX: 'bwrap' } });
    const id = await job(server, 'rebuilt', 'mkdir -p dist; printf "v1" > dist/app.tar.gz; echo "$ENDERCOMPUTE_RUN_NUMBER" > "$ENDERCOMPUTE_ARTIFACTS_DIR/n.txt"; echo done; exit 1', { artifacts: ['dist/*'] });
    const run = await finishedRun(server, id);
    const before = { run, artifacts: await getJson<Listed>(server, `/api/runs/${run.id}/artifacts`) };
    assert.deepEqual(before.artifacts.items.map((i) => i.path), ['dist/app.tar.gz', 'n.txt']);
    await server.stop();
    for (const file of readdirSync(server.dataDir)) if (file.startsWith('projections.db')) rmSync(join(server.dataDir, file));
    server = await startServer({ dataDir: server.dataDir, env: { ENDERCOMPUTE_SANDBOX: 'bwrap' } });
    const rebuilt = { run: await getJson<ArtifactRun>(server, `/api/runs/${run.id}`), artifacts: await getJson<Listed>(server, `/api/runs/${run.id}/artifacts`) };
    assert.deepEqual(rebuilt, before);
    assert.equal((await bytesOf(server, `/api/runs/${run.id}/artifacts/dist/app.tar.gz`)).bytes.toString(), 'v1');
    const found = await getJson<{ items: Run[] }>(server, `/api/runs?q=rebuilt&status=failed`);
    assert.deepEqual(found.items.map((r) => r.id), [run.id]);
  });
});

describe('an artifact with a hostile name', () => {
  let server: ServerProcess;
  const dir = mkdtempSync(join(tmpdir(), 'endercompute-hostile-artifact-'));
  after(async () => {
    await server?.stop();
    server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is served with a header it cannot break, shown escaped, and written by the CLI under its exact name', async () => {
    server = await startServer();
    const name = 'a";x=<b>y\r\nSet-Cookie: z=1 é.txt';
    // printf %b: the script file stays plain ASCII; the name with its CR LF is made at run time.
    const id = await job(server, 'hostile', `printf 'bytes' > "$ENDERCOMPUTE_ARTIFACTS_DIR/$(printf '%b' 'a";x=<b>y\\r\\nSet-Cookie: z=1 \\xc3\\xa9.txt')"`);
    const run = await finishedRun(server, id);
    const listed = await getJson<Listed>(server, `/api/runs/${run.id}/artifacts`);
    assert.deepEqual(listed.items.map((i) => i.path), [name]);
    const answer = await server.request(`/api/runs/${run.id}/artifacts/${encodeURIComponent(name)}`);
    assert.equal(answer.status, 200);
    assert.equal(await answer.text(), 'bytes');
    assert.equal(answer.headers.get('set-cookie'), null);
    const disposition = answer.headers.get('content-disposition') ?? '';
    assert.equal(disposition.split('; filename*=')[0], 'attachment; filename="a__x=<b>y__Set-Cookie: z=1 _.txt"');
    assert.equal(decodeURIComponent(disposition.split("UTF-8''")[1]), name);
    const page = await (await server.request(`/runs/${run.id}`, { headers: { 'hx-request': 'true' } })).text();
    assert.doesNotMatch(page, /<b>y/, 'the name is escaped on the page');
    assert.match(page, /a&#34;;x=&lt;b&gt;y|a&quot;;x=&lt;b&gt;y/);
    const cli = await runCli(server, ['runs', 'artifacts', run.id, '--download', dir]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(readFileSync(join(dir, name), 'utf8'), 'bytes');
  });
});
