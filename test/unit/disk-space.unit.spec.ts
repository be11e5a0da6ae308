import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diskShortage } from '../../src/runs/execution/disk-space';

const MiB = 1024 * 1024;

describe('the minimum free disk space rule', () => {
  it('lets runs start at or above the minimum, and holds them below it, saying how much is free and the setting', () => {
    assert.equal(diskShortage({ freeBytes: 256 * MiB, minFreeBytes: 256 * MiB, path: '/d/work' }), null);
    assert.equal(diskShortage({ freeBytes: 0, minFreeBytes: 0, path: '/d/work' }), null, 'a minimum of 0 never holds');
    assert.equal(
      diskShortage({ freeBytes: 100 * MiB, minFreeBytes: 256 * MiB, path: '/d/work' }),
      'disk space: 100 MiB free on the disk holding /d/work, below ENDERCOMPUTE_MIN_FREE_BYTES (256 MiB); runs start again when space is freed',
    );
  });
});
