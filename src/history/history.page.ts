import { Body, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Request, Response } from 'express';
import type { AuthenticatedRequest } from '../auth/request-context';
import { revisionFromForm } from '../http/etag';
import { ValidationError } from '../shared/domain-errors';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { contextOf } from '../web/jobs.page';
import { PageController } from '../web/page-auth';
import { type Flash, type PageSpec, ViewRenderer } from '../web/view-renderer';
import { changeViews, displayLines, fieldLabel, type ChangeView } from './diff-view';
import { JobHistory, ScriptHistory, type Content } from './histories';
import { versionNumber } from './history.controller';
import { RestoreJobVersionCommand, RestoreScriptVersionCommand } from './restore.handlers';
import type { FieldChange } from './versions';

/** How each interface is named on the pages (`metadata.source`). */
const SOURCES: Record<string, string> = { api: 'API', web: 'web page', cli: 'CLI', scheduler: 'scheduler', system: 'server', runner: 'runner' };
const EVENTS: Record<string, string> = {
  JobCreated: 'Created',
  JobUpdated: 'Edited',
  JobFileAttached: 'Input file attached',
  JobFileRemoved: 'Input file removed',
  JobRemoved: 'Deleted',
  ScriptCreated: 'Created',
  ScriptUpdated: 'Edited',
  ScriptRemoved: 'Deleted',
};

export const sourceLabel = (source: string): string => SOURCES[source] ?? source;

/** What a page shows of one version. */
interface VersionRow {
  version: number;
  at: string;
  actor: string;
  source: string;
  what: string;
  changes: ChangeView[];
}

/** A field of a version's content, as lines. */
interface FieldRow {
  label: string;
  lines: string[];
}

type Kind = 'job' | 'template';

/** Versions the History view shows at a time (each with its diff), newest first. */
const VERSIONS_PER_PAGE = 25;

/**
 * The pages of a job's or template's history: the History view (every version, newest
 * first, with who, when, through which interface, and a field-by-field diff), one
 * version in full with its Restore button, and the restore itself.
 */
abstract class HistoryPages {
  constructor(
    protected readonly views: ViewRenderer,
    protected readonly commands: CommandBus,
    protected readonly scripts: ScriptsReadModel,
  ) {}

  protected abstract readonly kind: Kind;
  protected abstract readonly base: string;
  protected abstract history(): JobHistory | ScriptHistory;
  protected abstract restoreCommand(id: string, version: number, expected: bigint | undefined, request: AuthenticatedRequest): RestoreJobVersionCommand | RestoreScriptVersionCommand;

  /**
   * The History view, newest first, {@link VERSIONS_PER_PAGE} versions a page: `before`
   * (a version number, from the "Older versions" link) shows those older than it.
   */
  async historyPage(idOrName: string, before?: string): Promise<PageSpec> {
    const newerThan = before === undefined ? undefined : versionNumber(before, 'before');
    const { id, items } = await this.history().changesets(idOrName);
    const current = items[items.length - 1];
    const older = items.filter((item) => newerThan === undefined || item.version < newerThan);
    const shown = older.slice(-VERSIONS_PER_PAGE);
    const rows: VersionRow[] = shown
      .map((item) => ({
        version: item.version,
        at: item.at,
        actor: item.actor,
        source: sourceLabel(item.source),
        what: item.restoredFrom !== null ? `Restored version ${item.restoredFrom}` : (EVENTS[item.event] ?? item.event),
        // A creation's `status: active` says nothing a person needs.
        changes: changeViews(this.readable(item.changes.filter((change) => !(change.field === 'status' && change.before === undefined)))),
      }))
      .reverse();
    return {
      template: 'pages/history',
      title: `History of ${current.content.name}`,
      nav: this.kind === 'job' ? 'jobs' : 'scripts',
      data: {
        kind: this.kind,
        id,
        name: current.content.name,
        removed: current.content.status === 'removed',
        base: `${this.base}/${id}`,
        list: this.base,
        rows,
        current: current.version,
        count: items.length,
        // Where the next page starts (the oldest version shown), when older ones remain.
        olderBefore: older.length > shown.length ? shown[0].version : null,
        paged: newerThan !== undefined,
      },
    };
  }

  async versionPage(idOrName: string, n: string, compareTo: string | undefined): Promise<PageSpec> {
    const { id, detail } = await this.history().version(idOrName, versionNumber(n, 'version'), compareTo === undefined ? undefined : versionNumber(compareTo, 'compareTo'));
    const fields: FieldRow[] = Object.entries(this.readableContent(detail.content)).map(([field, value]) => ({ label: fieldLabel(field), lines: displayLines(value) }));
    return {
      template: 'pages/version',
      title: `${detail.content.name}, version ${detail.version}`,
      nav: this.kind === 'job' ? 'jobs' : 'scripts',
      data: {
        kind: this.kind,
        id,
        base: `${this.base}/${id}`,
        list: this.base,
        v: { ...detail, source: sourceLabel(detail.source), what: detail.restoredFrom !== null ? `Restored version ${detail.restoredFrom}` : (EVENTS[detail.event] ?? detail.event) },
        fields,
        changes: changeViews(this.readable(detail.changes.filter((change) => !(change.field === 'status' && change.before === undefined)))),
        restorable: detail.version !== detail.current && detail.content.status === 'active',
      },
    };
  }

