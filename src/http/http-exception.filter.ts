import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger, Optional } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError, ValidationError } from '../shared/domain-errors';
import { isDiskFull, storageFull } from '../shared/storage-full';
import { errorBody, type ErrorBody } from './error-body';

const STATUS_BY_CODE = { VALIDATION: 400, NOT_FOUND: 404, CONFLICT: 409, GONE: 410, TOO_LARGE: 413, UNAVAILABLE: 503, STORAGE_FULL: 507 } as const;

/**
 * Answers, as HTML, the errors of requests that are not API calls and reach
 * no page controller (a mistyped page URL); the web pages provide it. API
 * answers never go through it.
 */
export abstract class PageErrorPages {
  abstract handles(request: Request, exception: unknown): boolean;
  abstract render(exception: unknown, host: ArgumentsHost): void;
}

/**
 * The one place errors become HTTP answers. Domain errors map by code; Nest's
 * own exceptions keep their status; anything else is a 500 with a generic
 * message (the details go to the server log, never to the client).
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  constructor(@Optional() private readonly pages?: PageErrorPages) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    if (this.pages && !response.headersSent && this.pages.handles(host.switchToHttp().getRequest<Request>(), exception)) {
      this.pages.render(exception, host);
      return;
    }
    const body = this.toBody(exception);
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(body.statusCode).json(body);
  }

  toBody(exception: unknown): ErrorBody {
    // A check inside body parsing (JSON nested too deep) throws a domain error that express and Nest wrap.
    if (exception instanceof HttpException && exception.cause instanceof DomainError) exception = exception.cause;
    if (exception instanceof DomainError) {
      const problems = exception instanceof ValidationError ? exception.problems : undefined;
      return errorBody(STATUS_BY_CODE[exception.code], exception.message, problems);
    }
    // Nest wraps body-parser's errors (bad JSON, too large) with the original as the cause.
    const expressError = exception instanceof HttpException && exception.cause !== undefined ? exception.cause : exception;
    const status = statusOfExpressError(expressError);
    if (status !== null && typeof (expressError as { type?: unknown }).type === 'string') {
      return errorBody(status, messageOfExpressError(expressError, status));
    }
    // The router's own 400 for a path segment that is not valid percent-encoding (`/api/jobs/%ff`); its words name it.
    if (status === 400 && /^Failed to decode param /.test(String((expressError as { message?: unknown }).message))) {
      return errorBody(400, 'path: is not valid percent-encoded text');
    }
    if (exception instanceof HttpException) return fromHttpException(exception);
    if (status !== null) return errorBody(status, messageOfExpressError(exception, status));
    // A full disk anywhere (the log, a spool file, a work directory) is a 507 that says so.
    if (isDiskFull(exception)) {
      this.logger.warn(`The disk is full: ${exception instanceof Error ? exception.message : String(exception)}`);
      return this.toBody(storageFull(exception));
    }
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return errorBody(500, 'Something went wrong on the server; nothing was changed by this request');
  }
}

function fromHttpException(exception: HttpException): ErrorBody {
  const status = exception.getStatus();
  const response = exception.getResponse();
  if (typeof response === 'object' && response !== null && 'message' in response) {
    const message = (response as { message: unknown }).message;
    if (Array.isArray(message)) return errorBody(status, message.map(String).join('; '), message.map(String));
    if (typeof message === 'string') return errorBody(status, message);
  }
  return errorBody(status, typeof response === 'string' ? response : exception.message);
}

/** body-parser and multer errors carry an HTTP status of their own. */
function statusOfExpressError(exception: unknown): number | null {
  if (typeof exception !== 'object' || exception === null) return null;
  const status = (exception as { status?: unknown; statusCode?: unknown }).status ?? (exception as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : null;
}

function messageOfExpressError(exception: unknown, status: number): string {
  const type = (exception as { type?: unknown }).type;
  switch (type) {
    case 'entity.parse.failed':
      // body-parser takes only objects and arrays: `null` or `"x"` is valid JSON of the wrong shape.
      if (isJson((exception as { body?: unknown }).body)) return 'body: must be a JSON object';
      // JSON.parse says where it broke (`… at position 13`), quoting up to about 20 characters of the body:
      // they go back only to the client that sent them, and are never logged.
      return `body: is not valid JSON (${parserMessage(exception)})`;
    case 'entity.too.large':
      return tooLarge(exception);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return 'The request body has an unsupported encoding';
    default:
      return status === 413 ? tooLarge(exception) : 'The request could not be read';
  }
}

/** body-parser's 413: the limit it enforced, in bytes, when it says. */
function tooLarge(exception: unknown): string {
  const limit = (exception as { limit?: unknown }).limit;
  return typeof limit === 'number' ? `The request body is too large: at most ${limit} bytes are read` : 'The request body is too large';
}

/** What JSON.parse said of a body, kept short. */
function parserMessage(exception: unknown): string {
  const message = String((exception as { message?: unknown }).message ?? 'unreadable');
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

function isJson(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
