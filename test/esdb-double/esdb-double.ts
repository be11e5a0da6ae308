/**
 * An in-process EventStoreDB double: a gRPC server built on `@grpc/grpc-js` with the
 * service definitions generated inside `@eventstore/db-client`, over an in-memory log.
 *
 * It implements what the Node client (and so `EsdbEventStore`) calls on a single-node,
 * insecure connection string: `ServerFeatures.GetSupportedMethods`, `Streams.Read`
 * (stream and `$all` reads in both directions, `$all` catch-up subscriptions with
 * filters and checkpoints), `Streams.Append` and `Streams.BatchAppend`. Gossip is not
 * served: the client only asks for it with cluster or `+discover` connection strings.
 *
 * `stop()` ends it the way a killed server process does (open calls fail with
 * UNAVAILABLE); `start()` serves the same log on the same port again.
 */
import * as grpc from '@grpc/grpc-js';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import { TransactionLog } from './log';
import { serverFeaturesService, streamsService } from './services';

/** How to start the double. */
export interface EsdbDoubleOptions {
  /** TCP port on 127.0.0.1; 0 or omitted picks a free one (kept across restarts). */
  port?: number;
  /** Offer `BatchAppend`, as servers from 21.10 do (default true); false behaves like 20.10. */
  batchAppend?: boolean;
  /** The server's `MaxAppendSize` (default 1 MiB, EventStoreDB's default). */
  maxAppendSize?: number;
  /** The version `ServerFeatures` reports (default `23.10.0`). */
  serverVersion?: string;
}

/** A running (or stopped) double. */
export interface EsdbDouble {
  /** The port it listens on. */
  readonly port: number;
  /** `esdb://127.0.0.1:<port>?tls=false`. */
  readonly connectionString: string;
  /** The log, for tests that write system events or inspect what was stored. */
  readonly log: TransactionLog;
  /** Whether it is serving. */
  readonly running: boolean;
  /** Stops abruptly, like a killed process; the log is kept. */
  stop(): Promise<void>;
  /** Serves again on the same port with the same log. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
}

/** Starts the double on 127.0.0.1 (insecure, as `tls=false`). */
export async function startEsdbDouble(options: EsdbDoubleOptions = {}): Promise<EsdbDouble> {
  const log = new TransactionLog();
  const serviceOptions = {
    batchAppend: options.batchAppend ?? true,
    maxAppendSize: options.maxAppendSize ?? 1024 * 1024,
    serverVersion: options.serverVersion ?? '23.10.0',
  };
  let server: grpc.Server | null = null;
  let port = options.port ?? 0;

  const start = async (): Promise<void> => {
    if (server) return;
    const next = new grpc.Server();
    next.addService(StreamsService, streamsService(log, serviceOptions));
    next.addService(ServerFeaturesService, serverFeaturesService(serviceOptions));
    port = await new Promise<number>((resolve, reject) => {
      next.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    server = next;
  };
  const stop = async (): Promise<void> => {
    const current = server;
    server = null;
    // forceShutdown drops every connection and cancels open calls, as a crash would.
    current?.forceShutdown();
  };

  await start();
  return {
    get port() { return port; },
    get connectionString() { return `esdb://127.0.0.1:${port}?tls=false`; },
    log,
    get running() { return server !== null; },
    stop,
    start,
    restart: async () => { await stop(); await start(); },
  };
}
