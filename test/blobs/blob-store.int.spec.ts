/**
 * The blob store on a real embedded log: files are stored from disk chunk by
 * chunk, a blob begun earlier (also with the older 512 KiB chunks) is resumed
 * and read back exactly, and bytes that do not match their hash never complete
 * a blob.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobStore } from '../../src/blobs/blob-store';
import { BLOB_CHUNK_BYTES, blobStream } from '../../src/blobs/blob.events';
import { startTestApp, type TestApp } from '../support/test-app';

const context = { actor: 'test', source: 'test', correlationId: 'c', causationId: null } as never;

describe('the blob store', () => {
  let t: TestApp;
  let blobs: BlobStore;
  let dir: string;

  before(async () => {
    t = await startTestApp();
    blobs = t.app.get(BlobStore);
    dir = mkdtempSync(join(tmpdir(), 'endercompute-blobs-'));
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function source(name: string, bytes: Buffer): { path: string; size: number; sha256: string } {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return { path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  const bytesOf = (size: number, seed: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff));

  async function appendChunks(sha256: string, chunks: Buffer[]): Promise<void> {
    const events = chunks.map((chunk, index) => ({ id: randomUUID(), type: 'BlobChunkStored', data: { sha256, index, data: chunk.toString('base64') }, metadata: { actor: 'test', at: new Date().toISOString(), correlationId: 'c', causationId: null, source: 'test' } }));
    await t.store.append(blobStream(sha256), events, 'no_stream');
  }

  it('stores a file of several appends and reads it back exactly', async () => {
    const bytes = bytesOf(BLOB_CHUNK_BYTES * 20 + 123, 1);
    const file = source('many', bytes);
    assert.deepEqual(await blobs.put(file, context), { sha256: file.sha256, size: bytes.length });
    assert.deepEqual(await blobs.get(file.sha256), bytes);
    const events = await t.store.readStream(blobStream(file.sha256));
    assert.equal(events.length, 22, '21 chunks, then BlobCompleted');
  });

  it('resumes a blob begun with the older, larger chunks', async () => {
    const old = 512 * 1024;
    const bytes = bytesOf(old * 2 + 1000, 2);
    const file = source('old', bytes);
    await appendChunks(file.sha256, [bytes.subarray(0, old)]);
    await blobs.put(file, context);
    assert.deepEqual(await blobs.get(file.sha256), bytes);
  });

  it('resumes a blob whose one stored chunk is the whole file', async () => {
    const bytes = bytesOf(300 * 1024, 3);
    const file = source('whole', bytes);
    await appendChunks(file.sha256, [bytes]);
    await blobs.put(file, context);
    assert.deepEqual(await blobs.get(file.sha256), bytes);
  });

  it('never completes a blob whose bytes do not match the hash given', async () => {
    const file = { ...source('liar', bytesOf(1000, 4)), sha256: 'a'.repeat(64) };
    await assert.rejects(blobs.put(file, context), /do not match/);
    const events = await t.store.readStream(blobStream(file.sha256));
    assert.ok(!events.some((event) => event.type === 'BlobCompleted'));
    await assert.rejects(blobs.get(file.sha256), /No stored file/);
  });
});
