import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { productionNodeFlags } from '../support/server-process';

/**
 * The server's memory and output speed depend on the Node flags it starts with (see the
 * README, "Operating EnderCompute"): every way the project starts it must give the same.
 */
describe('the Node flags the server starts with', () => {
  it('are the same in the container image as in npm run start:prod', () => {
    const dockerfile = readFileSync(resolve(__dirname, '../../../Dockerfile'), 'utf8');
    const command = /^CMD (\[.*\])\s*$/m.exec(dockerfile);
    assert.ok(command, 'the Dockerfile has a CMD in exec form');
    const argv = JSON.parse(command[1]) as string[];
    assert.deepEqual(argv, ['node', ...productionNodeFlags(), 'dist/server/main.js']);
  });

  it('include the heap growth that keeps output buffers from forcing full collections', () => {
    assert.ok(productionNodeFlags().includes('--heap-growing-percent=100'), productionNodeFlags().join(' '));
  });
});
