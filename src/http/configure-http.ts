import type { NestExpressApplication } from '@nestjs/platform-express';
import { configureWebHttp } from '../web/web-http';

/** Body limits: a script template (512 KiB) in JSON with room to spare. Files come as multipart. */
export const JSON_BODY_LIMIT = '2mb';

/** HTTP settings shared by the server and the integration tests. */
export function configureHttp(app: NestExpressApplication): void {
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT });
  app.useBodyParser('urlencoded', { limit: JSON_BODY_LIMIT, extended: false });
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Security headers (CSP) for every answer, and the pages' static files.
  configureWebHttp(app);
}
