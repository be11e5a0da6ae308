/**
 * Issue 10, items 11 and 12, against the built server: an upload is spooled to
 * disk and reaches the log only once the whole request was accepted, so every
 * refused upload (API and page forms, job files and run files) leaves the log
 * unchanged and no spool file behind; and an upload costs little memory
 * whatever its size (VmHWM of the server process, read from /proc).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, openAsBlob, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { countEvents } from '../support/event-log';
import { createJob, getJson, postJson, type Run, waitForRun } from '../support/rest';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

const MiB = 1024 * 1024;

/** A multipart body: `file` parts (name → bytes) and plain fields. */
function form(files: Array<[string, Blob | string]>, fields: Record<string, string> = {}): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  for (const [name, content] of files) body.append('file', typeof content === 'string' ? new Blob([content]) : content, name);
  return body;
}

/** A number from /proc/<pid>/status, in bytes (VmRSS, VmHWM, …). */
function procStatus(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`No ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

describe('uploads: spooled, accepted whole or not at all (built server)', () => {
  let server: ServerProcess;
  let jobId: string;
  const spool = (): string[] => readdirSync(join(server.dataDir, 'spool'));

  before(async () => {
    server = await startServer({ env: { ENDERCOMPUTE_MAX_FILE_BYTES: String(100 * MiB) } });
    jobId = await createJob(server, 'uploader', 'bash', 'for f in *; do printf "%s %s\\n" "$f" "$(sha256sum < "$f" | cut -c1-16)"; done');
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  /** Sends a request that must be refused with `status`, and checks that it changed nothing. */
  async function refused(path: string, init: RequestInit, status: number, message: RegExp): Promise<void> {
    const before = await countEvents(server);
    const response = await server.request(path, init);
    const text = await response.text();
    assert.equal(response.status, status, `${path}: ${text}`);
    assert.match(text, message);
    assert.equal(await countEvents(server), before, `${path}: the log is unchanged`);
    // Spool files are removed as the request ends, just after the answer is sent.
    await eventually(async () => (spool().length === 0 ? true : undefined), 5_000, `${path}: no spool file is left`);
  }

  it('refuses two files of one name on every upload route, writing nothing', async () => {
    const dup = (): FormData => form([['dup.txt', 'one'], ['dup.txt', 'two']]);
    await refused(`/api/jobs/${jobId}/files`, { method: 'POST', body: dup() }, 400, /dup\.txt.{0,2} is given twice/);
    await refused(`/api/jobs/${jobId}/runs`, { method: 'POST', body: dup() }, 400, /dup\.txt.{0,2} is given twice/);
    const page = { 'hx-request': 'true' };
    await refused(`/jobs/${jobId}/files`, { method: 'POST', body: dup(), headers: page }, 422, /given twice/);
    await refused(`/jobs/${jobId}/runs`, { method: 'POST', body: dup(), headers: page }, 422, /given twice/);
    const create = form([['dup.txt', 'one'], ['dup.txt', 'two']], { name: 'never-created', scriptId: 'uploader' });
    await refused('/jobs', { method: 'POST', body: create, headers: page }, 422, /given twice/);
    assert.equal((await server.request('/api/jobs/never-created')).status, 404);
  });

  it('refuses uploads whose other fields or target are wrong, writing nothing', async () => {
    const file = (): [string, string] => ['data.txt', 'content'];
    await refused(`/api/jobs/${jobId}/runs`, { method: 'POST', body: form([file()], { delaySeconds: 'soon' }) }, 400, /delaySeconds/);
    await refused(`/api/jobs/${jobId}/runs`, { method: 'POST', body: form([file()], { at: '2030-01-01T00:00:00Z', delaySeconds: '5' }) }, 400, /either at or delaySeconds/);
    await refused(`/api/jobs/${jobId}/runs`, { method: 'POST', body: form([['../x', 'content']]) }, 400, /is a path/);
    await refused(`/api/jobs/${jobId}/files`, { method: 'POST', body: form([['.endercompute-x', 'content']]) }, 400, /reserved/);
    await refused('/api/jobs/no-such-job/files', { method: 'POST', body: form([file()]) }, 404, /no-such-job/);
    await refused('/api/jobs/no-such-job/runs', { method: 'POST', body: form([file()]) }, 404, /no-such-job/);
    const big = new Blob([Buffer.alloc(100 * MiB + 1)]);
    await refused(`/api/jobs/${jobId}/files`, { method: 'POST', body: form([['big.bin', big]]) }, 413, /larger than the limit/);
  });

  it('leaves no spool file and nothing in the log when the client goes away mid-upload', async () => {
    const before = await countEvents(server);
    const url = new URL(`${server.url}/api/jobs/${jobId}/files`);
    await new Promise<void>((resolve) => {
      const boundary = 'x-boundary-1234';
      const req = httpRequest(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.key}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(50 * MiB) },
      });
      req.on('error', () => resolve());
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="half.bin"\r\n\r\n`);
      req.write(Buffer.alloc(4 * MiB, 7), () => setTimeout(() => {
        req.destroy();
        resolve();
      }, 300));
    });
    await eventually(async () => (spool().length === 0 ? true : undefined), 5_000, 'the spool to be emptied');
    assert.equal(await countEvents(server), before);
    // The server still serves.
    assert.equal((await server.request('/api/health')).status, 200);
  });

  it('stores large files with little memory, exactly, and runs with them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'endercompute-big-'));
    try {
      const names: string[] = [];
      const hashes = new Map<string, string>();
      for (let i = 0; i < 4; i++) {
        const name = `big-${i}.bin`;
        const bytes = Buffer.alloc(40 * MiB);
        for (let at = 0; at < bytes.length; at += 4096) bytes.writeUInt32LE((at * 2654435761 + i) >>> 0, at);
        writeFileSync(join(dir, name), bytes);
        hashes.set(name, createHash('sha256').update(bytes).digest('hex'));
        names.push(name);
      }
      // Warm up (first upload loads code and grows the heap a little), then measure from idle.
      await expectJson(await server.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: form([['warm.txt', 'warm']]) }), 201);
      const pid = server.child.pid!;
      const idle = procStatus(pid, 'VmRSS');
      const body = new FormData();
      for (const name of names) body.append('file', await openAsBlob(join(dir, name)), name);
      const job = await expectJson<{ files: Array<{ name: string; size: number; sha256: string }> }>(
        await server.request(`/api/jobs/${jobId}/files`, { method: 'POST', body }),
        201,
      );
      const peak = procStatus(pid, 'VmHWM');
      assert.ok(peak - idle < 64 * MiB, `an upload of 160 MiB took the server from ${(idle / MiB).toFixed(0)} MiB to a peak of ${(peak / MiB).toFixed(0)} MiB`);
      for (const name of names) {
        const file = job.files.find((f) => f.name === name);
        assert.deepEqual(file && { size: file.size, sha256: file.sha256 }, { size: 40 * MiB, sha256: hashes.get(name) });
      }
      // The spool is emptied as the request ends (right after the answer is sent).
      await eventually(async () => (spool().length === 0 ? true : undefined), 5_000, 'the spool to be emptied');

      // Downloading streams too, and gives the exact bytes.
      const response = await server.request(`/api/jobs/${jobId}/files/big-2.bin`);
      assert.equal(response.headers.get('content-length'), String(40 * MiB));
      const hash = createHash('sha256');
      for await (const chunk of response.body!) hash.update(chunk);
      assert.equal(hash.digest('hex'), hashes.get('big-2.bin'));
      const afterDownload = procStatus(pid, 'VmHWM');
      assert.ok(afterDownload - idle < 64 * MiB, `downloading took the server to a peak of ${(afterDownload / MiB).toFixed(0)} MiB from ${(idle / MiB).toFixed(0)} MiB`);

      // A run gets them (as files in its work directory) unchanged.
      const requested = await postJson<Run>(server, `/api/jobs/${jobId}/runs`, {}, 202);
      const run = await waitForRun(server, requested.id, 60_000);
      assert.equal(run.status, 'succeeded');
      const listing = (await (await server.request(`/api/runs/${run.id}/output`)).text()).split('\n');
      for (const name of names) assert.ok(listing.includes(`${name} ${hashes.get(name)!.slice(0, 16)}`), `${name} in ${listing.join(', ')}`);
      assert.ok(await getJson(server, `/api/jobs/${jobId}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
