import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Public } from '../auth/auth.guard';
import { AppConfig } from '../config/app-config';
import { EventStore, type StoreKind } from '../event-store/event-store.port';

export interface Health {
  status: 'ok' | 'unavailable';
  store: StoreKind;
  version: string;
  message?: string;
}

/** `GET /api/health`: no key needed; 503 when the store does not answer. */
@Controller('api/health')
export class HealthController {
  constructor(
    private readonly store: EventStore,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Public()
  async health(@Res({ passthrough: true }) response: Response): Promise<Health> {
    const base = { store: this.store.kind, version: this.config.version };
    try {
      await this.store.ping();
      return { status: 'ok', ...base };
    } catch {
      response.status(503);
      return { status: 'unavailable', ...base, message: 'The event store does not answer' };
    }
  }
}
