import { timingSafeEqual } from 'node:crypto';
import { type CanActivate, Controller, type ExecutionContext, Get, Injectable, Res, UnauthorizedException, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { Authenticator, NOT_AUTHENTICATED, Public } from '../auth/auth.guard';
import type { AuthenticatedRequest } from '../auth/request-context';
import { AppConfig } from '../config/app-config';
import { Metrics } from './metrics';

/**
 * Who may scrape: a request with the server's key (shared or named) or, when
 * `ENDERCOMPUTE_METRICS_TOKEN` is set, with that token, both as `Authorization: Bearer …`;
 * 401 otherwise. A guard, not a check in the handler, so that it comes before the
 * request's shape is checked (a stray query parameter is a 401 to a stranger, as on
 * every other route, not a 400 that answers before the key was looked at).
 */
@Injectable()
export class MetricsScraperGuard implements CanActivate {
  constructor(
    private readonly authenticator: Authenticator,
    private readonly config: AppConfig,
  ) {}

  canActivate(execution: ExecutionContext): boolean {
    const request = execution.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = this.config.metricsToken;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (token !== null && match && sameText(match[1], token)) return true;
    const context = this.authenticator.authenticate(request);
    if (!context) throw new UnauthorizedException(NOT_AUTHENTICATED);
    request.commandContext = context;
    return true;
  }
}

/**
 * `GET /metrics`: Prometheus' text format, to a scraper (see {@link MetricsScraperGuard}).
 * The token opens this route only: the auth guard of every other route knows nothing of it.
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get()
  @Public()
  @UseGuards(MetricsScraperGuard)
  async scrape(@Res() response: Response): Promise<void> {
    const text = await this.metrics.text();
    response.status(200).type(this.metrics.contentType).send(text);
  }
}

/** Constant-time comparison, so the time of a refusal says nothing of how much of the token was right. */
function sameText(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
