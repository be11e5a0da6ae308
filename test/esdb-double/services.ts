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
import { DeleteReq, DeleteResp, ReadReq, ReadResp } from '@eventstore/db-client/generated/streams_pb';
import { append, AppendLimits, batchAppend } from './append';
import { accessDenied, type AccessPolicy } from './auth';
import { InvalidFilterError } from './filters';
import type { ExpectedVersion, TransactionLog } from './log';
import { readAll, readStream } from './read';
import { subscribeToAll } from './subscription';
import { handlerThrew, rpcError, RpcStatusError, streamName } from './wire';

/** What the double is configured to be. */
export interface ServiceOptions extends AppendLimits {
  /** Whether `BatchAppend` is offered (servers from 21.10 offer it). */
  batchAppend: boolean;
  /** Reported as `event_store_server_version`. */
  serverVersion: string;
}

const unimplemented = (what: string): Partial<grpc.StatusObject> =>
  rpcError(grpc.status.UNIMPLEMENTED, `${what} is not implemented by the EventStoreDB test double`);

/** `Streams`: Read, Append, (optionally) BatchAppend and Delete (soft delete); Tombstone is refused. */
export function streamsService(log: TransactionLog, options: ServiceOptions, policy: AccessPolicy): IStreamsServer {
  return {
    read: (call) => { void read(log, call, policy); },
    append: append(log, options, policy),
    batchAppend: options.batchAppend ? batchAppend(log, options, policy) : (call) => call.emit('error', unimplemented('BatchAppend')),
    delete: (call, callback) => softDelete(log, call, callback, policy),
    tombstone: (_call, callback) => callback(unimplemented('Tombstone')),
  };
}

/**
 * `Streams.Delete` (`Streams.Delete.cs`): the expected revision from the options, access
 * checked, then the storage writer's soft delete; a wrong expected version is the error
 * `RpcExceptions.WrongExpectedVersion` builds, and success carries the position written.
 */
function softDelete(
  log: TransactionLog,
  call: grpc.ServerUnaryCall<DeleteReq, DeleteResp>,
  callback: grpc.sendUnaryData<DeleteResp>,
  policy: AccessPolicy,
): void {
  const options = call.request.getOptions();
  if (!options) return callback(handlerThrew());
  const { ExpectedStreamRevisionCase } = DeleteReq.Options;
  let expected: ExpectedVersion;
  let shown: bigint;
  switch (options.getExpectedStreamRevisionCase()) {
    case ExpectedStreamRevisionCase.REVISION: expected = BigInt(options.getRevision()); shown = expected; break;
    case ExpectedStreamRevisionCase.ANY: expected = 'any'; shown = -2n; break;
    case ExpectedStreamRevisionCase.NO_STREAM: expected = 'no_stream'; shown = -1n; break;
    case ExpectedStreamRevisionCase.STREAM_EXISTS: expected = 'stream_exists'; shown = -4n; break;
    default: return callback(rpcError(grpc.status.INVALID_ARGUMENT, `${options.getExpectedStreamRevisionCase()}`));
  }
  if (!policy.mayUseStreams(call.metadata)) return callback(accessDenied());
  const stream = streamName(options.getStreamIdentifier()) ?? '';
  const outcome = log.softDelete(stream, expected);
  if (outcome.kind === 'wrong_expected_version') {
    return callback(rpcError(
      grpc.status.FAILED_PRECONDITION,
      `Delete failed due to WrongExpectedVersion. Stream: ${stream}, Expected version: ${shown}, Actual version: ${outcome.currentRevision}`,
      { exception: 'wrong-expected-version', 'stream-name': stream, 'expected-version': String(shown), 'actual-version': String(outcome.currentRevision) },
    ));
  }
  const position = new DeleteResp.Position().setCommitPosition(String(outcome.position)).setPreparePosition(String(outcome.position));
  callback(null, new DeleteResp().setPosition(position));
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
    method(streams, 'delete', []),
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
