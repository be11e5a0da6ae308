import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diskShortage, formatBytes } from '../../src/runs/execution/disk-space';

const MiB = 1024 * 1024;

describe('the minimum free disk space rule', () => {
  it('lets runs start at or above the minimum, and holds them below it, saying how much is free and the setting', () => {
    assert.equal(diskShortage({ freeBytes: 256 * MiB, minFreeBytes: 256 * MiB, path: '/d/work' }), null);
    assert.equal(diskShortage({ freeBytes: 0, minFreeBytes: 0, path: '/d/work' }), null, 'a minimum of 0 never holds');
    assert.equal(
      diskShortage({ freeBytes: 100 * MiB, minFreeBytes: 256 * MiB, path: '/d/work' }),
      'disk space: 100.0 MiB free on the disk holding /d/work, below ENDERCOMPUTE_MIN_FREE_BYTES (256.0 MiB); runs start again when space is freed',
    );
  });

  it('writes sizes in binary units', () => {
    assert.equal(formatBytes(0), '0 bytes');
    assert.equal(formatBytes(1023), '1023 bytes');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB');
  });
});
