import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { type AuthenticatedRequest, correlationIdOf } from '../auth/request-context';

/** Longer paths are cut here: a log line stays a line. */
const MAX_PATH_CHARS = 300;
/**
 * The requests a job server holds open and repeats all day (asking for work, following
 * its runs): answered normally, they are `debug` lines, else an idle job server would fill
 * the log with them. Refused ones (4xx, 5xx) stay `info`.
 */
const ROUTINE_RUNNER_POLLS = new Set(['/api/runner/claim', '/api/runner/control']);

/**
 * Express middleware writing one `info` line per request (`debug` for a job server's
 * routine polls) when its answer is sent (or the client went away): method, path, status, response time in milliseconds, actor
 * (once the key was checked) and request id.
 *
 * What is left out on purpose: the query string (`?key=…`, `?token=…` can hold secrets,
 * so not even its parameter names are kept), every header, and bodies.
 *
 * The request id is the caller's `X-Request-Id` when it is a sane one, else a new one; it
 * is written back to the request so that the correlation id of the events the request
 * causes (see `correlationIdOf`) is the same id, and answered in `X-Request-Id`.
 */
export function requestLog(logger: Logger): (request: Request, response: Response, next: NextFunction) => void {
  const log = logger.child({ context: 'HTTP' });
  return (request, response, next) => {
    const started = process.hrtime.bigint();
    const requestId = correlationIdOf(request);
    request.headers['x-request-id'] = requestId;
    response.setHeader('X-Request-Id', requestId);
    // originalUrl, not path: a route mounted under a prefix would see only its part.
    const path = request.originalUrl.split('?')[0].slice(0, MAX_PATH_CHARS);
    let written = false;
    const write = (aborted: boolean): void => {
      if (written) return;
      written = true;
      const line: Record<string, unknown> = {
        requestId,
        method: request.method,
        path,
        status: response.statusCode,
        ms: Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100,
        actor: (request as AuthenticatedRequest).commandContext?.actor ?? null,
      };
      if (aborted) line.aborted = true;
      const routine = ROUTINE_RUNNER_POLLS.has(path) && response.statusCode < 400;
      if (routine) log.debug(line, `${request.method} ${path} ${response.statusCode}`);
      else log.info(line, `${request.method} ${path} ${response.statusCode}`);
    };
    response.once('finish', () => write(false));
    response.once('close', () => write(!response.writableFinished));
    next();
  };
}
