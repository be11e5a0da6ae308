import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../../src/app.module';
import { type AppConfig, loadConfig } from '../../src/config/app-config';
import { EventStore, formatPosition, type NewEvent } from '../../src/event-store/event-store.port';
import { configureHttp } from '../../src/http/configure-http';
import type { IdGenerator } from '../../src/shared/ids';
import { TEST_KEY } from './server-process';

export interface TestApp {
  url: string;
  app: NestExpressApplication;
  store: EventStore;
  config: AppConfig;
  /** A request with the test key (unless `authorization` is given) and an optional actor. */
  request(path: string, init?: RequestInit & { actor?: string; json?: unknown }): Promise<Response>;
  /** The log's head as text, to prove a refused request changed nothing. */
  head(): Promise<string>;
  close(): Promise<void>;
}

/** Boots the whole application in this process on a real embedded store in a temp dir. */
export async function startTestApp(env: Record<string, string> = {}, overrides: { ids?: IdGenerator } = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-int-'));
  const config = loadConfig({ ENDERCOMPUTE_DATA_DIR: dataDir, ENDERCOMPUTE_KEY: TEST_KEY, PORT: '0', ...env });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, overrides), { bodyParser: false, logger: ['error'] });
  configureHttp(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const store = app.get(EventStore);
  return {
    url,
    app,
    store,
    config,
    request: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${TEST_KEY}`);
      if (init.actor !== undefined) headers.set('x-actor', init.actor);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set('content-type', 'application/json');
        body = typeof init.json === 'string' ? init.json : JSON.stringify(init.json);
      }
      return fetch(`${url}${path}`, { ...init, headers, body });
    },
    head: async () => {
      const position = await store.headPosition();
      return position ? formatPosition(position) : 'empty';
    },
    close: async () => {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Appends held back by {@link holdAppends}: when the first one arrived, and how to let them (and later ones) through. */
export interface HeldAppends {
  /** Resolves once an append that matches has arrived (and waits). */
  reached: Promise<void>;
  /** Lets every held append go on, and appends pass from now on. */
  release(): void;
  /** Puts the store's own `append` back. */
  restore(): void;
}

/**
 * Holds back the appends of `store` that `matches` (a stream and its events) until
 * `release()`: to put a request of the server in the middle of its work, where a race
 * would find it (a claim being appended while a runner is revoked, …).
 */
export function holdAppends(store: EventStore, matches: (stream: string, events: readonly NewEvent[]) => boolean): HeldAppends {
  const append = store.append.bind(store);
  let arrived: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  store.append = async (stream, events, expected) => {
    if (matches(stream, events)) {
      arrived();
      await released;
    }
    return append(stream, events, expected);
  };
  return { reached, release, restore: () => (store.append = append) };
}
