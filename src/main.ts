import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { KeyService } from './auth/key-service';
import { ConfigError, loadConfig, loadDotEnv } from './config/app-config';
import { restrictUmask, secureDataDirectory } from './config/data-directory';
import { configureHttp } from './http/configure-http';
import { RunSandbox } from './runs/execution/run-sandbox';

async function main(): Promise<void> {
  // First of all: every file the server creates from here on is private.
  const jobUmask = restrictUmask();
  loadDotEnv();
  const config = loadConfig(process.env, { jobUmask });
  for (const message of secureDataDirectory(config.dataDir)) process.stderr.write(`EnderCompute: ${message}\n`);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
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
  process.stdout.write(
    `\nEnderCompute ${config.version} is running at http://${host}:${port}/\n` +
      (keys.isGenerated ? `Key (renewed every Monday 00:00): ${keys.currentKey}\n` : 'Key: the one set in ENDERCOMPUTE_KEY\n') +
      (sandbox.kind === 'bwrap' ? 'Runs are isolated: each in its own bubblewrap sandbox\n\n' : `WARNING: runs are NOT isolated: ${sandbox.warning}\n\n`),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `EnderCompute could not start: ${error instanceof Error ? error.message : String(error)}`}\n`);
  process.exit(1);
});
