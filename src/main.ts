import 'reflect-metadata';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { KeyService } from './auth/key-service';
import { ConfigError, loadConfig, loadDotEnv } from './config/app-config';
import { restrictUmask, secureDataDirectory } from './config/data-directory';
import { hasCredentials, redactConnectionString } from './config/connection-string';
import { createEventStore, logLocation } from './event-store/create-event-store';
import { configureHttp } from './http/configure-http';
import { StartingGate } from './http/starting-gate';
import { createRootLogger } from './logging/root-logger';
import { PinoNestLogger } from './logging/pino-nest-logger';
import { RootLogger } from './logging/root-logger.provider';
import { requestLog } from './logging/request-log';
import { httpMetrics } from './metrics/http-metrics';
import { Metrics } from './metrics/metrics';
import { prepareRuns } from './runs/execution/run-sandbox';
import { RunsReadModel } from './runs/runs.read-model';
import { processProjectionBuilder } from './projections/build-process';
import { ProjectionEngine } from './projections/projection-engine';
import { ViewRenderer } from './web/view-renderer';
import { Startup } from './startup';

/** The connection string in use, so that no error message can print it whole. */
let connectionString: string | null = null;

async function main(): Promise<void> {
  // First of all: every file the server creates from here on is private.
  const jobUmask = restrictUmask();
  loadDotEnv();
  const config = loadConfig(process.env, { jobUmask });
  // From here on everything goes through one pino logger (JSON lines; readable lines on a terminal).
  const root = createRootLogger(config.logLevel);
  const log = root.child({ context: 'Server' });
  // Every Nest Logger writes through pino from here on, the event store's warnings (opened before Nest) included.
  const nestLogger = new PinoNestLogger(root);
  Logger.overrideLogger(nestLogger);
  for (const message of secureDataDirectory(config.dataDir)) log.warn(`EnderCompute: ${message}`);
  const connection = config.eventStoreConnectionString;
  connectionString = connection;
  if (connection !== null && hasCredentials(connection) && /[?&]tls=false(&|$)/i.test(connection)) {
    // The client drops credentials on an insecure connection without a word; say it here.
    log.warn('Warning: the EventStoreDB connection string has tls=false, so its user and password are not sent (EventStoreDB only checks them over TLS)');
  }
  // Opened before Nest builds the application, so that a store that cannot be opened (a
  // damaged log file, an invalid connection string) is reported as one plain message
  // below rather than as a stack trace from Nest's provider factory.
  const store = createEventStore(config);
  // Read models built from the log are built in a process of their own, with a heap sized for it (see build-process.ts).
  const projectionBuilder = processProjectionBuilder(buildProcessFile(), logLocation(config));
  // Before Nest too, for the same reason: a sandbox setting that does not work is one plain message.
  const sandbox = await prepareRuns(config);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, { store, logger: new RootLogger(root), projectionBuilder, sandbox }), {
    bodyParser: false,
    logger: nestLogger,
  });
  // First, so that every request is logged and timed, whatever answers it.
  app.use(requestLog(root));
  app.use(httpMetrics(app.get(Metrics)));
  configureHttp(app);
  const engine = app.get(ProjectionEngine);
  // Listening from here on, and answering 503 with what the server is doing until it has started (see starting-gate.ts).
  const gate = new StartingGate({ store: store.kind, sandbox: sandbox.kind, version: config.version, progress: () => engine.buildProgress, views: app.get(ViewRenderer) });
  app.use(gate.middleware);
  app.use(gate.errorMiddleware);
  app.enableShutdownHooks();
  const server = app.getHttpServer();
  await listen(server, config.port, config.host);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}/`;
  // The start-up lines are written at any ENDERCOMPUTE_LOG_LEVEL: whoever starts the server needs the address and the key.
  const banner = root.child({ context: 'Server' }, { level: 'info' });
  banner.info(`EnderCompute is listening at ${url} and answers 503 until it has started`);
  // Builds or catches up the read models, recovers runs, starts the scheduler (startup.ts).
  const startup = app.get(Startup);
  try {
    await app.init();
  } catch (error) {
    // Stopped while starting (a signal): a step cut short by the closing log is no failure to report.
    if (startup.stopping) return;
    throw error;
  }
  // Stopped while starting: Nest's shutdown ends the process; it never served.
  if (startup.stopping) return;
  gate.open();
  const keys = app.get(KeyService);
  const runs = app.get(RunsReadModel);
  // The connection string may hold a password: it is only ever shown redacted.
  const where = connection === null ? `embedded log in ${config.dataDir}` : `EventStoreDB at ${redactConnectionString(connection)}`;
  const recovered = { lost: app.get(Startup).lostAtStart, queued: runs.queued(new Date()).length };
  banner.info(`Event store: ${where}`);
  // The generated key is shown once, here, to whoever started the server: the one line of the log that holds a key.
  banner.info(keys.isGenerated ? `Key (renewed every Monday 00:00): ${keys.currentKey}` : 'Key: the one set in ENDERCOMPUTE_KEY');
  if (sandbox.kind === 'bwrap') banner.info('Runs are isolated: each in its own bubblewrap sandbox');
  else banner.warn(`WARNING: runs are NOT isolated: ${sandbox.warning}`);
  banner.info(
    !config.localRunner
      ? 'Runner: none here (ENDERCOMPUTE_LOCAL_RUNNER=false): this server executes no runs itself'
      : config.runnerLabels.length > 0
        ? `Runner: ${config.runnerId}, labels ${config.runnerLabels.join(', ')} (it takes runs whose runsOn it has every label of)`
        : `Runner: ${config.runnerId}, no labels (it takes runs without runsOn)`,
  );
  // Last: the line that says the server is ready.
  banner.info(
    { event: 'server started', url, version: config.version, store: store.kind, sandbox: sandbox.kind, recovered },
    `EnderCompute ${config.version} is running at ${url} (after the last stop: ${recovered.lost} run(s) marked lost, ${recovered.queued} queued run(s) to start)`,
  );
}

main().catch((error: unknown) => {
  let message = error instanceof ConfigError ? error.message : `EnderCompute could not start: ${error instanceof Error ? error.message : String(error)}`;
  if (connectionString !== null) message = message.split(connectionString).join(redactConnectionString(connectionString));
  process.stderr.write(`${message}\n`);
  process.exit(1);
});

/** Listens at `port` on `host`; rejects with why it cannot (the port is taken, the address is not this machine's). */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The projection build process's file: beside the bundle (dist/server), or under tools/ in tsc's output (dist/src). */
function buildProcessFile(): string {
  const bundled = join(__dirname, 'projection-build.child.js');
  return existsSync(bundled) ? bundled : join(__dirname, 'tools', 'projection-build.child.js');
}
