import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { Eta } from 'eta';
import type { Request, Response } from 'express';
import type { AuthenticatedRequest } from '../auth/request-context';
import { AppConfig } from '../config/app-config';
import { Clock } from '../shared/clock';
import { viewHelpers } from './view-helpers';

/** Where the templates and static files live: `views/` at the repository root (beside `dist/`). */
export const VIEWS_DIR = findViewsDir();
export const STATIC_DIR = join(VIEWS_DIR, 'static');
/** htmx itself, served from the installed package at a stable URL. */
export const HTMX_FILE = require.resolve('htmx.org/dist/htmx.min.js');
/** htmx's SSE extension (it streams with fetch, so the key's header reaches the run page's live output). */
export const HTMX_SSE_FILE = require.resolve('htmx.org/dist/ext/hx-sse.min.js');

/**
 * The repository's `views/`: the nearest directory above this file's that holds
 * `views/layout.eta` (from dist/src/web, from the bundle in dist/server, or from src/web).
 */
function findViewsDir(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'views', 'layout.eta'))) return join(dir, 'views');
    if (dirname(dir) === dir) throw new Error(`views/layout.eta was not found above ${__dirname}`);
  }
}

/** Which navigation item a page belongs to. */
export type NavKey = 'dashboard' | 'jobs' | 'scripts' | 'runs' | 'runners' | 'audit' | null;

export interface Flash {
  kind: 'success' | 'error' | 'info';
  message: string;
  /** Extra lines under the message (every problem of a refused request). */
  details?: string[];
}

/** What a page handler hands over: the page template, its live fragment, and their data. */
export interface PageSpec {
  /** The full page (it uses the layout). */
  template: string;
  /** The part an htmx request for the same URL asks for (search results, live panels). */
  fragment?: string;
  title: string;
  nav: NavKey;
  data: Record<string, unknown>;
}

export interface RespondOptions {
  status?: number;
  flash?: Flash;
  /** After a change: show this page at this URL (pushed into history) instead of where the form was. */
  pushUrl?: string;
}

/**
 * Renders the eta templates in `views/` (escaping by default) and answers page
 * requests: the full page for a page load or a boosted navigation, the page's
 * fragment for an htmx request that targets part of the page.
 */
@Injectable()
export class ViewRenderer {
  private readonly eta = new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true, autoTrim: [false, 'nl'] });
  /** Asset URLs carrying a content hash, so browsers may cache them for long. */
  readonly assets: { css: string; js: string; htmx: string; sse: string; outputCss: string; outputJs: string };

  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {
    const version = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 10);
    this.assets = {
      css: `/static/app.css?v=${version(join(STATIC_DIR, 'app.css'))}`,
      js: `/static/app.js?v=${version(join(STATIC_DIR, 'app.js'))}`,
      htmx: `/static/htmx.min.js?v=${version(HTMX_FILE)}`,
      sse: `/static/hx-sse.min.js?v=${version(HTMX_SSE_FILE)}`,
      outputCss: `/static/output.css?v=${version(join(STATIC_DIR, 'output.css'))}`,
      outputJs: `/static/live-output.js?v=${version(join(STATIC_DIR, 'live-output.js'))}`,
    };
  }

  /** Renders one template with the data every template may use (`it.h`, `it.now`, `it.actor`, …). */
  render(template: string, data: Record<string, unknown>, request?: Request): string {
    const actor = (request as AuthenticatedRequest | undefined)?.commandContext?.actor ?? null;
    return this.eta.render(template, {
      h: viewHelpers,
      now: this.clock.now(),
      actor,
      assets: this.assets,
      version: this.config.version,
      flash: null,
      ...data,
    });
  }

  /** Answers a page request with the full page or, for a partial htmx request, the page's fragment. */
  respond(request: Request, response: Response, spec: PageSpec, options: RespondOptions = {}): void {
    const data = { ...spec.data, title: spec.title, nav: spec.nav, flash: options.flash ?? null };
    if (options.pushUrl !== undefined) {
      // A change answered with the page it leads to: swap the whole body and record the URL.
      response.setHeader('HX-Retarget', 'body');
      response.setHeader('HX-Reswap', 'innerHTML show:top');
      response.setHeader('HX-Push-Url', options.pushUrl);
      this.send(response, options.status ?? 200, this.render(spec.template, data, request));
      return;
    }
    const template = spec.fragment && wantsFragment(request) ? spec.fragment : spec.template;
    this.send(response, options.status ?? 200, this.render(template, data, request));
  }

  /** Answers with one fragment (a re-rendered form, a panel, a flash message). */
  fragment(
    request: Request,
    response: Response,
    template: string,
    data: Record<string, unknown>,
    options: { status?: number; retarget?: string; reswap?: string } = {},
  ): void {
    if (options.retarget) response.setHeader('HX-Retarget', options.retarget);
    if (options.reswap) response.setHeader('HX-Reswap', options.reswap);
    this.send(response, options.status ?? 200, this.render(template, data, request));
  }

  send(response: Response, status: number, html: string): void {
    // Pages hold what a key unlocks: never stored by the browser or a proxy.
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('Vary', 'HX-Request, HX-Request-Type, Authorization');
    response.status(status).type('html').send(html);
  }
}

/**
 * Whether an htmx request asks for part of a page: it targets an element other
 * than the body, and is not a boosted navigation or a history restore.
 */
export function wantsFragment(request: Request): boolean {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  return (
    header('hx-request') === 'true' &&
    header('hx-request-type') === 'partial' &&
    header('hx-boosted') !== 'true' &&
    header('hx-history-restore-request') !== 'true'
  );
}
