import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Public } from '../auth/auth.guard';
import { AppConfig } from '../config/app-config';
import { EventStore, type StoreKind } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';
import { WithoutReadModels } from '../projections/read-models.guard';
import { RunSandbox } from '../runs/execution/run-sandbox';

export interface Health {
  status: 'ok' | 'unavailable';
  store: StoreKind;
  /** How runs are isolated: `bwrap` (a sandbox each) or `none` (they can reach the server). */
  sandbox: 'bwrap' | 'none';
  version: string;
  message?: string;
}

/**
 * `GET /api/health`: no key needed; 503 when the store does not answer, or when the read
 * models stopped (the message names the event they could not apply).
 */
@Controller('api/health')
export class HealthController {
  constructor(
    private readonly store: EventStore,
    private readonly config: AppConfig,
    private readonly sandbox: RunSandbox,
    private readonly projections: ProjectionEngine,
  ) {}

  @Get()
  @Public()
  @WithoutReadModels()
  async health(@Res({ passthrough: true }) response: Response): Promise<Health> {
    const base = { store: this.store.kind, sandbox: this.sandbox.kind, version: this.config.version };
    const stopped = this.projections.stoppedBecause;
    if (stopped) {
      response.status(503);
      return { status: 'unavailable', ...base, message: stopped.message };
    }
    try {
      await this.store.ping();
      return { status: 'ok', ...base };
    } catch {
      response.status(503);
      return { status: 'unavailable', ...base, message: 'The event store does not answer' };
    }
  }
}
