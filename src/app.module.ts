import { join } from 'node:path';
import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { EventsController } from './audit/events.controller';
import { Authenticator, AuthGuard } from './auth/auth.guard';
import { KeyService } from './auth/key-service';
import { ArtifactStore } from './artifacts/artifact-store';
import { ArtifactsController } from './artifacts/artifacts.controller';
import { ArtifactPages } from './artifacts/artifact-pages';
import { ArtifactsReadModel } from './artifacts/artifacts.read-model';
import { ArtifactUploads } from './artifacts/artifact-uploads';
import { RunArtifacts } from './artifacts/run-artifacts';
import { BlobStore } from './blobs/blob-store';
import { AppConfig } from './config/app-config';
import { createEventStore } from './event-store/create-event-store';
import { EventStore } from './event-store/event-store.port';
import { HealthController } from './health/health.controller';
import { OpenApiController } from './openapi/openapi.controller';
import { OpenApiDocument } from './openapi/openapi.document';
import { HttpErrorFilter } from './http/http-exception.filter';
import { RequestShapeInterceptor } from './http/request-shape';
import { DtoValidationPipe } from './http/validation';
import {
  AttachJobFilesHandler,
  CreateJobHandler,
  JobCommandSupport,
  RemoveJobFileHandler,
  RemoveJobHandler,
  UpdateJobHandler,
} from './jobs/job.handlers';
import { JobQueries } from './jobs/job.view';
import { JobsController } from './jobs/jobs.controller';
import { JobsReadModel } from './jobs/jobs.read-model';
import { LIVE_CONTROLLERS, LIVE_PROVIDERS } from './live/live.module';
import { PROJECTIONS } from './projections/projection';
import { PROJECTION_BUILDER, PROJECTION_DATABASE_FILE, ProjectionEngine, type ProjectionBuilder } from './projections/projection-engine';
import { PROJECTIONS_FILE } from './projections/projection-database';
import { ReadModelsGuard } from './projections/read-models.guard';
import { RunExecutor } from './runs/execution/run-executor';
import { REMOTE_RUNS_CONTROLLERS, REMOTE_RUNS_PROVIDERS } from './runs/remote/remote-runs.module';
import { RunRecovery } from './runs/execution/run-recovery';
import { OutputRetention } from './runs/retention/output-retention';
import { prepareRuns, RunSandbox } from './runs/execution/run-sandbox';
import { JobConcurrency } from './runs/execution/job-concurrency';
import { RunScheduler } from './runs/execution/run-scheduler';
import { OnlineRunners } from './runners/online-runners';
import { RunnerPresence } from './runners/runner-presence';
import { DiskSpaceCheck } from './runs/execution/disk-space';
import { RunShutdown } from './runs/execution/run-shutdown';
import { WorkdirRetention } from './runs/execution/workdir-retention';
import { RequestRunHandler } from './runs/request-run.handler';
import { ControlRunHandler, RerunRunHandler } from './runs/run-control.handler';
import { RunOutputReader } from './runs/run-output.reader';
import { OutputLineIndex } from './runs/output-line-index';
import { OutputSearch } from './runs/output-search';
import { OutputSearchController } from './runs/output-search.controller';
import { RunsController } from './runs/runs.controller';
import { RunsReadModel } from './runs/runs.read-model';
import { CreateScriptHandler, RemoveScriptHandler, ScriptCommandSupport, UpdateScriptHandler } from './scripts/script.handlers';
import { ScriptsController } from './scripts/scripts.controller';
import { ScheduleTicker } from './schedules/schedule-ticker';
import { SchedulesReadModel } from './schedules/schedules.read-model';
import { ScriptsReadModel } from './scripts/scripts.read-model';
import { Clock, SystemClock } from './shared/clock';
import { IdGenerator, RandomIdGenerator } from './shared/ids';
import { Startup } from './startup';
import { RootLogger } from './logging/root-logger.provider';
import { silentLogger } from './logging/root-logger';
import { RunLifecycle } from './logging/run-lifecycle';
import { ServerLifecycleLog } from './logging/server-lifecycle-log';
import { HealthDetailsReader } from './health/health-details';
import { Metrics } from './metrics/metrics';
import { MetricsController } from './metrics/metrics.controller';
import { AppendFeed, ObservedEventStore } from './metrics/observed-event-store';
import { ProjectionLag } from './metrics/projection-lag';
import { ConnectionDrain } from './http/connection-drain';
import { WEB_CONTROLLERS, WEB_PROVIDERS } from './web/web.module';
import { HISTORY_CONTROLLERS, HISTORY_PROVIDERS } from './history/history.module';
import { RunnersModule } from './runners/runners.module';
import { RunnersReadModel } from './runners/runners.read-model';

