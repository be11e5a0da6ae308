import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventStoreUnavailableError } from '../../src/event-store/event-store.port';
import { describeBytes, diskFullReason, retryWhileDiskFull } from '../../src/runs/execution/disk-full';
import { StorageFullError } from '../../src/shared/domain-errors';
import { isDiskFull } from '../../src/shared/storage-full';

const coded = (code: string): Error => Object.assign(new Error(code), { code });

describe('a full disk', () => {
  it('is recognised by its code anywhere in the chain of causes', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'SQLITE_FULL']) assert.ok(isDiskFull(coded(code)), code);
    assert.ok(isDiskFull(new EventStoreUnavailableError('The write transaction failed', coded('SQLITE_FULL'))));
    assert.ok(isDiskFull(new Error('cannot prepare work directory', { cause: coded('ENOSPC') })));
    assert.ok(isDiskFull(new StorageFullError('full')));
    for (const other of [coded('EACCES'), coded('SQLITE_BUSY'), new Error('ENOSPC in a message only'), null, undefined, 'ENOSPC']) {
      assert.equal(isDiskFull(other), false, String(other));
    }
  });

  it('gives a run that was running a reason saying how much output was kept, and one that was starting a reason saying it did not start', () => {
    const full = coded('SQLITE_FULL');
    assert.equal(
      diskFullReason(full, { phase: 'running', outputBytes: 10_905_600 }),
      'The disk filled up while the run was running, so it was stopped: the first 10905600 bytes (10.4 MiB) of its output were kept (free space on the server, then run it again)',
    );
    assert.match(diskFullReason(full, { phase: 'paused', outputBytes: 35 }) ?? '', /the first 35 bytes of its output were kept/);
    assert.equal(diskFullReason(full, { phase: 'claimed', outputBytes: 0 }), 'The disk is full, so the run could not be started (free space on the server, then run it again)');
    assert.equal(diskFullReason(coded('EACCES'), { phase: 'running', outputBytes: 0 }), null);
    assert.equal(describeBytes(1023), '1023 bytes');
  });

  it('records again while the disk is full, and gives up on other errors or when stopping', async () => {
    let calls = 0;
    const stopping = new AbortController();
    const result = await retryWhileDiskFull(async () => {
      calls++;
      if (calls < 3) throw coded('SQLITE_FULL');
      return 'recorded';
    }, stopping.signal);
    assert.deepEqual([result, calls], ['recorded', 3]);
    await assert.rejects(retryWhileDiskFull(async () => Promise.reject(coded('EACCES')), stopping.signal), /EACCES/);
    stopping.abort();
    await assert.rejects(retryWhileDiskFull(async () => Promise.reject(coded('ENOSPC')), stopping.signal), /ENOSPC/);
  });
});