  async sincePage(idOrName: string, n: string): Promise<PageSpec> {
    const from = versionNumber(n, 'version');
    const { items } = await this.history().versions(idOrName);
    return this.versionPage(idOrName, String(items[items.length - 1].version), String(from));
  }

  async restore(idOrName: string, n: string, body: Record<string, unknown>, request: AuthenticatedRequest, response: Response): Promise<void> {
    const version = versionNumber(n, 'version');
    // The Restore button's form sends the version it was shown beside, nothing else: a stray field is refused, never ignored.
    const stray = Object.keys(body ?? {}).filter((key) => key !== 'version');
    if (stray.length > 0) throw new ValidationError([`${stray[0].slice(0, 40)}: the Restore button sends no field "${stray[0].slice(0, 40)}"${stray.length > 1 ? ` (and ${stray.length - 1} more)` : ''}`]);
    const { id, items } = await this.history().versions(idOrName);
    const before = items[items.length - 1].version;
    if (body.version !== undefined && typeof body.version !== 'string') throw new ValidationError(['version: give it once']);
    const expected = revisionFromForm(body.version ?? '');
    await this.commands.execute(this.restoreCommand(id, version, expected, request));
    const page = await this.historyPage(id);
    const now = page.data.current as number;
    const flash: Flash =
      now === before
        ? { kind: 'info', message: `It already equals version ${version}: nothing changed` }
        : { kind: 'success', message: `Version ${version} was restored: it is now version ${now}` };
    this.views.respond(request, response, page, { flash, pushUrl: `${this.base}/${id}/history` });
  }

  /** A job's template shows by its name (as it is called now) with its id. */
  private readable(changes: FieldChange[]): FieldChange[] {
    return changes.map((change) => (change.field === 'scriptId' ? { ...change, before: this.templateText(change.before), after: this.templateText(change.after) } : change));
  }

  private readableContent(content: Content): Record<string, unknown> {
    return 'scriptId' in content ? { ...content, scriptId: this.templateText(content.scriptId) } : content;
  }

  private templateText(id: unknown): unknown {
    if (typeof id !== 'string') return id;
    const script = this.scripts.get(id);
    return script ? `${script.name} (${id})` : `${id} (removed)`;
  }
}

/** `/jobs/:id/history`, `/jobs/:id/versions/:n`, and restoring one. */
@PageController('jobs')
export class JobHistoryPages extends HistoryPages {
  protected readonly kind = 'job';
  protected readonly base = '/jobs';

  constructor(views: ViewRenderer, commands: CommandBus, scripts: ScriptsReadModel, private readonly jobs: JobHistory) {
    super(views, commands, scripts);
  }

  protected history(): JobHistory {
    return this.jobs;
  }

  protected restoreCommand(id: string, version: number, expected: bigint | undefined, request: AuthenticatedRequest): RestoreJobVersionCommand {
    return new RestoreJobVersionCommand(id, version, expected, contextOf(request));
  }

  @Get(':id/history')
  async show(@Param('id') id: string, @Query('before') before: string | undefined, @Req() request: Request, @Res() response: Response): Promise<void> {
    this.views.respond(request, response, await this.historyPage(id, before));
  }

  @Get(':id/versions/:n')
  async version(@Param('id') id: string, @Param('n') n: string, @Query('compareTo') compareTo: string | undefined, @Req() request: Request, @Res() response: Response): Promise<void> {
    this.views.respond(request, response, await this.versionPage(id, n, compareTo));
  }

  /** "What changed since" version n: the current version compared with it (linked from a run page). */
  @Get(':id/since/:n')
  async since(@Param('id') id: string, @Param('n') n: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    this.views.respond(request, response, await this.sincePage(id, n));
  }

  @Post(':id/versions/:n/restore')
  async restoreVersion(@Param('id') id: string, @Param('n') n: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    await this.restore(id, n, body, request, response);
  }
}

/** `/scripts/:id/history`, `/scripts/:id/versions/:n`, and restoring one. */
@PageController('scripts')
export class ScriptHistoryPages extends HistoryPages {
  protected readonly kind = 'template';
  protected readonly base = '/scripts';

  constructor(views: ViewRenderer, commands: CommandBus, scripts: ScriptsReadModel, private readonly templates: ScriptHistory) {
    super(views, commands, scripts);
  }

  protected history(): ScriptHistory {
    return this.templates;
  }

  protected restoreCommand(id: string, version: number, expected: bigint | undefined, request: AuthenticatedRequest): RestoreScriptVersionCommand {
    return new RestoreScriptVersionCommand(id, version, expected, contextOf(request));
  }

  @Get(':id/history')
  async show(@Param('id') id: string, @Query('before') before: string | undefined, @Req() request: Request, @Res() response: Response): Promise<void> {
    this.views.respond(request, response, await this.historyPage(id, before));
  }

  @Get(':id/versions/:n')
  async version(@Param('id') id: string, @Param('n') n: string, @Query('compareTo') compareTo: string | undefined, @Req() request: Request, @Res() response: Response): Promise<void> {
    this.views.respond(request, response, await this.versionPage(id, n, compareTo));
  }

  /** "What changed since" version n: the current version compared with it (linked from a run page). */
  @Get(':id/since/:n')
  async since(@Param('id') id: string, @Param('n') n: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    this.views.respond(request, response, await this.sincePage(id, n));
  }

  @Post(':id/versions/:n/restore')
  async restoreVersion(@Param('id') id: string, @Param('n') n: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    await this.restore(id, n, body, request, response);
  }
}
