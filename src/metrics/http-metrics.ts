import type { NextFunction, Request, Response } from 'express';
import type { Metrics } from './metrics';

/**
 * Express middleware timing every request into `endercompute_http_request_duration_seconds`.
 * The route label is the matched route's pattern (`/api/runs/:id`), never the path a
 * client sent: paths are unbounded, patterns are few.
 */
export function httpMetrics(metrics: Metrics): (request: Request, response: Response, next: NextFunction) => void {
  return (request, response, next) => {
    const stop = metrics.httpSeconds.startTimer();
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      const route = request.route ? `${request.baseUrl}${String(request.route.path)}` : 'unmatched';
      stop({ method: request.method, route, status_class: `${Math.floor(response.statusCode / 100)}xx` });
    };
    response.once('finish', end);
    response.once('close', end);
    next();
  };
}
