/**
 * `Streams.Append` and `Streams.BatchAppend`, following EventStore/EventStore
 * `src/EventStore.Core/Services/Transport/Grpc/Streams.Append.cs`,
 * `Streams.BatchAppend.cs`, `Status.cs` and `WrongExpectedVersion.cs`:
 * - `Append` is client-streaming: options first, then proposed messages; each needs
 *   `type` and `content-type` metadata; the sizes (`Event.SizeOnDisk`: data + metadata
 *   + 2 × type length) add up and the call fails as soon as they pass the maximum
 *   append size (1 MiB by default, `ClusterVNodeOptions.MaxAppendSize`). A wrong
 *   expected version is a normal response carrying the current and expected revisions,
 *   in both the current fields and the deprecated 20.6.0 ones.
 * - `BatchAppend` is bidirectional: requests carry a correlation id; options come with
 *   the first request of a write, events may span several requests, `is_final` commits.
 *   Failures are `google.rpc.Status` values with packed details
 *   (`event_store.client.WrongExpectedVersion`, `…MaximumAppendSizeExceeded`, …).
 */
import * as grpc from '@grpc/grpc-js';
import { Any } from 'google-protobuf/google/protobuf/any_pb';
import { Empty as ProtoEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import { AccessDenied, AllStreamPosition, BadRequest, Empty, MaximumAppendSizeExceeded, Timeout, UUID, WrongExpectedVersion } from '@eventstore/db-client/generated/shared_pb';
import { Code } from '@eventstore/db-client/generated/code_pb';
import { Status } from '@eventstore/db-client/generated/status_pb';
import { AppendReq, AppendResp, BatchAppendReq, BatchAppendResp } from '@eventstore/db-client/generated/streams_pb';
import { accessDenied, type AccessPolicy } from './auth';
import { eventSizeOnDisk, ExpectedVersion, ProposedEvent, TransactionLog } from './log';
import { handlerThrew, maxAppendSizeExceeded, parseUuid, requiredMetadataMissing, RpcStatusError, send, streamIdentifier, streamName } from './wire';

/** Limits a server is configured with. */
export interface AppendLimits {
  /** `MaxAppendSize`, in `Event.SizeOnDisk` bytes summed over one append. */
  maxAppendSize: number;
}

/** Turns a proposed message into an event, or throws the status the server would answer. */
function proposed(message: AppendReq.ProposedMessage | BatchAppendReq.ProposedMessage): ProposedEvent {
  const metadata = message.getMetadataMap();
  const type = metadata.get('type');
  if (type === undefined) throw new RpcStatusError(requiredMetadataMissing('type'));
  const contentType = metadata.get('content-type');
  if (contentType === undefined) throw new RpcStatusError(requiredMetadataMissing('content-type'));
  const id = parseUuid(message.getId());
  // `Uuid.FromDto` / `new Event(…)` throw for a bad or empty id, and the host answers Unknown.
  if (id === null || type === '') throw new RpcStatusError(handlerThrew());
  return {
    id, type, isJson: contentType === 'application/json',
    data: message.getData_asU8(), metadata: message.getCustomMetadata_asU8(),
  };
}

/** `Streams.Append`. */
export function append(log: TransactionLog, limits: AppendLimits, policy: AccessPolicy): grpc.handleClientStreamingCall<AppendReq, AppendResp> {
  return (call, callback) => {
    let options: AppendReq.Options | undefined;
    const events: ProposedEvent[] = [];
    let size = 0;
    let done = false;
    const fail = (status: Partial<grpc.StatusObject>): void => {
      if (done) return;
      done = true;
      callback(status);
    };
    call.on('data', (request: AppendReq) => {
      if (done) return;
      try {
        if (!options) {
          // The first message must be the options (`InvalidOperationException` otherwise).
          if (!request.hasOptions()) throw new RpcStatusError(handlerThrew());
          options = request.getOptions() as AppendReq.Options;
          // `Streams.Append.cs` checks write access right after the options, before any event.
          if (!policy.mayUseStreams(call.metadata)) throw new RpcStatusError(accessDenied());
          return;
        }
        if (!request.hasProposedMessage()) throw new RpcStatusError(handlerThrew());
        const event = proposed(request.getProposedMessage() as AppendReq.ProposedMessage);
        size += eventSizeOnDisk(event.type, event.data, event.metadata);
        if (size > limits.maxAppendSize) throw new RpcStatusError(maxAppendSizeExceeded(limits.maxAppendSize));
        events.push(event);
      } catch (error) {
        fail(error instanceof RpcStatusError ? error.status : handlerThrew());
      }
    });
    call.on('error', () => { done = true; });
    call.on('end', () => {
      if (done) return;
      if (!options) return fail(handlerThrew());
      const name = streamName(options.getStreamIdentifier()) ?? '';
      const expected = appendExpected(options);
      const outcome = log.append(name, expected, events);
      done = true;
      const response = new AppendResp();
      if (outcome.kind === 'success') {
        const success = new AppendResp.Success();
        if (outcome.currentRevision < 0n) success.setNoStream(new Empty());
        else success.setCurrentRevision(outcome.currentRevision.toString());
        success.setPosition(new AppendResp.Position()
          .setCommitPosition(outcome.position.toString())
          .setPreparePosition(outcome.position.toString()));
        callback(null, response.setSuccess(success));
        return;
      }
      callback(null, response.setWrongExpectedVersion(appendWrongExpectedVersion(expected, outcome.currentRevision)));
    });
  };
}

function appendExpected(options: AppendReq.Options): ExpectedVersion {
  const Case = AppendReq.Options.ExpectedStreamRevisionCase;
  switch (options.getExpectedStreamRevisionCase()) {
    case Case.REVISION: return BigInt(options.getRevision());
    case Case.NO_STREAM: return 'no_stream';
    case Case.STREAM_EXISTS: return 'stream_exists';
    case Case.ANY: return 'any';
    default: throw new RpcStatusError(handlerThrew());
  }
}

/** The `wrong_expected_version` response, with the 20.6.0 fields as the server still fills them. */
function appendWrongExpectedVersion(expected: ExpectedVersion, current: bigint): AppendResp.WrongExpectedVersion {
  const wrong = new AppendResp.WrongExpectedVersion();
  if (expected === 'any') wrong.setExpectedAny(new Empty()).setAny2060(new Empty());
  else if (expected === 'stream_exists') wrong.setExpectedStreamExists(new Empty()).setStreamExists2060(new Empty());
  // The server puts ulong.MaxValue in the deprecated field for no_stream; the generated
  // JavaScript holds these deprecated uint64 fields as numbers, which cannot carry it, so it is left out.
  else if (expected === 'no_stream') wrong.setExpectedNoStream(new Empty());
  else wrong.setExpectedRevision(expected.toString()).setExpectedRevision2060(Number(expected));
  if (current < 0n) wrong.setCurrentNoStream(new Empty()).setNoStream2060(new Empty());
  else wrong.setCurrentRevision(current.toString()).setCurrentRevision2060(Number(current));
  return wrong;
}

/** A packed `google.rpc.Status` as `Status.cs` builds them. */
function status(code: grpc.status, message: string, detail: { serializeBinary(): Uint8Array }, typeName: string): Status {
  const any = new Any();
  any.pack(detail.serializeBinary(), typeName);
  // grpc.status and google.rpc.Code share their numbering.
  return new Status().setCode(code as number as Code).setMessage(message).setDetails(any);
}

function badRequest(message: string): Status {
  return status(grpc.status.INVALID_ARGUMENT, 'BadRequest', new BadRequest().setMessage(message), 'event_store.client.BadRequest');
}

interface PendingWrite {
  stream: string;
  expected: ExpectedVersion;
  events: ProposedEvent[];
  size: number;
}

/** `Streams.BatchAppend` (`BatchAppendWorker`). */
export function batchAppend(log: TransactionLog, limits: AppendLimits, policy: AccessPolicy): grpc.handleBidiStreamingCall<BatchAppendReq, BatchAppendResp> {
  return (call) => {
    const pending = new Map<string, PendingWrite>();
    // Responses go out in order through one chain, so flow control is respected.
    let chain = Promise.resolve(true);
    const respond = (response: BatchAppendResp): void => { chain = chain.then(() => send(call, response)); };
    const fail = (correlation: UUID | undefined, stream: string, error: Status): void => {
      respond(new BatchAppendResp().setCorrelationId(correlation).setStreamIdentifier(streamIdentifier(stream)).setError(error));
    };

    call.on('data', (request: BatchAppendReq) => {
      const correlation = request.getCorrelationId();
      const key = parseUuid(correlation) ?? '';
      const options = request.getOptions();
      try {
        if (options) {
          const stream = streamName(options.getStreamIdentifier());
          // `Streams.BatchAppend.cs` checks write access first and answers `Status.AccessDenied`;
          // the write's later requests find nothing pending and are ignored.
          if (!policy.mayUseStreams(call.metadata)) {
            return fail(correlation, stream ?? '', status(grpc.status.PERMISSION_DENIED, 'AccessDenied', new AccessDenied(), 'event_store.client.AccessDenied'));
          }
          if (stream === null) {
            return fail(correlation, '', badRequest('Required field StreamIdentifier not set.'));
          }
          const deadline = options.getDeadline();
          if (deadline && deadline.toDate().getTime() <= Date.now()) {
            return fail(correlation, stream, status(grpc.status.DEADLINE_EXCEEDED, 'Timeout', new Timeout(), 'event_store.client.Timeout'));
          }
          if (!pending.has(key)) pending.set(key, { stream, expected: batchExpected(options), events: [], size: 0 });
        }
        const write = pending.get(key);
        if (!write) return; // an earlier request of this write failed: the rest is ignored
        for (const message of request.getProposedMessagesList()) {
          const event = proposed(message);
          write.size += eventSizeOnDisk(event.type, event.data, event.metadata);
          write.events.push(event);
        }
        if (write.size > limits.maxAppendSize) {
          pending.delete(key);
          const detail = new MaximumAppendSizeExceeded().setMaxappendsize(limits.maxAppendSize);
          return fail(correlation, write.stream, status(grpc.status.INVALID_ARGUMENT, 'MaximumAppendSizeExceeded', detail, 'event_store.client.MaximumAppendSizeExceeded'));
        }
        if (!request.getIsFinal()) return;
        pending.delete(key);
        respond(commit(log, write).setCorrelationId(correlation).setStreamIdentifier(streamIdentifier(write.stream)));
      } catch (error) {
        // `BatchAppendWorker.Receive` answers any exception with a BadRequest status.
        const stream = pending.get(key)?.stream ?? streamName(options?.getStreamIdentifier()) ?? '';
        pending.delete(key);
        fail(correlation, stream, badRequest(error instanceof Error ? error.message : String(error)));
      }
    });
    call.on('end', () => { void chain.then(() => call.end()); });
    call.on('error', () => pending.clear());
  };
}

function batchExpected(options: BatchAppendReq.Options): ExpectedVersion {
  const Case = BatchAppendReq.Options.ExpectedStreamPositionCase;
  switch (options.getExpectedStreamPositionCase()) {
    case Case.STREAM_POSITION: return BigInt(options.getStreamPosition());
    case Case.NO_STREAM: return 'no_stream';
    case Case.STREAM_EXISTS: return 'stream_exists';
    default: return 'any';
  }
}

function commit(log: TransactionLog, write: PendingWrite): BatchAppendResp {
  const outcome = log.append(write.stream, write.expected, write.events);
  if (outcome.kind === 'wrong_expected_version') {
    const detail = new WrongExpectedVersion();
    if (outcome.currentRevision < 0n) detail.setCurrentNoStream(new ProtoEmpty());
    else detail.setCurrentStreamRevision(outcome.currentRevision.toString());
    if (write.expected === 'any') detail.setExpectedAny(new ProtoEmpty());
    else if (write.expected === 'no_stream') detail.setExpectedNoStream(new ProtoEmpty());
    else if (write.expected === 'stream_exists') detail.setExpectedStreamExists(new ProtoEmpty());
    else detail.setExpectedStreamPosition(write.expected.toString());
    return new BatchAppendResp().setError(status(grpc.status.ALREADY_EXISTS, 'WrongExpectedVersion', detail, 'event_store.client.WrongExpectedVersion'));
  }
  const success = new BatchAppendResp.Success();
  if (outcome.currentRevision < 0n) success.setNoStream(new ProtoEmpty());
  else success.setCurrentRevision(outcome.currentRevision.toString());
  success.setPosition(new AllStreamPosition().setCommitPosition(outcome.position.toString()).setPreparePosition(outcome.position.toString()));
  return new BatchAppendResp().setSuccess(success);
}
