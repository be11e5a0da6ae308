/**
 * The gRPC service implementations the double registers: `Streams` and `ServerFeatures`.
 *
 * `ServerFeatures.GetSupportedMethods` answers as EventStore/EventStore
 * `src/EventStore.Core/Services/Transport/Grpc/ServerFeatures.cs` does (lower-case
 * service and method names; `read` carries the features `position` and `events`,
 * `batchappend` carries `deadline_duration`), but lists only what this double
 * implements, so a client never picks a method the double would refuse. The Node client
 * asks it once per connection and uses `BatchAppend` for appends when it is listed
 * (`@eventstore/db-client` `dist/streams/appendToStream/index.js`).
 */
import * as grpc from '@grpc/grpc-js';
import { SupportedMethod, SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb';
import type { IServerFeaturesServer } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import type { IStreamsServer } from '@eventstore/db-client/generated/streams_grpc_pb';
import { ReadReq, ReadResp } from '@eventstore/db-client/generated/streams_pb';
import { append, AppendLimits, batchAppend } from './append';
import { accessDenied, type AccessPolicy } from './auth';
import { InvalidFilterError } from './filters';
import type { TransactionLog } from './log';
import { readAll, readStream } from './read';
import { subscribeToAll } from './subscription';
import { handlerThrew, rpcError, RpcStatusError } from './wire';

/** What the double is configured to be. */
export interface ServiceOptions extends AppendLimits {
  /** Whether `BatchAppend` is offered (servers from 21.10 offer it). */
  batchAppend: boolean;
  /** Reported as `event_store_server_version`. */
  serverVersion: string;
}

const unimplemented = (what: string): Partial<grpc.StatusObject> =>
  rpcError(grpc.status.UNIMPLEMENTED, `${what} is not implemented by the EventStoreDB test double`);

/** `Streams`: Read, Append and (optionally) BatchAppend; Delete and Tombstone are refused. */
export function streamsService(log: TransactionLog, options: ServiceOptions, policy: AccessPolicy): IStreamsServer {
  return {
    read: (call) => { void read(log, call, policy); },
    append: append(log, options, policy),
    batchAppend: options.batchAppend ? batchAppend(log, options, policy) : (call) => call.emit('error', unimplemented('BatchAppend')),
    delete: (_call, callback) => callback(unimplemented('Delete')),
    tombstone: (_call, callback) => callback(unimplemented('Tombstone')),
  };
}

/** Dispatches a read on the same option combinations as `Streams.Read.cs` `CreateEnumerator`. */
async function read(log: TransactionLog, call: grpc.ServerWritableStream<ReadReq, ReadResp>, policy: AccessPolicy): Promise<void> {
  try {
    const options = call.request.getOptions();
    if (!options) throw new RpcStatusError(handlerThrew());
    if (!options.hasUuidOption()) {
      throw new RpcStatusError(rpcError(grpc.status.INVALID_ARGUMENT, ' `uuidOption` is a required argument of type EventStore.Client.Streams.ReadReq+Types+Options+Types+UUIDOption'));
    }
    // `Streams.Read.cs` checks access once it knows what is read, before reading anything.
    if (!policy.mayUseStreams(call.metadata)) throw new RpcStatusError(accessDenied());
    const { StreamOptionCase, CountOptionCase, FilterOptionCase } = ReadReq.Options;
    const forwards = options.getReadDirection() === ReadReq.Options.ReadDirection.FORWARDS;
    const target = options.getStreamOptionCase();
    const count = options.getCountOptionCase();
    const filtered = options.getFilterOptionCase() === FilterOptionCase.FILTER;
    if (target === StreamOptionCase.STREAM && count === CountOptionCase.COUNT && !filtered) {
      await readStream(log, call, options);
    } else if (target === StreamOptionCase.ALL && count === CountOptionCase.COUNT) {
      await readAll(log, call, options);
    } else if (target === StreamOptionCase.ALL && count === CountOptionCase.SUBSCRIPTION && forwards) {
      await subscribeToAll(log, call, options);
    } else if (target === StreamOptionCase.STREAM && count === CountOptionCase.SUBSCRIPTION && forwards && !filtered) {
      throw new RpcStatusError(unimplemented('Subscribing to a single stream'));
    } else {
      throw new RpcStatusError(rpcError(grpc.status.INVALID_ARGUMENT, `The combination of (${target}, ${count}, ${options.getReadDirection()}, ${options.getFilterOptionCase()}) is invalid.`));
    }
    if (!call.cancelled) call.end();
  } catch (error) {
    if (call.cancelled) return;
    if (error instanceof RpcStatusError) call.emit('error', error.status);
    else if (error instanceof InvalidFilterError) call.emit('error', rpcError(grpc.status.INVALID_ARGUMENT, error.message));
    else call.emit('error', handlerThrew());
  }
}

/** `ServerFeatures`. */
export function serverFeaturesService(options: ServiceOptions): IServerFeaturesServer {
  const streams = 'event_store.client.streams.streams';
  const methods = [
    method(streams, 'read', ['position', 'events']),
    method(streams, 'append', []),
    ...(options.batchAppend ? [method(streams, 'batchappend', ['deadline_duration'])] : []),
    method('event_store.client.server_features.serverfeatures', 'getsupportedmethods', []),
  ];
  return {
    getSupportedMethods: (_call, callback) => {
      callback(null, new SupportedMethods().setMethodsList(methods).setEventStoreServerVersion(options.serverVersion));
    },
  };
}

function method(serviceName: string, methodName: string, features: string[]): SupportedMethod {
  return new SupportedMethod().setServiceName(serviceName).setMethodName(methodName).setFeaturesList(features);
}
