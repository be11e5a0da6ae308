/**
 * Issue 16, item 4: the OpenAPI description at `/api/openapi.json`. It is served without
 * a key; it is a valid OpenAPI document; it has every `/api` route the application
 * registers (read from Express's router, compared both ways); and every request the CLI
 * sends, recorded through a proxy while the real CLI runs each of its commands, matches
 * one of its operations and that operation's parameters and body schema.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validate, compileErrors } from '@readme/openapi-parser';
import Ajv from 'ajv';
import type { Command } from 'commander';
import { buildProgram, NOT_REST_COMMANDS } from '../../src/cli/program';
import { runCli } from '../support/cli';
import { scriptGates } from '../support/script-gates';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

interface Operation {
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: { type?: string; enum?: unknown[] } }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  security?: unknown[];
}
interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, unknown>;
  required?: string[];
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
  security?: unknown[];
}

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string;
  body: Buffer;
}

/** Express's registered routes as `METHOD /path/{param}`. */
function registeredRoutes(t: TestApp): string[] {
  const express = t.app.getHttpAdapter().getInstance() as { router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> } };
  const routes: string[] = [];
  for (const layer of express.router.stack) {
    if (!layer.route) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (on && method !== '_all') routes.push(`${method.toUpperCase()} ${layer.route.path.replace(/[:*](\w+)/g, '{$1}')}`);
    }
  }
  return routes;
}

