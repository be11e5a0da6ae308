/**
 * The API viewer at `/api-docs`: swagger-ui (from swagger-ui-dist) reading
 * `/api/openapi.json`. It runs under the pages' strict CSP (no inline script or style):
 * the bundle and its stylesheet are served as files, and a small script of ours
 * (`views/static/api-viewer.js`) starts it. No key needed: it shows only the description.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { buildOpenApiDocument, OpenApiDocument } from './openapi.document';

/** Where the viewer lives. */
export const VIEWER_PATH = '/api-docs';

const SWAGGER_UI_DIR = join(require.resolve('swagger-ui-dist/package.json'), '..');
const SWAGGER_UI_VERSION = (JSON.parse(readFileSync(join(SWAGGER_UI_DIR, 'package.json'), 'utf8')) as { version: string }).version;
const MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** swagger-ui's files served under `/static/swagger-ui/`, and their types. */
const VIEWER_FILES: Record<string, string> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
};

/** The viewer page: only references to files (asset URLs carry versions, so a week of caching is safe). */
function viewerPage(version: string): string {
  const ui = (file: string): string => `/static/swagger-ui/${file}?v=${SWAGGER_UI_VERSION}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EnderCompute API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${ui('swagger-ui.css')}">
<script src="${ui('swagger-ui-bundle.js')}" defer></script>
<script src="/static/api-viewer.js?v=${encodeURIComponent(version)}" defer></script>
</head>
<body>
<div id="swagger-ui" data-url="/api/openapi.json"></div>
</body>
</html>
`;
}

/** Builds the document for `GET /api/openapi.json`, and serves the viewer page and its files. */
export function configureOpenApi(app: NestExpressApplication, version: string): void {
  app.get(OpenApiDocument).set(buildOpenApiDocument(app, version));
  const page = viewerPage(version);
  const getOnly = (send: (response: Response) => void) => (request: Request, response: Response, next: NextFunction): void => {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || request.path !== '/') return next();
    send(response);
  };
  app.use(VIEWER_PATH, getOnly((response) => response.type('html').setHeader('Cache-Control', 'no-cache').send(page)));
  for (const [file, type] of Object.entries(VIEWER_FILES)) {
    app.use(`/static/swagger-ui/${file}`, getOnly((response) => response.sendFile(join(SWAGGER_UI_DIR, file), { maxAge: MAX_AGE_MS, headers: { 'Content-Type': type } })));
  }
}
