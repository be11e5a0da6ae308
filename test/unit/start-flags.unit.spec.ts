import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { productionLaunch, productionNodeFlags } from '../support/server-process';

/**
 * The server's memory and output speed depend on the Node flags and the environment it
 * starts with (see the README, "Operating EnderCompute"): every way the project starts
 * it must give the same.
 */
describe('the Node flags and environment the server starts with', () => {
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

  it('ask malloc for transparent huge pages, in npm run start:prod, the container image and the job server unit alike', () => {
    const { env } = productionLaunch();
    assert.equal(env.GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1');
    const dockerfile = readFileSync(resolve(__dirname, '../../../Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ENV (?:.*\\\n)*\s*GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1(?: \\)?$/m, 'the image sets it');
    const readme = readFileSync(resolve(__dirname, '../../../README.md'), 'utf8');
    const unit = /# \/etc\/systemd\/system\/endercompute-runner\.service\n([\s\S]*?)```/.exec(readme);
    assert.ok(unit, 'the README has the job server unit');
    assert.match(unit[1], new RegExp(`^Environment=GLIBC_TUNABLES=${env.GLIBC_TUNABLES.replace(/\./g, '\\.')}$`, 'm'));
  });
});
