import { Allow } from 'class-validator';

/*
 * The query parameters each page reads, as classes: a parameter a page does
 * not read is a 400 naming it, as on the API (see `RequestShapeInterceptor`).
 * Values stay lenient, as a person's filters should: a page reads what it can
 * of each, leaves out the rest and says so above its results (`ignored-filters.ts`).
 */

/** `/jobs`: the search bar, the filters and the page number. */
export class JobListFilters {
  @Allow() q?: unknown;
  @Allow() tag?: unknown;
  @Allow() status?: unknown;
  @Allow() outcome?: unknown;
  @Allow() page?: unknown;
  /** A time: the jobs as they stood then, read-only (see `src/history/as-of.page.ts`). */
  @Allow() asOf?: unknown;
}

/** `/jobs/new`: the template to preselect. */
export class NewJobParams {
  @Allow() script?: unknown;
}

/** `/jobs/new/schedule-row`: the number of the row to add. */
export class ScheduleRowParams {
  @Allow() row?: unknown;
}

/** `/runs`: the filters and the cursor. */
export class RunListFilters {
  @Allow() status?: unknown;
  @Allow() job?: unknown;
  @Allow() by?: unknown;
  @Allow() q?: unknown;
  @Allow() before?: unknown;
}

/** `/audit`: the filters and the cursor. */
export class AuditFilters {
  @Allow() type?: unknown;
  @Allow() actor?: unknown;
  @Allow() job?: unknown;
  @Allow() all?: unknown;
  @Allow() before?: unknown;
}
