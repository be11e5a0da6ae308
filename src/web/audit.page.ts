import { Get, Query, Req, Res } from '@nestjs/common';
import { storedOutputLength } from '../runs/output-encoding';
import type { Request, Response } from 'express';
import { EventStore, type EventFilter, formatPosition, parsePosition, type RecordedEvent } from '../event-store/event-store.port';
import { jobStreamPrefixes } from '../audit/job-streams';
import { JobsReadModel } from '../jobs/jobs.read-model';
import { RunsReadModel } from '../runs/runs.read-model';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { text } from './forms/form-state';
import { ignoredFilters } from './forms/ignored-filters';
import { AuditFilters } from './forms/page-filters';
import { PageController } from './page-auth';
import { absoluteTime, bytes } from './view-helpers';
import { ViewRenderer } from './view-renderer';
import { nameKey } from '../shared/names';

const PAGE = 50;
/** Events examined per page at most, as in `/api/events`: a rare filter never reads the whole log at once. */
const SCAN_LIMIT = 20_000;
const READ_BATCH = 500;

/** Event types a person reads in the audit trail; output batches and file chunks are shown only on request. */
export const AUDIT_TYPES = [
  'ScriptCreated',
  'ScriptUpdated',
  'ScriptRemoved',
  'JobCreated',
  'JobUpdated',
  'JobFileAttached',
  'JobFileRemoved',
  'JobRemoved',
  'RunRequested',
  'RunClaimed',
  'RunStarted',
  'RunPaused',
  'RunResumed',
  'RunCancelRequested',
  'RunRescheduled',
  'RunFinished',
  'ScheduleFired',
  'BlobCompleted',
  'KeyRotated',
  'RunnerRegistered',
  'RunnerRevoked',
  'RunnerConnected',
  'RunnerDisconnected',
];
/** Shown only when asked for: many, or one a minute per runner (lease renewals). */
const BULK_TYPES = ['RunOutputAppended', 'BlobChunkStored', 'RunnerSeen'];

/** What the audit page's event menu calls each type. */
export const AUDIT_TYPE_LABELS: Record<string, string> = {
  ScriptCreated: 'Template created',
  ScriptUpdated: 'Template changed',
  ScriptRemoved: 'Template deleted',
  JobCreated: 'Job created',
  JobUpdated: 'Job changed',
  JobFileAttached: 'Input file attached',
  JobFileRemoved: 'Input file removed',
  JobRemoved: 'Job deleted',
  RunRequested: 'Run requested',
  RunClaimed: 'Run taken by a runner',
  RunStarted: 'Run started',
  RunPaused: 'Run paused',
  RunResumed: 'Run resumed',
  RunCancelRequested: 'Run cancel asked',
  RunRescheduled: 'Run re-timed',
  RunFinished: 'Run finished',
  ScheduleFired: 'Schedule fired',
  BlobCompleted: 'File stored',
  KeyRotated: 'Key renewed',
  RunnerRegistered: 'Job server registered',
  RunnerRevoked: 'Job server revoked',
  RunnerConnected: 'Runner connected',
  RunnerDisconnected: 'Runner went offline',
  RunOutputAppended: 'Run output (bulk)',
  BlobChunkStored: 'File chunk (bulk)',
  RunnerSeen: 'Runner still in contact (bulk)',
};

export interface AuditRow {
  position: string;
  at: string;
  actor: string;
  source: string;
  type: string;
  stream: string;
  summary: string;
  link: { href: string; label: string } | null;
  /** The event's data as JSON, bytes left out, cut to a readable length. */
  data: string;
}

/** `/audit`: the event log, newest first — who did what, when — with the filters of `/api/events`. */
@PageController('audit')
export class AuditPage {
  constructor(
    private readonly views: ViewRenderer,
    private readonly store: EventStore,
    private readonly jobs: JobsReadModel,
    private readonly scripts: ScriptsReadModel,
    private readonly runs: RunsReadModel,
  ) {}

