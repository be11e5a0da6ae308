import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { KeyService } from '../auth/key-service';
import { HttpErrorFilter } from '../http/http-exception.filter';
import { PageAuthError } from './page-errors';
import { ViewRenderer, wantsFragment } from './view-renderer';

const TITLES: Record<number, string> = {
  400: 'That request could not be used',
  401: 'You are not authenticated',
  404: 'Not found',
  409: 'That cannot be done now',
  413: 'Too large',
  503: 'Unavailable for a moment',
  507: 'The server\'s disk is full',
};

/**
 * Errors of page requests become HTML, never JSON: the key form when the key is
 * missing or refused; otherwise a message in the page's flash area for htmx
 * requests, or a full error page for a page load. Statuses and messages are the
 * API's (one mapping, {@link HttpErrorFilter.toBody}); server faults show a
 * generic message and are logged there.
 */
@Catch()
@Injectable()
export class PageExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('PageError');
  private readonly api = new HttpErrorFilter();

  constructor(
    private readonly views: ViewRenderer,
    private readonly keys: KeyService,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const request = host.switchToHttp().getRequest<Request>();
    const response = host.switchToHttp().getResponse<Response>();
    if (response.headersSent) {
      response.end();
      return;
    }
    try {
      if (exception instanceof PageAuthError) return this.keyForm(request, response, exception);
      this.problem(request, response, exception);
    } catch (renderError) {
      // A template fault must still answer something readable and safe.
      this.logger.error(renderError instanceof Error ? (renderError.stack ?? renderError.message) : String(renderError));
      response.status(500).type('text/plain').send('Something went wrong on the server; nothing was changed by this request');
    }
  }

  /** The application shell with the key form: 200 for a plain page load, 401/400 when a key or name was refused. */
  private keyForm(request: Request, response: Response, error: PageAuthError): void {
    const status = error.reason === 'missing' ? 200 : error.reason === 'rejected' ? 401 : 400;
    if (request.headers['hx-request'] === 'true') {
      // Whatever part of the page asked, the whole page becomes the key form.
      response.setHeader('HX-Retarget', 'body');
      response.setHeader('HX-Reswap', 'innerHTML');
    }
    const message = error.reason === 'missing' ? null : error.message;
    // A refused key is most often last week's: say why, and where the current one is (the API's 401 stays as documented).
    const keyHelp = error.reason === 'rejected' ? (this.keys.isGenerated ? 'generated' : 'fixed') : null;
    this.views.send(response, status, this.views.render('pages/shell', { title: 'Welcome', nav: null, keyMessage: message, keyHelp }, request));
  }

  private problem(request: Request, response: Response, exception: unknown): void {
    const body = this.api.toBody(exception);
    const status = body.statusCode;
    // Server faults get a generic message, except those whose message is written for people: a full disk (507),
    // and what is unavailable and why (503: a damaged log, read models stopped on an event they cannot apply).
    const message = status >= 500 && status !== 507 && status !== 503 ? 'Something went wrong on the server; nothing was changed by this request' : body.message;
    const details = body.problems && body.problems.length > 1 ? body.problems : undefined;
    const flash = { kind: 'error' as const, message, ...(details ? { details } : {}) };
    const isHtmx = request.headers['hx-request'] === 'true';
    if (isHtmx && (wantsFragment(request) || request.method !== 'GET')) {
      this.views.fragment(request, response, 'partials/flash', { flash }, { status, retarget: '#flash', reswap: 'innerHTML' });
      return;
    }
    if (isHtmx) {
      response.setHeader('HX-Retarget', 'body');
      response.setHeader('HX-Reswap', 'innerHTML show:top');
    }
    const title = TITLES[status] ?? (exception instanceof HttpException ? exception.message : 'Something went wrong');
    this.views.send(response, status, this.views.render('pages/error', { title, nav: null, status, message, details: details ?? [] }, request));
  }
}