/** The whole application, configured once at start. */
@Module({})
export class AppModule {
  /**
   * `overrides.store`: a store opened already (main opens it first, so a damaged log is reported plainly);
   * `overrides.logger`: the server's logger (main's; silent when not given);
   * `overrides.projectionBuilder`: where read models are built from the log (main's: a process of its own; else in this one).
   */
  static forRoot(
    config: AppConfig,
    overrides: { clock?: Clock; ids?: IdGenerator; store?: EventStore; logger?: RootLogger; projectionBuilder?: ProjectionBuilder; sandbox?: RunSandbox } = {},
  ): DynamicModule {
    const feed = new AppendFeed();
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot()],
      controllers: [HealthController, OpenApiController, MetricsController, ScriptsController, JobsController, RunsController, ArtifactsController, OutputSearchController, EventsController, ...HISTORY_CONTROLLERS, ...WEB_CONTROLLERS, ArtifactPages, ...LIVE_CONTROLLERS, ...RunnersModule.controllers, ...REMOTE_RUNS_CONTROLLERS],
      providers: [
        { provide: AppConfig, useValue: config },
        ConnectionDrain,
        { provide: Clock, useValue: overrides.clock ?? new SystemClock() },
        { provide: IdGenerator, useValue: overrides.ids ?? new RandomIdGenerator() },
        { provide: RootLogger, useValue: overrides.logger ?? new RootLogger(silentLogger()) },
        { provide: AppendFeed, useValue: feed },
        // Every append is timed and announced (run lifecycle logs, metrics): one wrapper, whichever store. No injected
        // dependency, so the store opens as early as before (it checks the data dir before anything writes there).
        { provide: EventStore, useFactory: () => new ObservedEventStore(overrides.store ?? createEventStore(config), feed) },
        RunLifecycle,
        ServerLifecycleLog,
        ProjectionLag,
        Metrics,
        HealthDetailsReader,
        // Chosen (and proven to work) once, before anything can start a run (by `main.ts` before Nest, so that a setting that
        // does not work is one plain message); so is the channel every run writes into.
        { provide: RunSandbox, useFactory: async () => overrides.sandbox ?? (await prepareRuns(config)) },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: HttpErrorFilter },
        { provide: APP_PIPE, useClass: DtoValidationPipe },
        { provide: APP_INTERCEPTOR, useClass: RequestShapeInterceptor },
        ScriptsReadModel,
        JobsReadModel,
        RunsReadModel,
        SchedulesReadModel,
        ArtifactsReadModel,
        {
          provide: PROJECTIONS,
          // Artifacts after runs: a run's list reads how the run stands.
          useFactory: (scripts: ScriptsReadModel, jobs: JobsReadModel, runs: RunsReadModel, schedules: SchedulesReadModel, artifacts: ArtifactsReadModel, runners: RunnersReadModel) => [
            scripts,
            jobs,
            runs,
            schedules,
            artifacts,
            runners,
          ],
          inject: [ScriptsReadModel, JobsReadModel, RunsReadModel, SchedulesReadModel, ArtifactsReadModel, RunnersReadModel],
        },
        // The read models' database, beside the log (docs/DESIGN.md, "The read side").
        { provide: PROJECTION_DATABASE_FILE, useValue: join(config.dataDir, PROJECTIONS_FILE) },
        { provide: PROJECTION_BUILDER, useValue: overrides.projectionBuilder ?? null },
        { provide: APP_GUARD, useClass: ReadModelsGuard },
        ProjectionEngine,
        KeyService,
        Authenticator,
        BlobStore,
        ArtifactStore,
        RunArtifacts,
        ArtifactUploads,
        ScriptCommandSupport,
        CreateScriptHandler,
        UpdateScriptHandler,
        RemoveScriptHandler,
        JobCommandSupport,
        JobQueries,
        CreateJobHandler,
        UpdateJobHandler,
        RemoveJobHandler,
        AttachJobFilesHandler,
        RemoveJobFileHandler,
        RequestRunHandler,
        ControlRunHandler,
        RerunRunHandler,
        RunOutputReader,
        OutputLineIndex,
        OutputSearch,
        RunExecutor,
        WorkdirRetention,
        JobConcurrency,
        RunScheduler,
        // Which runners are online (placement's `waitingFor`): presence, as the log records it on every server sharing the store.
        { provide: OnlineRunners, useExisting: RunnerPresence },
        DiskSpaceCheck,
        OpenApiDocument,
        RunRecovery,
        OutputRetention,
        RunShutdown,
        ScheduleTicker,
        Startup,
        ...HISTORY_PROVIDERS,
        ...WEB_PROVIDERS,
        ...LIVE_PROVIDERS,
        ...RunnersModule.providers,
        ...REMOTE_RUNS_PROVIDERS,
      ],
    };
  }
}
