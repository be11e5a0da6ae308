import { Controller, Get, Query, Req, Res, UnauthorizedException } from '@nestjs/common';
import type { Response } from 'express';
import { Authenticator, NOT_AUTHENTICATED, Public } from '../auth/auth.guard';
import type { AuthenticatedRequest } from '../auth/request-context';
import { AppConfig } from '../config/app-config';
import { EventStore, type StoreKind } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';
import { WithoutReadModels } from '../projections/read-models.guard';
import { RunSandbox } from '../runs/execution/run-sandbox';
import { QueryParam } from '../openapi/api-docs.decorators';
import { ValidationError } from '../shared/domain-errors';
import { type HealthDetails, HealthDetailsReader } from './health-details';

export interface Health {
  status: 'ok' | 'unavailable';
  store: StoreKind;
  /** How runs are isolated: `bwrap` (a sandbox each) or `none` (they can reach the server). */
  sandbox: 'bwrap' | 'none';
  version: string;
  message?: string;
  /** Only with `?details=1` and the key. */
  details?: HealthDetails;
}

/**
 * `GET /api/health`: no key needed; 503 when the store does not answer, or when the read
 * models stopped (the message names the event they could not apply).
 * `?details=1` (or `true`) adds {@link HealthDetails}, to a request with the key only (401 without).
 */
@Controller('api/health')
export class HealthController {
  constructor(
    private readonly store: EventStore,
    private readonly config: AppConfig,
    private readonly sandbox: RunSandbox,
    private readonly projections: ProjectionEngine,
    private readonly authenticator: Authenticator,
    private readonly details: HealthDetailsReader,
  ) {}

  @Get()
  @Public()
  @WithoutReadModels()
  @QueryParam('details', 'string', '`1` or `true` adds projection lag, disk space, job servers and the key\'s next renewal (needs the key)')
  async health(@Req() request: AuthenticatedRequest, @Res({ passthrough: true }) response: Response, @Query('details') details?: string): Promise<Health> {
    const withDetails = this.wantsDetails(details);
    if (withDetails) {
      const context = this.authenticator.authenticate(request);
      if (!context) throw new UnauthorizedException(NOT_AUTHENTICATED);
      request.commandContext = context;
    }
    const base = { store: this.store.kind, sandbox: this.sandbox.kind, version: this.config.version };
    const stopped = this.projections.stoppedBecause;
    if (stopped) {
      response.status(503);
      return { status: 'unavailable', ...base, message: stopped.message };
    }
    try {
      await this.store.ping();
    } catch {
      response.status(503);
      return { status: 'unavailable', ...base, message: 'The event store does not answer' };
    }
    return { status: 'ok', ...base, ...(withDetails ? { details: await this.details.read() } : {}) };
  }

  /** `details`: absent, `0`/`false` (no details) or `1`/`true`; anything else is a 400 naming the choices. */
  private wantsDetails(details: string | undefined): boolean {
    if (details === undefined || details === '0' || details === 'false') return false;
    if (details === '1' || details === 'true') return true;
    throw new ValidationError(['details: must be 1 or true (or 0, false)']);
  }
}
