#!/usr/bin/env node
// Bundles the compiled server (dist/src/main.js, from `nest build`) into one file,
// dist/server/main.js, which `npm run start:prod`, the Dockerfile and the tests start;
// and its projection build process (dist/src/tools/projection-build.child.js) into
// dist/server/projection-build.child.js beside it, which the server starts when it
// builds its read models from the log.
//
// Why: a start was mostly Node finding, reading and compiling over 1,000 module
// files (stat calls up every node_modules tree, one read and one compile each). One
// file takes that away: to /api/health in 0.9 s instead of 1.4 s on this project's
// 2-core machine (docs/DESIGN.md, "Start time"). The bundle is of JavaScript that tsc
// already compiled, so the decorator metadata Nest needs is there as before.
//
// What stays outside, loaded from node_modules at run time:
// - better-sqlite3: a native addon that finds its .node file by path;
// - @eventstore/db-client: only a server on EventStoreDB loads it (lazily), so the
//   embedded server neither parses nor compiles gRPC;
// - the optional packages Nest asks for only when an application uses them (it
//   says so when one is missing): microservices, websockets, @fastify/static and
//   class-transformer's storage entry.
// - packages whose files are served as they are installed (htmx, swagger-ui's
//   assets): the server only resolves their paths (`require.resolve`); views/ is
//   found beside dist/ as before.
import { build } from 'esbuild';

const SERVED_FILES = ['htmx.org', 'swagger-ui-dist'];
const OPTIONAL_PEERS = ['@nestjs/microservices', '@nestjs/microservices/*', '@nestjs/websockets', '@nestjs/websockets/*', '@fastify/static', 'class-transformer/storage'];

await build({
  entryPoints: [
    { in: 'dist/src/main.js', out: 'main' },
    { in: 'dist/src/tools/projection-build.child.js', out: 'projection-build.child' },
  ],
  outdir: 'dist/server',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['better-sqlite3', '@eventstore/db-client', ...SERVED_FILES, ...OPTIONAL_PEERS],
  // Nest names modules, providers and controllers in its logs and errors by their class names.
  keepNames: true,
  // Nest's ESM files build `require` from import.meta.url for optional packages; in one
  // CommonJS file that is the bundle's own URL, from which node_modules resolves as before.
  banner: { js: "var __bundleFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__bundleFileUrl' },
  logLevel: 'warning',
  // The swagger plugin writes each DTO property's `enum` from its type beside the one a
  // decorator gives; the later key wins, in the bundle as under Node.
  logOverride: { 'duplicate-object-key': 'silent' },
});