  @Get()
  async show(@Query() filters: AuditFilters, @Req() request: Request, @Res() response: Response): Promise<void> {
    const query = filters as Record<string, unknown>;
    const typeText = text(query, 'type').trim();
    const type = /^[A-Za-z0-9_]{1,60}$/.test(typeText) ? typeText : undefined;
    const actor = text(query, 'actor').trim().slice(0, 64);
    const jobText = text(query, 'job').trim().slice(0, 100);
    const all = text(query, 'all') === '1';
    const beforeText = text(query, 'before');
    const before = parsePosition(beforeText) ?? undefined;
    // A removed job's id too: its events stay.
    const jobId = jobText ? this.jobs.historyId(jobText) : undefined;

    const filter: EventFilter = {};
    if (type !== undefined) filter.eventTypes = [type];
    else if (!all) filter.eventTypes = AUDIT_TYPES;
    if (jobId !== undefined) filter.streamPrefixes = jobStreamPrefixes(jobId);

    const rows: AuditRow[] = [];
    let cursor = before;
    let scanned = 0;
    let exhausted = jobText !== '' && jobId === undefined;
    while (!exhausted && rows.length < PAGE && scanned < SCAN_LIMIT) {
      const batch = await this.store.readAll({ after: cursor, direction: 'backwards', maxCount: READ_BATCH, filter });
      for (const event of batch) {
        scanned++;
        cursor = event.position;
        if (actor && nameKey(event.metadata.actor) !== nameKey(actor)) continue;
        if (this.runs.isExpiredOutput(event)) continue;
        rows.push(this.row(event));
        if (rows.length === PAGE) break;
      }
      if (batch.length < READ_BATCH && rows.length < PAGE) exhausted = true;
    }
    const next = !exhausted && cursor ? formatPosition(cursor) : null;
    this.views.respond(request, response, {
      template: 'pages/audit',
      fragment: 'partials/audit-results',
      title: 'Audit trail',
      nav: 'audit',
      data: {
        rows,
        next,
        filter: { type: type ?? '', actor, job: jobText, all },
        unknownJob: jobText !== '' && jobId === undefined,
        ignored: ignoredFilters({ type: [typeText, type], before: [beforeText, before] }),
        types: [...AUDIT_TYPES, ...BULK_TYPES],
        typeLabels: AUDIT_TYPE_LABELS,
        filtered: Boolean(type || actor || jobText || before),
      },
    });
  }

  private row(event: RecordedEvent): AuditRow {
    const { summary, link } = this.describe(event);
    return {
      position: formatPosition(event.position),
      at: event.metadata.at,
      actor: event.metadata.actor,
      source: event.metadata.source,
      type: event.type,
      stream: event.stream,
      summary,
      link,
      data: dataText(event),
    };
  }

