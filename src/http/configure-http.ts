import type { NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { ValidationError } from '../shared/domain-errors';
import { AppConfig } from '../config/app-config';
import { configureOpenApi } from '../openapi/openapi-viewer';
import { configureWebHttp } from '../web/web-http';
import { ConnectionDrain } from './connection-drain';
import { jsonDepthProblem } from './json-shape';

/** Body limits: a script template (512 KiB) in JSON with room to spare. Files come as multipart. */
export const JSON_BODY_LIMIT = '2mb';

/** HTTP settings shared by the server and the integration tests. */
export function configureHttp(app: NestExpressApplication): void {
  // A stopping server tells keep-alive clients (job servers polling) to let go.
  app.use(app.get(ConnectionDrain).middleware);
  app.use(
    express.json({
      limit: JSON_BODY_LIMIT,
      // Refuses a body nested too deep before it is parsed: one pass over the bytes, no recursion anywhere.
      verify: (_request, _response, buffer, encoding) => {
        const problem = jsonDepthProblem(encoding === 'utf-8' ? buffer : decode(buffer, encoding));
        if (problem) throw new ValidationError([problem]);
      },
    }),
  );
  // Page forms; `extended: false` reads flat `a=1&b=2` only (no nesting to go deep).
  app.use(express.urlencoded({ limit: JSON_BODY_LIMIT, extended: false }));
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Security headers (CSP) for every answer, and the pages' static files.
  configureWebHttp(app);
  // The API's description (`/api/openapi.json`) and its viewer (`/api-docs`).
  configureOpenApi(app, app.get(AppConfig).version);
}

/** A body in UTF-16 (which JSON allows) as text, so its brackets are counted right; raw bytes when the encoding is unknown here. */
function decode(buffer: Buffer, encoding: string): Buffer | string {
  try {
    return new TextDecoder(encoding).decode(buffer);
  } catch {
    return buffer;
  }
}
