import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RunsReadModel } from '../runs/runs.read-model';
import { NotFoundError, UnavailableError, ValidationError } from '../shared/domain-errors';
import { wholeNumberFromText, wholeNumberWanted } from '../shared/whole-number';
import { ApiOutputStream } from './api-output-stream';
import { LiveOutputHub } from './live-output.hub';
import { DEFAULT_HEARTBEAT_MS, resumeOffset, SseConnection } from './sse-connection';
import { QueryParam } from '../openapi/api-docs.decorators';

/** `GET /api/runs/:id/output/stream`: a run's output live, then its end (see {@link ApiOutputStream}). */
@Controller('api/runs')
export class OutputStreamController {
  constructor(
    private readonly runs: RunsReadModel,
    private readonly hub: LiveOutputHub,
    private readonly streams: ApiOutputStream,
  ) {}

  /**
   * Resumes after the byte offset in `Last-Event-ID` (or `?offset=`); from the
   * start without either. `?heartbeat=` sets the seconds between heartbeats
   * (1–300, default 15).
   */
  @Get(':id/output/stream')
  @QueryParam('offset', 'integer', 'Start at this byte of the output (else at Last-Event-ID, else at 0)')
  @QueryParam('heartbeat', 'integer', 'Seconds between heartbeats, 1–300 (default 15)')
  async stream(
    @Param('id') id: string,
    @Query('offset') offsetQuery: unknown,
    @Query('heartbeat') heartbeatQuery: unknown,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`No run "${id}" exists`);
    const offset = resumeOffset(request, offsetQuery);
    if (offset === 'invalid') throw new ValidationError(['Last-Event-ID: must be a byte offset (a whole number) from an earlier event']);
    const heartbeatMs = heartbeatSeconds(heartbeatQuery) * 1000;
    if (this.hub.isStopping) throw new UnavailableError('The server is stopping; reconnect in a moment');
    const connection = new SseConnection(response, heartbeatMs);
    await this.streams.serve(run.id, offset ?? 0, connection);
  }
}

/** Seconds between heartbeats a client may ask for (`?heartbeat=`). */
const HEARTBEAT_SECONDS = { min: 1, max: 300, unit: 'seconds' };

export function heartbeatSeconds(raw: unknown): number {
  if (raw === undefined || raw === '') return DEFAULT_HEARTBEAT_MS / 1000;
  const value = wholeNumberFromText(raw, HEARTBEAT_SECONDS);
  if (value === undefined) throw new ValidationError([`heartbeat: must be ${wholeNumberWanted(HEARTBEAT_SECONDS)}`]);
  return value;
}
