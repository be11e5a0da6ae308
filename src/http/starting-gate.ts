import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import type { StoreKind } from '../event-store/event-store.port';
import type { BuildProgress } from '../projections/projection-engine';
import type { ViewRenderer } from '../web/view-renderer';
import { wantsFragment } from '../web/view-renderer';
import { errorBody } from './error-body';
import { STARTING_HEADER } from '../shared/starting-header';

/** Seconds a client is told to wait before asking again (`Retry-After`, and the page's reload). */
export const STARTING_RETRY_AFTER_SECONDS = 2;

/** What `GET /api/health` answers while the server starts: 503 with this body. */
export interface StartingHealth {
  status: 'starting';
  store: StoreKind;
  sandbox: 'bwrap' | 'none';
  version: string;
  message: string;
  /** While the read models are built from the whole log: how far that build has come. */
  progress?: BuildProgress;
}

/** What the gate needs to know of the server. */
export interface StartingGateOptions {
  store: StoreKind;
  sandbox: 'bwrap' | 'none';
  version: string;
  /** How far a build of the read models has come, or null when none is under way. */
  progress: () => BuildProgress | null;
  views: ViewRenderer;
}

/**
 * A server listens as soon as its HTTP stack exists, before it has started (built or
 * caught up its read models, recovered runs): a rebuild from a long log takes seconds to
 * minutes, and a server that refuses connections meanwhile looks dead to people, load
 * balancers and job servers alike. Until {@link open} every request is answered 503 with
 * `Retry-After` and what the server is doing:
 * - `GET /api/health`: {@link StartingHealth};
 * - any other API route (and anything that does not ask for HTML): the API's error body;
 * - a page: a page that says so, shows the build's progress and reloads itself; an htmx
 *   request for part of a page reloads the page (`HX-Refresh`), an htmx navigation loads
 *   the starting page in full (`HX-Redirect`), and a form sent through htmx gets the
 *   message where the page shows messages.
 * Nothing is read or changed by a request answered here. It needs no key: it says what
 * health says, and how far the build has come. Static files are served before it (the
 * page uses them).
 */
export class StartingGate {
  private started = false;

  constructor(private readonly options: StartingGateOptions) {}

  /** The server has started: requests go on to the routes from now on. */
  open(): void {
    this.started = true;
  }

  readonly middleware = (request: Request, response: Response, next: NextFunction): void => {
    if (this.started) {
      next();
      return;
    }
    this.answer(request, response);
  };

  /**
   * Right after {@link middleware}: a body the parsers before it refused (bad JSON, too
   * large, nested too deep) skips every plain middleware, the gate included, and Nest's
   * error filter exists only once the server has started; until then it gets the same 503.
   */
  readonly errorMiddleware: ErrorRequestHandler = (error: unknown, request: Request, response: Response, next: NextFunction): void => {
    if (this.started || response.headersSent) {
      next(error);
      return;
    }
    this.answer(request, response);
  };

  private answer(request: Request, response: Response): void {
    const progress = this.options.progress();
    const message = startingMessage(progress);
    response.setHeader('Retry-After', String(STARTING_RETRY_AFTER_SECONDS));
    // Tells a client that this 503 is the gate's, which kept nothing of the request: even a POST may be sent again.
    response.setHeader(STARTING_HEADER, 'starting');
    response.setHeader('Cache-Control', 'no-store');
    const path = request.path;
    if (path === '/api/health' || path === '/api/health/') {
      const { store, sandbox, version } = this.options;
      const body: StartingHealth = { status: 'starting', store, sandbox, version, message, ...(progress ? { progress } : {}) };
      response.status(503).json(body);
      return;
    }
    const isHtmx = request.headers['hx-request'] === 'true';
    if (path === '/api' || path.startsWith('/api/') || (!isHtmx && !/text\/html/.test(String(request.headers.accept ?? '')))) {
      response.status(503).json(errorBody(503, message));
      return;
    }
    const views = this.options.views;
    if (isHtmx && request.method !== 'GET') {
      // A form sent: the message where the page shows messages, the form left as it was, to send again.
      response.setHeader('HX-Retarget', '#flash');
      response.setHeader('HX-Reswap', 'innerHTML');
      views.send(response, 503, views.render('partials/flash', { flash: { kind: 'error', message } }, request));
      return;
    }
    // A part of a page (a live panel polling, a search): the whole page is reloaded, and is the starting page until the
    // server is ready, rather than a stale panel under a message that outlives the start.
    if (isHtmx && wantsFragment(request)) response.setHeader('HX-Refresh', 'true');
    // An htmx navigation: the browser loads the page whole, where the starting page reloads itself. Only to a path
    // of this server: `//host/…` (or `/\host`) would send the browser elsewhere.
    else if (isHtmx) response.setHeader('HX-Redirect', /^\/(?![/\\])/.test(request.originalUrl) ? request.originalUrl : '/');
    const detail = startingDetail(progress);
    views.send(response, 503, views.render('pages/starting', { detail, progress, retryAfterSeconds: STARTING_RETRY_AFTER_SECONDS }, request));
  }
}

/** What a starting server says it is doing, for people (health, API errors, the flash of a page). */
export function startingMessage(progress: BuildProgress | null): string {
  return `EnderCompute is starting${progress ? `: ${buildText(progress)}` : ''}; try again in a moment`;
}

/** What the starting page says under its title. */
function startingDetail(progress: BuildProgress | null): string {
  if (!progress) return 'It is catching up with the event log and recovering the runs of its last stop.';
  const text = buildText(progress);
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function buildText({ applied, percent, stage }: BuildProgress): string {
  const events = `${applied.toLocaleString('en-US')} events`;
  return stage === 'indexing'
    ? `it has applied the event log (${events}) and is building the indexes of its read models`
    : `it is building its read models from the event log, ${percent}% done (${events} applied)`;
}
