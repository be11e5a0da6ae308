/**
 * An in-process EventStoreDB double: a gRPC server built on `@grpc/grpc-js` with the
 * service definitions generated inside `@eventstore/db-client`, over an in-memory log.
 *
 * It implements what the Node client (and so `EsdbEventStore`) calls on a single-node
 * connection string: `ServerFeatures.GetSupportedMethods`, `Streams.Read`
 * (stream and `$all` reads in both directions, `$all` catch-up subscriptions with
 * filters and checkpoints), `Streams.Append` and `Streams.BatchAppend`. Gossip is not
 * served: the client only asks for it with cluster or `+discover` connection strings.
 *
 * By default it is an insecure node (`tls=false`: no TLS, no authentication). Given
 * `users`, it is a secure node instead: TLS with a certificate from a throwaway CA
 * (`certificates.ts`), every call authenticated and stream access refused to anyone
 * but those users (`auth.ts`), as EventStoreDB does.
 *
 * `stop()` ends it the way a killed server process does (open calls fail with
 * UNAVAILABLE); `start()` serves the same log on the same port again.
 */
import * as grpc from '@grpc/grpc-js';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import { authenticated, OPEN_POLICY, userPolicy, type Users } from './auth';
import { nodeCertificates } from './certificates';
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
  /**
   * Makes it a secure node that requires these users' credentials (user → password,
   * e.g. `{ admin: 'changeit' }`) for every stream read and write, served over TLS.
   * Omitted: an insecure node that lets everyone do everything.
   */
  users?: Users;
}

/** A running (or stopped) double. */
export interface EsdbDouble {
  /** The port it listens on. */
  readonly port: number;
  /**
   * `esdb://127.0.0.1:<port>?tls=false`, or for a secure double
   * `esdb://127.0.0.1:<port>?tls=true&tlsCAFile=<ca>` (no credentials: see {@link connectionStringAs}).
   */
  readonly connectionString: string;
  /** The connection string with `user:password@` (percent-encoded) in it. */
  connectionStringAs(user: string, password: string): string;
  /** The CA certificate a client must trust (`tlsCAFile`), or null for an insecure double. */
  readonly caFile: string | null;
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

/** Starts the double on 127.0.0.1 (insecure, as `tls=false`, unless `users` are given). */
export async function startEsdbDouble(options: EsdbDoubleOptions = {}): Promise<EsdbDouble> {
  const users = options.users;
  const certificates = users ? nodeCertificates() : null;
  const policy = users ? userPolicy(users) : OPEN_POLICY;
  const guard = <T extends object>(service: T): T => (users ? authenticated(service, users) : service);
  const credentials = certificates
    ? grpc.ServerCredentials.createSsl(null, [{ private_key: certificates.privateKey, cert_chain: certificates.certChain }], false)
    : grpc.ServerCredentials.createInsecure();
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
    next.addService(StreamsService, guard(streamsService(log, serviceOptions, policy)));
    next.addService(ServerFeaturesService, guard(serverFeaturesService(serviceOptions)));
    port = await new Promise<number>((resolve, reject) => {
      next.bindAsync(`127.0.0.1:${port}`, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
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
  const query = (): string => (certificates ? `tls=true&tlsCAFile=${certificates.caFile}` : 'tls=false');
  return {
    get port() { return port; },
    get connectionString() { return `esdb://127.0.0.1:${port}?${query()}`; },
    connectionStringAs: (user, password) => `esdb://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}?${query()}`,
    caFile: certificates?.caFile ?? null,
    log,
    get running() { return server !== null; },
    stop,
    start,
    restart: async () => { await stop(); await start(); },
  };
}
