import { Controller, Get, Headers, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiHeader, ApiProduces } from '@nestjs/swagger';
import { sendAll } from '../http/send-all';
import { decodeOutput, storedOutputLength, type StoredOutputData } from '../runs/output-encoding';
import { IsBoolean, IsString, Matches, MaxLength } from 'class-validator';
import { EventStore, type EventFilter, formatPosition, parsePosition, type RecordedEvent } from '../event-store/event-store.port';
import { BooleanText, Optional, WholeNumber, WholeNumberText } from '../http/validation';
import { EVENTS_PAGE } from '../shared/whole-number';
import { ValidationError } from '../shared/domain-errors';
import { JobQueries } from '../jobs/job.view';
import { jobStreamPrefixes } from './job-streams';
import { RunsReadModel } from '../runs/runs.read-model';

const NDJSON = 'application/x-ndjson';
/** Events examined per request at most, so a rare filter cannot make one request read the whole log. */
const SCAN_LIMIT = 20_000;
const PAGE = 500;
/**
 * Events the NDJSON export reads at a time at most. Small on purpose: what is alive when
 * V8 collects its young generation (the page being written) is moved to the old one, which
 * is only collected once it has grown by up to 4× its live size. With pages of 500 events
 * the server's RSS rose by 120 MiB over a 100,000-event export; with 100 it rises by about
 * 18 MiB, as fast, and a second export adds nothing (measured, issue 14).
 */
const EXPORT_PAGE = 100;
/**
 * Raw bytes one answer with `includeBytes=true` carries at most (an output event holds up
 * to 4 MiB): past it the answer ends early, with a `next` cursor, like a rare filter's.
 */
export const INCLUDED_BYTES_PER_ANSWER = 16 * 1024 * 1024;

export class ListEventsQuery {
  @Optional() @IsString() @MaxLength(200) stream?: string;
  @Optional() @IsString() @Matches(/^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$/, { message: 'type must be event types separated by commas' }) type?: string;
  @Optional() @IsString() @MaxLength(64) actor?: string;
  @Optional() @IsString() @MaxLength(100) jobId?: string;
  @Optional() @IsString() @Matches(/^\d{1,20}(\.\d{1,20})?$/, { message: 'after must be a position from an earlier answer' }) after?: string;
  @Optional() @WholeNumberText() @WholeNumber(EVENTS_PAGE) limit?: number;
  /** Output and file bytes are left out unless asked for: they can be megabytes. */
  @Optional() @BooleanText() @IsBoolean() includeBytes?: boolean;
}

export interface AuditEvent {
  position: string;
  stream: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: RecordedEvent['metadata'];
}

/** `/api/events`: the log itself, oldest first — who did what, when. */
@Controller('api/events')
export class EventsController {
  constructor(
    private readonly store: EventStore,
    private readonly jobs: JobQueries,
    private readonly runs: RunsReadModel,
  ) {}

  /**
   * JSON: a page of at most `limit` events and a `next` cursor. With `Accept:
   * application/x-ndjson`: every matching event after `after`, one JSON object a line,
   * streamed as fast as the client takes it (see {@link exportLines}).
   */
  @Get()
  @ApiProduces('application/json', NDJSON)
  @ApiHeader({ name: 'Accept', required: false, description: '`application/x-ndjson`: the whole filtered log after `after`, one event a line, streamed (no `limit`)' })
  async list(@Query() query: ListEventsQuery, @Headers('accept') accept: string | undefined, @Res() response: Response): Promise<void> {
    if (wantsNdjson(accept)) {
      if (query.limit !== undefined) throw new ValidationError(['limit: the NDJSON export sends every matching event: leave limit out (or ask for JSON pages)']);
      const lines = this.exportLines(query);
      // The filter is checked (an unknown jobId is a 404) before the status goes out.
      const first = await lines.next();
      response.status(200).setHeader('Content-Type', NDJSON);
      response.setHeader('Cache-Control', 'no-store');
      await sendAll(response, prepend(first, lines));
      return;
    }
    response.status(200).json(await this.page(query));
  }

  /**
   * The NDJSON export: the log read a page at a time from `after`, each page's matching
   * events written as lines and handed to `sendAll`, which waits for the client to drain
   * them before the next page is read. Memory holds one page of at most
   * {@link EXPORT_PAGE} events, fewer when the events are large (output with
   * `includeBytes`), so that a page stays near {@link EXPORT_PAGE_BYTES} of payload.
   * No limit and no scan cap: it ends at the log's end.
   */
  async *exportLines(query: ListEventsQuery): AsyncGenerator<Buffer> {
    const filter = this.filterOf(query);
    let after = query.after !== undefined ? parsePosition(query.after) ?? undefined : undefined;
    let count = EXPORT_PAGE;
    for (;;) {
      const page = await this.store.readAll({ after, maxCount: count, filter });
      if (page.length === 0) return;
      const lines: string[] = [];
      let bytes = 0;
      for (const event of page) {
        after = event.position;
        bytes += payloadBytes(event);
        if (!this.passes(event, query)) continue;
        lines.push(JSON.stringify(toAuditEvent(event, query.includeBytes === true)));
      }
      if (lines.length > 0) yield Buffer.from(`${lines.join('\n')}\n`);
      if (page.length < count) return;
      // Aim the next read at EXPORT_PAGE_BYTES of payload, from what this one held.
      count = bytes === 0 ? EXPORT_PAGE : Math.max(1, Math.min(EXPORT_PAGE, Math.floor((page.length * EXPORT_PAGE_BYTES) / bytes)));
    }
  }

