import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { HTMX_FILE, HTMX_SSE_FILE, STATIC_DIR } from './view-renderer';

/**
 * The Content-Security-Policy of every answer: scripts and styles only from
 * this server's own files — no inline script, no inline style, no `style=`
 * attribute, no eval — and nothing may frame the pages. No
 * `upgrade-insecure-requests`: a self-hosted server is often plain HTTP on a LAN.
 */
export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  manifestSrc: ["'self'"],
  formAction: ["'self'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
  objectSrc: ["'none'"],
};

const STATIC_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/**
 * Security headers for every answer (pages and API alike), and the static
 * files of the pages: `/static/app.css`, `/static/app.js`, and htmx itself at
 * `/static/htmx.min.js` with its SSE extension at `/static/hx-sse.min.js`. Asset URLs in the pages carry a content hash (`?v=`),
 * so a week of caching never serves a stale file after an upgrade.
 */
export function configureWebHttp(app: NestExpressApplication): void {
  app.use(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginEmbedderPolicy: false,
    }),
  );
  app.use((_request: Request, response: Response, next: NextFunction) => {
    response.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()');
    next();
  });
  for (const [path, file] of [['/static/htmx.min.js', HTMX_FILE], ['/static/hx-sse.min.js', HTMX_SSE_FILE]]) {
    app.use(path, (request: Request, response: Response, next: NextFunction) => {
      if ((request.method !== 'GET' && request.method !== 'HEAD') || request.path !== '/') return next();
      response.sendFile(file, { maxAge: STATIC_MAX_AGE_MS, headers: { 'Content-Type': 'text/javascript; charset=utf-8' } });
    });
  }
  app.useStaticAssets(STATIC_DIR, { prefix: '/static/', maxAge: STATIC_MAX_AGE_MS, index: false, fallthrough: true, dotfiles: 'ignore' });
}
