import { AuditPage } from './audit.page';
import { DashboardPage } from './dashboard.page';
import { JobsPages } from './jobs.page';
import { PageGuard } from './page-auth';
import { PageErrorPages } from '../http/http-exception.filter';
import { PageExceptionFilter } from './page-exception.filter';
import { PageFallback } from './page-fallback';
import { PageQueries } from './page-queries';
import { RunControlPages } from './run-control.page';
import { RunPages, RunsPages } from './runs.page';
import { ScriptsPages } from './scripts.page';
import { ViewRenderer } from './view-renderer';

/**
 * The web pages: UI-shaped controllers over the same commands and read models
 * as the REST API. Listed here and added to `AppModule`, whose providers they use.
 */
export const WEB_CONTROLLERS = [DashboardPage, JobsPages, ScriptsPages, RunsPages, RunControlPages, AuditPage];

export const WEB_PROVIDERS = [
  ViewRenderer,
  PageQueries,
  RunPages,
  PageGuard,
  PageExceptionFilter,
  PageFallback,
  // The API's error filter answers unknown page URLs with a page through this.
  { provide: PageErrorPages, useExisting: PageFallback },
];
