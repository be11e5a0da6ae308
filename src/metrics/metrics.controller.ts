import { timingSafeEqual } from 'node:crypto';
import { Controller, Get, Req, Res, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Authenticator, NOT_AUTHENTICATED, Public } from '../auth/auth.guard';
import type { AuthenticatedRequest } from '../auth/request-context';
import { AppConfig } from '../config/app-config';
import { Metrics } from './metrics';

/**
 * `GET /metrics`: Prometheus' text format, to a request with the server's key (shared or
 * named) or, when `ENDERCOMPUTE_METRICS_TOKEN` is set, with that token, both as
 * `Authorization: Bearer …`. 401 otherwise. The token opens this route only: the auth
 * guard of every other route knows nothing of it.
 */
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: Metrics,
    private readonly authenticator: Authenticator,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Public()
  async scrape(@Req() request: Request, @Res() response: Response): Promise<void> {
    if (!this.isScraper(request)) throw new UnauthorizedException(NOT_AUTHENTICATED);
    const text = await this.metrics.text();
    response.status(200).type(this.metrics.contentType).send(text);
  }

  private isScraper(request: Request): boolean {
    const token = this.config.metricsToken;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (token !== null && match && sameText(match[1], token)) return true;
    const context = this.authenticator.authenticate(request as AuthenticatedRequest);
    if (context) (request as AuthenticatedRequest).commandContext = context;
    return context !== null;
  }
}

/** Constant-time comparison, so the time of a refusal says nothing of how much of the token was right. */
function sameText(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