  /** Events a JSON answer may show beyond the store's filter: the exact stream, the actor, output not expired. */
  private passes(event: RecordedEvent, query: ListEventsQuery): boolean {
    if (query.stream !== undefined && event.stream !== query.stream) return false;
    if (this.runs.isExpiredOutput(event)) return false;
    // Actors are stored in NFC (older events may not be): compare in NFC.
    if (query.actor !== undefined && event.metadata.actor.normalize('NFC') !== query.actor.normalize('NFC')) return false;
    return true;
  }

  private filterOf(query: ListEventsQuery): EventFilter {
    const streams = this.streamPrefixes(query);
    return { ...(streams ? { streamPrefixes: streams } : {}), ...(query.type ? { eventTypes: query.type.split(',') } : {}) };
  }

  private async page(query: ListEventsQuery): Promise<{ items: AuditEvent[]; next: string | null }> {
    const limit = query.limit ?? 100;
    const filter = this.filterOf(query);
    let after = query.after !== undefined ? parsePosition(query.after) ?? undefined : undefined;
    const items: AuditEvent[] = [];
    let scanned = 0;
    let includedBytes = 0;
    while (items.length < limit && scanned < SCAN_LIMIT && includedBytes < INCLUDED_BYTES_PER_ANSWER) {
      const page = await this.store.readAll({ after, maxCount: PAGE, filter });
      if (page.length === 0) return { items, next: null };
      for (const event of page) {
        scanned++;
        after = event.position;
        if (!this.passes(event, query)) continue;
        items.push(toAuditEvent(event, query.includeBytes === true));
        if (query.includeBytes === true) includedBytes += payloadBytes(event);
        if (items.length === limit || includedBytes >= INCLUDED_BYTES_PER_ANSWER) break;
      }
      if (page.length < PAGE && items.length < limit && includedBytes < INCLUDED_BYTES_PER_ANSWER) return { items, next: null };
    }
    return { items, next: after ? formatPosition(after) : null };
  }

  private streamPrefixes(query: ListEventsQuery): string[] | undefined {
    if (query.jobId !== undefined) {
      if (query.stream !== undefined) throw new ValidationError(['jobId: give either stream or jobId, not both']);
      // A removed job's id too: its events stay in the log.
      return jobStreamPrefixes(this.jobs.requireIdForHistory(query.jobId));
    }
    return query.stream !== undefined ? [query.stream] : undefined;
  }
}

/** Payload bytes the NDJSON export aims to read from the log at a time. */
const EXPORT_PAGE_BYTES = 8 * 1024 * 1024;

/** Whether the client asked for NDJSON (`Accept: application/x-ndjson`, not refused with `q=0`). */
function wantsNdjson(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((part) => {
    const [type, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    return type === NDJSON && !params.some((p) => /^q=0(\.0*)?$/.test(p));
  });
}

/** An iterator's first result put back in front of the rest. */
async function* prepend(first: IteratorResult<Buffer>, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  if (first.done) return;
  yield first.value;
  yield* rest;
}

/** The raw bytes an event's payload stands for (output or file bytes), 0 for other events. */
function payloadBytes(event: RecordedEvent): number {
  if (event.type === 'RunOutputAppended' && isOutputData(event.data)) return storedOutputLength(event.data);
  const data = event.data as { data?: unknown } | null;
  if (event.type === 'BlobChunkStored' && typeof data?.data === 'string') return Buffer.byteLength(data.data, 'base64');
  return 0;
}

function toAuditEvent(event: RecordedEvent, includeBytes: boolean): AuditEvent {
  return {
    position: formatPosition(event.position),
    stream: event.stream,
    revision: Number(event.revision),
    type: event.type,
    data: includeBytes ? withRawBytes(event) : withoutBytes(event),
    metadata: event.metadata,
  };
}

/**
 * Output events as documented whatever their stored form: `data` is the raw bytes in
 * base64 (a compressed batch is inflated; how it was stored is the log's business).
 */
function withRawBytes(event: RecordedEvent): unknown {
  if (event.type !== 'RunOutputAppended' || !isOutputData(event.data) || event.data.encoding === undefined) return event.data;
  const { encoding: _encoding, ...rest } = event.data;
  return { ...rest, data: decodeOutput(event.data).toString('base64') };
}

/** Replaces base64 payloads with their size. */
function withoutBytes(event: RecordedEvent): unknown {
  if (event.type === 'RunOutputAppended' && isOutputData(event.data)) {
    const { encoding: _encoding, data: _data, ...rest } = event.data;
    return { ...rest, data: undefined, bytes: storedOutputLength(event.data) };
  }
  if (event.type === 'BlobChunkStored' && typeof event.data === 'object' && event.data !== null) {
    const data = event.data as { data?: unknown };
    if (typeof data.data === 'string') return { ...data, data: undefined, bytes: Buffer.byteLength(data.data, 'base64') };
  }
  return event.data;
}

function isOutputData(data: unknown): data is StoredOutputData {
  return typeof data === 'object' && data !== null && typeof (data as { data?: unknown }).data === 'string' && typeof (data as { offset?: unknown }).offset === 'number';
}