describe('the OpenAPI description of the REST API', () => {
  const gates = scriptGates('endercompute-openapi-');
  let t: TestApp;
  let doc: Document;

  before(async () => {
    t = await startTestApp(gates.sandboxEnv);
  });
  after(async () => {
    gates.openAll();
    await t.close();
    gates.remove();
  });

  it('is served at /api/openapi.json without a key, and is a valid OpenAPI document', async () => {
    const response = await fetch(`${t.url}/api/openapi.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    doc = (await response.json()) as Document;
    assert.match(doc.openapi, /^3\./);
    const result = await validate(structuredClone(doc) as never);
    assert.ok(result.valid, result.valid ? '' : compileErrors(result));
    // It describes the API only: no page routes, and no data.
    assert.ok(Object.keys(doc.paths).every((path) => path.startsWith('/api/')));
  });

  it('has every /api route the application registers, and none it does not', () => {
    const registered = registeredRoutes(t).filter((route) => route.split(' ')[1].startsWith('/api/'));
    assert.ok(registered.length > 20, `found the routes (${registered.length})`);
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    assert.deepEqual([...documented].sort(), [...new Set(registered)].sort());
  });

  it('says which operations need the key: all but health and the description itself', async () => {
    assert.deepEqual(doc.security, [{ key: [] }]);
    // `[{}]`: an empty requirement, met without any scheme.
    const open = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations).filter(([, operation]) => JSON.stringify(operation.security) === '[{}]').map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    assert.deepEqual(open.sort(), ['GET /api/health', 'GET /api/openapi.json']);
    // And so it is: both answer without a key, another operation does not.
    assert.equal((await fetch(`${t.url}/api/health`)).status, 200);
    assert.equal((await fetch(`${t.url}/api/jobs`)).status, 401);
  });

  it("matches every request the CLI sends, running each of its commands", async () => {
    const recorded: Recorded[] = [];
    const proxy = await recordingProxy(t.url, recorded);
    const dir = mkdtempSync(join(tmpdir(), 'endercompute-openapi-cli-'));
    const target = { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, key: 'test-key-0123456789abcdef' };
    const used = new Set<string>();
    const cli = async (...args: string[]): Promise<string> => {
      const result = await runCli(target, [...args, '--json'], { ENDERCOMPUTE_ACTOR: 'dana' }, dir);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      used.add(args.filter((word) => /^[a-z]+$/.test(word)).slice(0, args[0] === 'health' || args[0] === 'events' ? 1 : 2).join(' '));
      return result.stdout.toString();
    };
    try {
      writeFileSync(join(dir, 'body.sh'), 'echo "hi $1"\n');
      writeFileSync(join(dir, 'input.txt'), 'some input\n');
      const gate = gates.gate();
      writeFileSync(join(dir, 'gated.sh'), `echo start; ${gate.wait}; echo end; echo end > "$ENDERCOMPUTE_ARTIFACTS_DIR/end.txt"\n`);
      await cli('health');
      await cli('scripts', 'create', 'greet', '--file', 'body.sh', '--interpreter', 'bash');
      await cli('scripts', 'create', 'gated', '--file', 'gated.sh');
      await cli('scripts', 'create', 'spare', '--file', 'body.sh');
      await cli('scripts', 'list');
      await cli('scripts', 'show', 'greet');
      await cli('scripts', 'update', 'spare', '--name', 'spare2', '--interpreter', 'sh');
      await cli('scripts', 'history', 'greet');
      await cli('scripts', 'version', 'greet', '1');
      await cli('scripts', 'restore', 'greet', '1');
      await cli('scripts', 'list', '--as-of', '2000-01-01T00:00:00Z');
      await cli('scripts', 'remove', 'spare2');
      await cli('jobs', 'create', 'Greeter', '--script', 'greet', '--arg', 'x', '--env', 'A=1', '--tag', 't1', '--timeout', '60', '--description', 'says hi', '--keep-runs', '5', '--keep-workdir', '--artifact', 'out/*', '--', 'more');
      await cli('jobs', 'create', 'Gated', '--script', 'gated');
      await cli('jobs', 'list', '--search', 'greet', '--tag', 't1', '--last-status', 'never');
      await cli('jobs', 'show', 'Greeter');
      await cli('jobs', 'update', 'Greeter', '--name', 'Greeter2', '--timeout', 'none', '--keep-runs', 'all', '--no-keep-workdir', '--tag', 't2');
      await cli('jobs', 'attach', 'Greeter2', 'input.txt');
      await cli('jobs', 'detach', 'Greeter2', 'input.txt');
      const { current } = JSON.parse(await cli('jobs', 'history', 'Greeter2')) as { current: number };
      await cli('jobs', 'version', 'Greeter2', String(current), '--compare-to', '1');
      // The current version: a restore that records nothing, so the job keeps its name for what follows.
      await cli('jobs', 'restore', 'Greeter2', String(current));
      await cli('jobs', 'show', 'Greeter2', '--as-of', new Date().toISOString());
      await cli('jobs', 'list', '--as-of', new Date().toISOString(), '--search', 'greet', '--tag', 't1');
      assert.match(await cli('jobs', 'run', 'Greeter2', 'now', '--env', 'B=2', '--file', 'input.txt', '--follow'), /"type":"end"/);
      await cli('jobs', 'run', 'Greeter2', '--arg', 'later', '--delay', '3600');
      const gated = JSON.parse(await cli('jobs', 'run', 'Gated')) as { id: string };
      await eventually(async () => ((await expectJson<{ status: string }>(await t.request(`/api/runs/${gated.id}`), 200)).status === 'running' ? true : undefined), 20_000, 'the gated run to start');
      await cli('runs', 'pause', gated.id);
      await cli('runs', 'resume', gated.id);
      gate.open();
      await cli('runs', 'output', gated.id, '--follow');
      await cli('runs', 'output', gated.id);
      await cli('runs', 'show', gated.id);
      await cli('runs', 'artifacts', gated.id);
      await cli('runs', 'artifacts', gated.id, '--download', join(dir, 'artifacts'));
      await cli('runs', 'rerun', gated.id);
      const list = JSON.parse(await cli('runs', 'list', '--status', 'scheduled', '--job', 'Greeter2', '--by', 'dana', '--search', 'later', '--limit', '10')) as { items: Array<{ id: string }> };
      await cli('runs', 'list', '--finished', '--before', '999999999999');
      await cli('runs', 'cancel', list.items[0].id);
      await cli('events', '--job', 'Greeter2', '--actor', 'dana', '--type', 'JobCreated,RunRequested', '--limit', '20', '--after', '0');
      await cli('events', '--stream', 'nothing-here');
      await cli('jobs', 'remove', 'Gated');

      // Every command that speaks the API was run (see NOT_REST_COMMANDS for the others).
      const leaves = (command: Command, path: string[] = []): string[] =>
        command.commands.flatMap((sub) => (sub.commands.length > 0 ? leaves(sub, [...path, sub.name()]) : [[...path, sub.name()].join(' ')]));
      const all = leaves(buildProgram(async () => undefined, '0')).filter((path) => !NOT_REST_COMMANDS.includes(path));
      assert.deepEqual([...used].sort(), all.sort());
    } finally {
      proxy.close();
      rmSync(dir, { recursive: true, force: true });
    }

    assert.ok(recorded.length >= 30, `recorded the CLI's requests (${recorded.length})`);
    assert.ok(recorded.some((r) => r.contentType.startsWith('multipart/form-data')), 'multipart bodies were among them');
    assert.ok(recorded.some((r) => r.contentType.startsWith('application/json') && r.body.length > 0), 'JSON bodies were among them');
    assert.ok(recorded.some((r) => [...r.query].length >= 3), 'queries were among them');
    const problems = recorded.flatMap((request) => requestProblems(doc, request).map((problem) => `${request.method} ${request.path}?${request.query}: ${problem}`));
    assert.deepEqual(problems, []);
  });

  it('checks what it says it checks: a request off the description is caught', () => {
    const off = (method: string, path: string, query: string, contentType: string, body: unknown): string[] =>
      requestProblems(doc, { method, path, query: new URLSearchParams(query), contentType, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) });
    assert.deepEqual(off('GET', '/api/runs', 'limit=5', '', ''), []);
    assert.match(off('GET', '/api/nowhere', '', '', '').join(), /no operation/);
    assert.match(off('PATCH', '/api/jobs/j1', '', '', '').join(), /no operation/);
    assert.match(off('GET', '/api/runs', 'colour=red', '', '').join(), /query parameter colour is not described/);
    assert.match(off('GET', '/api/runs', 'limit=many', '', '').join(), /query parameter limit/);
    assert.match(off('POST', '/api/jobs', '', 'application/json', { scriptId: 's' }).join(), /must have required property 'name'/);
    assert.match(off('POST', '/api/jobs', '', 'application/json', { name: 'n', scriptId: 's', args: 'x' }).join(), /args must be array/);
    assert.match(off('POST', '/api/jobs', '', 'application/json', { name: 'n', scriptId: 's', colour: 'red' }).join(), /colour is not a property/);
    assert.match(off('POST', '/api/jobs/j1/files', '', 'text/plain', 'x').join(), /text\/plain is not a content type/);
  });
});

