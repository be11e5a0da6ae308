import { Get, Param, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RunsReadModel, type RunRecord } from '../runs/runs.read-model';
import { NotFoundError, UnavailableError, ValidationError } from '../shared/domain-errors';
import { wholeNumberFromText } from '../shared/whole-number';
import { PageController } from '../web/page-auth';
import { ViewRenderer } from '../web/view-renderer';
import { LiveOutputHub } from './live-output.hub';
import { heartbeatSeconds } from './output-stream.controller';
import { earlierControl, windowHtml } from './output-html';
import { refuseExpiredOutput } from '../runs/runs.controller';
import { OutputView } from './output-view';
import { PageOutputStream } from './page-output-stream';
import { resumeOffset, SseConnection } from './sse-connection';

/** The run page's output endpoints: its live stream (htmx SSE) and "load earlier". */
@PageController('runs')
export class OutputPagesController {
  constructor(
    private readonly runs: RunsReadModel,
    private readonly hub: LiveOutputHub,
    private readonly stream: PageOutputStream,
    private readonly view: OutputView,
    private readonly views: ViewRenderer,
  ) {}

  /** `?from=` the line start the page's output ends in (a reconnection's `Last-Event-ID` wins); `?state=` what the page shows of the run. */
  @Get(':id/output/live')
  async live(
    @Param('id') id: string,
    @Query('from') fromQuery: unknown,
    @Query('state') stateQuery: unknown,
    @Query('heartbeat') heartbeatQuery: unknown,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const run = this.require(id);
    const from = resumeOffset(request, fromQuery);
    if (from === 'invalid') throw new ValidationError(['from: must be a byte offset']);
    const heartbeatMs = heartbeatSeconds(heartbeatQuery) * 1000;
    if (this.hub.isStopping) throw new UnavailableError('The server is stopping; reconnect in a moment');
    if (stateQuery !== undefined && typeof stateQuery !== 'string') throw new ValidationError(['state: give it once']);
    const state = typeof stateQuery === 'string' ? stateQuery : this.stream.pageState(run);
    const connection = new SseConnection(response, heartbeatMs);
    await this.stream.serve(run.id, from ?? 0, state, connection);
  }

  /** The part of the output before byte `before`, for the page: its lines go in front, and the control moves back. */
  @Get(':id/output/earlier')
  async earlier(@Param('id') id: string, @Query('before') beforeQuery: unknown, @Res() response: Response): Promise<void> {
    const run = this.require(id);
    refuseExpiredOutput(run);
    const before = wholeNumberFromText(beforeQuery, { min: 0 });
    if (before === undefined) throw new ValidationError(['before: must be a byte offset']);
    const { from, html } = await this.view.earlier(run, before);
    const lines = html === '' ? '' : `<hx-partial hx-target="#output-lines" hx-swap="afterbegin">${html}</hx-partial>`;
    this.views.send(response, 200, earlierControl(run.id, from) + lines);
  }

  /**
   * The lines around line `line`, for a `#L<n>` link or a search match the
   * page does not show (a log shown from its tail): they go in the panel's
   * window, over the tail, until the person goes back to the end.
   */
  @Get(':id/output/around')
  async around(@Param('id') id: string, @Query('line') lineQuery: unknown, @Res() response: Response): Promise<void> {
    const run = this.require(id);
    refuseExpiredOutput(run);
    const line = wholeNumberFromText(lineQuery, { min: 1 });
    if (line === undefined) throw new ValidationError(['line: must be a line number (1 or more)']);
    const part = await this.view.around(run, line);
    this.views.send(response, 200, windowHtml(run, line, part));
  }

  private require(id: string): RunRecord {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`No run "${id}" exists`);
    return run;
  }
}