  /** A sentence for an event and a link to what it is about. */
  private describe(event: RecordedEvent): { summary: string; link: AuditRow['link'] } {
    const data = (event.data ?? {}) as Record<string, unknown>;
    const str = (key: string): string => (typeof data[key] === 'string' ? (data[key] as string) : '');
    // A restore is recorded as ordinary changes whose metadata names the version restored.
    const restoring = typeof event.metadata.restoredFrom === 'number' ? `Restoring version ${event.metadata.restoredFrom}: ` : '';
    const changed = (): string =>
      Object.keys(data)
        .filter((key) => !key.endsWith('Id'))
        .join(', ');
    const scriptLink = (id: string): AuditRow['link'] => {
      const script = this.scripts.get(id);
      return script ? { href: `/scripts/${id}`, label: script.name } : null;
    };
    const jobLink = (id: string): AuditRow['link'] => {
      const job = this.jobs.get(id);
      return job ? { href: `/jobs/${id}`, label: job.name } : null;
    };
    const runLink = (id: string): AuditRow['link'] => {
      const run = this.runs.get(id);
      return run ? { href: `/runs/${id}`, label: `${run.jobName} #${run.number}` } : null;
    };
    /** "Created job" with a link to it, or "Created job “x”" when it is gone. */
    const about = (text: string, name: string, link: AuditRow['link']): { summary: string; link: AuditRow['link'] } =>
      link ? { summary: text, link } : { summary: name ? `${text} “${name}”` : text, link: null };
    switch (event.type) {
      case 'ScriptCreated':
        return about('Created script template', str('name'), scriptLink(str('scriptId')));
      case 'ScriptUpdated':
        return about(`${restoring}Changed ${changed() || 'nothing'} of script template`, '', scriptLink(str('scriptId')));
      case 'ScriptRemoved':
        return { summary: 'Deleted a script template', link: null };
      case 'JobCreated':
        return about('Created job', str('name'), jobLink(str('jobId')));
      case 'JobUpdated':
        return about(`${restoring}Changed ${changed() || 'nothing'} of job`, '', jobLink(str('jobId')));
      case 'JobFileAttached': {
        const file = (data.file ?? {}) as { name?: string; size?: number };
        return about(`${restoring}Attached “${file.name ?? '?'}” (${bytes(file.size ?? 0)}) to job`, '', jobLink(str('jobId')));
      }
      case 'JobFileRemoved':
        return about(`${restoring}Removed “${str('name')}” from job`, '', jobLink(str('jobId')));
      case 'JobRemoved':
        return { summary: 'Deleted a job', link: null };
      case 'RunRequested': {
        const scheduled = str('scheduledFor');
        const trigger = (data.trigger ?? null) as { cron?: string; timeZone?: string } | null;
        const what = `${str('jobName')} #${String(data.number)}`;
        if (trigger && trigger.cron) return about(`Requested by the schedule “${trigger.cron}” (${trigger.timeZone ?? 'UTC'}):`, what, runLink(str('runId')));
        const rerunOf = str('rerunOf');
        if (rerunOf) return about(`Re-ran #${rerunOf.replace(/^.*-/, '')} with the same inputs as`, what, runLink(str('runId')));
        return about(scheduled ? `Scheduled for ${absoluteTime(scheduled)}:` : 'Requested', what, runLink(str('runId')));
      }
      case 'RunCancelRequested':
        return about('Asked to cancel', '', runLink(str('runId')));
      case 'RunPaused':
        return about('Paused', '', runLink(str('runId')));
      case 'RunResumed':
        return about('Resumed', '', runLink(str('runId')));
      case 'RunRescheduled': {
        const at = str('scheduledFor');
        return about(at ? `Re-timed to start at ${absoluteTime(at)}:` : 'Asked to start now:', '', runLink(str('runId')));
      }
      case 'ScheduleFired':
        return about(`The schedule “${str('cron')}” (${str('timeZone') || 'UTC'}) fired for ${absoluteTime(str('slot'))}: job`, '', jobLink(str('jobId')));
      case 'RunClaimed':
        return about(`Runner ${str('runner')} took`, '', runLink(str('runId')));
      case 'RunStarted':
        return about(`Started process ${String(data.pid)} for`, '', runLink(str('runId')));
      case 'RunOutputAppended':
        return about(`${bytes(storedOutputLength({ offset: 0, data: str('data'), length: typeof data.length === 'number' ? data.length : undefined }))} of output from`, '', runLink(str('runId')));
      case 'RunFinished': {
        const detail = data.signal ? `signal ${String(data.signal)}` : data.exitCode !== null && data.exitCode !== undefined ? `exit ${String(data.exitCode)}` : '';
        return about(`Finished ${str('status').replace('_', ' ')}${detail ? ` (${detail})` : ''}:`, '', runLink(str('runId')));
      }
      case 'BlobCompleted':
        return { summary: `Stored a file (${bytes(typeof data.size === 'number' ? data.size : 0)})`, link: null };
      case 'BlobChunkStored':
        return { summary: `Stored part ${String(data.index)} of a file`, link: null };
      case 'RunnerRegistered':
        return { summary: `Registered the job server “${str('name')}”`, link: { href: '/runners', label: 'Runners' } };
      case 'RunnerRevoked':
        return { summary: `Revoked the job server “${str('name')}”`, link: { href: '/runners', label: 'Runners' } };
      case 'RunnerConnected': {
        const labels = Array.isArray(data.labels) && data.labels.length > 0 ? `labels ${data.labels.join(', ')}` : 'no labels';
        return { summary: `Runner “${str('name')}” connected (${labels}; version ${str('softwareVersion')})`, link: null };
      }
      case 'RunnerDisconnected': {
        const why: Record<string, string> = { goodbye: 'it said goodbye', 'timed out': 'nothing was heard from it for too long', revoked: 'it was revoked' };
        return { summary: `Runner “${str('name')}” went offline: ${why[str('reason')] ?? str('reason')}`, link: null };
      }
      case 'RunnerSeen':
        return { summary: `Runner “${str('name')}” is still in contact`, link: null };
      case 'KeyRotated':
        return { summary: `The shared key was ${str('reason') || 'renewed'} (fingerprint ${str('fingerprint')})`, link: null };
      default:
        return {
          summary: event.type.replace(/([a-z])([A-Z])/g, '$1 $2'),
          link: runLink(str('runId')) ?? jobLink(str('jobId')) ?? scriptLink(str('scriptId')),
        };
    }
  }
}

/** The event's data for the details view: base64 payloads replaced by their size, long text cut. */
function dataText(event: RecordedEvent): string {
  let data = event.data;
  if (BULK_TYPES.includes(event.type) && typeof data === 'object' && data !== null) {
    const payload = (data as { data?: unknown }).data;
    const length = (data as { length?: unknown }).length;
    if (typeof payload === 'string') data = { ...(data as object), data: `(${bytes(typeof length === 'number' ? length : Buffer.byteLength(payload, 'base64'))})` };
  }
  const json = JSON.stringify(data, null, 2) ?? '';
  return json.length > 4000 ? `${json.slice(0, 4000)}\n…` : json;
}