/**
 * What is wrong with a request by the description: no operation for its method and
 * path, a query parameter it does not declare or of the wrong type, a body of a
 * content type it does not take, or one that does not fit the schema (JSON: the
 * schema, and no property it does not list; multipart: field names it lists, or `file`).
 */
function requestProblems(doc: Document, request: Recorded): string[] {
  const match = Object.entries(doc.paths).find(([template]) => new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`).test(request.path));
  const operation = match?.[1][request.method.toLowerCase()];
  if (!operation) return ['no operation describes it'];
  const problems: string[] = [];
  for (const [name, value] of request.query) {
    const parameter = operation.parameters?.find((p) => p.in === 'query' && p.name === name);
    if (!parameter) {
      problems.push(`query parameter ${name} is not described`);
      continue;
    }
    const type = parameter.schema?.type;
    if ((type === 'integer' || type === 'number') && !/^\d+$/.test(value)) problems.push(`query parameter ${name} must be a ${type}, not "${value}"`);
    if (parameter.schema?.enum && !parameter.schema.enum.includes(value)) problems.push(`query parameter ${name} must be one of ${parameter.schema.enum.join(', ')}`);
  }
  for (const parameter of operation.parameters ?? []) {
    if (parameter.in === 'query' && parameter.required && !request.query.has(parameter.name)) problems.push(`query parameter ${parameter.name} is required`);
  }
  if (request.body.length === 0) {
    if (operation.requestBody?.required) problems.push('a body is required');
    return problems;
  }
  const mediaType = request.contentType.split(';')[0].trim();
  const content = operation.requestBody?.content[mediaType];
  if (!content) return [...problems, `${mediaType || 'a body without a content type'} is not a content type the operation takes`];
  const schema = resolve(doc, content.schema);
  if (mediaType === 'application/json') {
    const body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
    const ajv = new Ajv({ strict: false, allErrors: true });
    const check = ajv.compile({ ...content.schema, components: doc.components });
    if (!check(body)) problems.push(...(check.errors ?? []).map((error) => `${error.instancePath.slice(1) || 'body'} ${error.message ?? ''}`.trim()));
    for (const key of Object.keys(body)) if (!schema.properties?.[key]) problems.push(`${key} is not a property of the body`);
  } else if (mediaType === 'multipart/form-data') {
    const fields = [...request.body.toString('latin1').matchAll(/Content-Disposition: form-data; name="([^"]+)"/gi)].map((found) => found[1]);
    for (const field of fields) if (field !== 'file' && !schema.properties?.[field]) problems.push(`multipart field ${field} is not a property of the body`);
  }
  return problems;
}

function resolve(doc: Document, schema: Schema): Schema {
  return schema.$ref ? doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] : schema;
}

/** An HTTP proxy to `upstream` that records each request (bodies whole; answers streamed through). */
function recordingProxy(upstream: string, into: Recorded[]): Promise<Server> {
  const target = new URL(upstream);
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(request.url ?? '/', upstream);
      into.push({ method: request.method ?? 'GET', path: decodeURIComponent(url.pathname), query: url.searchParams, contentType: request.headers['content-type'] ?? '', body });
      const forward = httpRequest(
        { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: { ...request.headers, host: target.host } },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      forward.on('error', () => response.destroy());
      forward.end(body);
    });
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}
