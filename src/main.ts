import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { KeyService } from './auth/key-service';
import { ConfigError, loadConfig, loadDotEnv } from './config/app-config';
import { restrictUmask, secureDataDirectory } from './config/data-directory';
import { hasCredentials, redactConnectionString } from './config/connection-string';
import { createEventStore } from './event-store/create-event-store';
import { configureHttp } from './http/configure-http';
import { RunSandbox } from './runs/execution/run-sandbox';

/** The connection string in use, so that no error message can print it whole. */
let connectionString: string | null = null;

async function main(): Promise<void> {
  // First of all: every file the server creates from here on is private.
  const jobUmask = restrictUmask();
  loadDotEnv();
  const config = loadConfig(process.env, { jobUmask });
  for (const message of secureDataDirectory(config.dataDir)) process.stderr.write(`EnderCompute: ${message}\n`);
  const connection = config.eventStoreConnectionString;
  connectionString = connection;
  if (connection !== null && hasCredentials(connection) && /[?&]tls=false(&|$)/i.test(connection)) {
    // The client drops credentials on an insecure connection without a word; say it here.
    process.stderr.write('Warning: the EventStoreDB connection string has tls=false, so its user and password are not sent (EventStoreDB only checks them over TLS)\n');
  }
  // Opened before Nest builds the application, so that a store that cannot be opened (a
  // damaged log file, an invalid connection string) is reported as one plain message
  // below rather than as a stack trace from Nest's provider factory.
  const store = createEventStore(config);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, { store }), {
    bodyParser: false,
    logger: ['warn', 'error'],
  });
  configureHttp(app);
  app.enableShutdownHooks();
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const keys = app.get(KeyService);
  const sandbox = app.get(RunSandbox);
  // The generated key is shown once, here, to whoever started the server; it is never logged elsewhere.
  // The connection string may hold a password: it is only ever shown redacted.
  const where = connection === null ? `embedded log in ${config.dataDir}` : `EventStoreDB at ${redactConnectionString(connection)}`;
  process.stdout.write(
    `\nEnderCompute ${config.version} is running at http://${host}:${port}/\n` +
      `Event store: ${where}\n` +
      (keys.isGenerated ? `Key (renewed every Monday 00:00): ${keys.currentKey}\n` : 'Key: the one set in ENDERCOMPUTE_KEY\n') +
      (sandbox.kind === 'bwrap' ? 'Runs are isolated: each in its own bubblewrap sandbox\n\n' : `WARNING: runs are NOT isolated: ${sandbox.warning}\n\n`),
  );
}

main().catch((error: unknown) => {
  let message = error instanceof ConfigError ? error.message : `EnderCompute could not start: ${error instanceof Error ? error.message : String(error)}`;
  if (connectionString !== null) message = message.split(connectionString).join(redactConnectionString(connectionString));
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
