#!/usr/bin/env node
// Runs the compiled test files with Node's own test runner (Jest cannot load the
// ESM-only NestJS 12 packages on Node 20). `node scripts/run-tests.mjs [unit|int|e2e]...`
// picks tiers by file suffix; no argument runs every tier, fastest first.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const tiers = process.argv.slice(2);
const wanted = tiers.length > 0 ? tiers : ['unit', 'int', 'e2e'];

function findSpecs(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findSpecs(path));
    else if (entry.endsWith('.spec.js')) found.push(path);
  }
  return found;
}

const all = findSpecs('dist/test').sort();
const files = wanted.flatMap((tier) => all.filter((file) => file.endsWith(`.${tier}.spec.js`)));
if (files.length === 0) {
  console.error(`No compiled test files for tiers: ${wanted.join(', ')}`);
  process.exit(1);
}
// One file at a time keeps timing-sensitive end-to-end tests honest on a 2-core machine.
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
