import { Injectable } from '@nestjs/common';
import type { PageSpec } from '../web/view-renderer';
import { AsOfQueries } from './as-of';
import { displayLines, fieldLabel } from './diff-view';

/** Fields of a job shown on its read-only page as of a time (its definition): stamps and ids are shown apart. */
const NOT_DEFINITION = new Set(['id', 'name', 'version', 'asOf', 'createdAt', 'createdBy', 'updatedAt', 'updatedBy', 'scriptName']);

/**
 * The read-only pages "as of a time" (`?asOf=` on `/jobs`, `/jobs/:id`, `/scripts`):
 * the state rebuilt from the log (see {@link AsOfQueries}), under a banner saying so.
 */
@Injectable()
export class AsOfPages {
  constructor(private readonly asOf: AsOfQueries) {}

  /** The parsed time, or undefined when the page was asked without `asOf`. @throws ValidationError for a bad time. */
  parse(value: unknown): Date | undefined {
    return this.asOf.parse(value === undefined ? undefined : String(value));
  }

  async jobs(at: Date, filter: { q?: string; tag?: string }): Promise<PageSpec> {
    const jobs = await this.asOf.jobList(at, filter);
    return { template: 'pages/jobs-as-of', title: `Jobs as of ${at.toISOString()}`, nav: 'jobs', data: { asOf: at.toISOString(), jobs, q: filter.q ?? '', tag: filter.tag ?? '' } };
  }

  async job(idOrName: string, at: Date): Promise<PageSpec> {
    const job = await this.asOf.job(idOrName, at);
    const fields = Object.entries(job)
      .filter(([field]) => !NOT_DEFINITION.has(field))
      .map(([field, value]) => ({ field, label: fieldLabel(field), lines: field === 'scriptId' ? [`${job.scriptName ?? 'a template removed since'} (${String(value)})`] : displayLines(value) }));
    return { template: 'pages/job-as-of', title: `${job.name} as of ${at.toISOString()}`, nav: 'jobs', data: { asOf: at.toISOString(), job, fields } };
  }

  async templates(at: Date): Promise<PageSpec> {
    const scripts = await this.asOf.scripts(at);
    return { template: 'pages/scripts-as-of', title: `Script templates as of ${at.toISOString()}`, nav: 'scripts', data: { asOf: at.toISOString(), scripts } };
  }
}
