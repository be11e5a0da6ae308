/**
 * Conversions between the double's log and the protobuf messages generated inside
 * `@eventstore/db-client` (`generated/*_pb.js`), plus the gRPC error shapes the server
 * sends (EventStore/EventStore `src/EventStore.Core/Services/Transport/Grpc/RpcExceptions.cs`
 * and `Constants.cs`: an `exception` trailer naming the error, which the client's
 * `convertToCommandError` reads).
 */
import * as grpc from '@grpc/grpc-js';
import { StreamIdentifier, UUID } from '@eventstore/db-client/generated/shared_pb';
import { ReadReq, ReadResp } from '@eventstore/db-client/generated/streams_pb';
import type { LogRecord } from './log';

/** The largest uint64, which the server uses for `Position.End`. */
export const UINT64_MAX = 18_446_744_073_709_551_615n;

/** A gRPC error status with EventStoreDB's trailers. */
export function rpcError(code: grpc.status, details: string, trailers: Record<string, string> = {}): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
  return { code, details, metadata };
}

/** `RpcExceptions.MaxAppendSizeExceeded`. */
export function maxAppendSizeExceeded(maxAppendSize: number): Partial<grpc.StatusObject> {
  return rpcError(grpc.status.INVALID_ARGUMENT, `Maximum Append Size of ${maxAppendSize} Exceeded.`, {
    exception: 'maximum-append-size-exceeded',
    'maximum-append-size': String(maxAppendSize),
  });
}

/** `RpcExceptions.RequiredMetadataPropertyMissing`. */
export function requiredMetadataMissing(property: string): Partial<grpc.StatusObject> {
  return rpcError(grpc.status.INVALID_ARGUMENT, `Required Metadata Property '${property}' is missing`, {
    exception: 'missing-required-metadata-property',
    'required-metadata-properties': 'type,content-type',
  });
}

/** What ASP.NET Core's gRPC host answers when a handler throws (e.g. an unparsable event id). */
export function handlerThrew(): Partial<grpc.StatusObject> {
  return rpcError(grpc.status.UNKNOWN, 'Exception was thrown by handler.');
}

/** An error a handler throws to end its call with a specific status. */
export class RpcStatusError extends Error {
  constructor(readonly status: Partial<grpc.StatusObject>) {
    super(status.details);
  }
}

/**
 * Reads an event id as the server's `Uuid.FromDto` does: either the string form
 * (parsed like .NET `Guid.Parse`, so hyphens and braces are optional) or the
 * structured form (two signed 64-bit halves, most significant first).
 * Returns the lower-case hyphenated form, or null when it is not a UUID.
 */
export function parseUuid(uuid: UUID | undefined): string | null {
  if (!uuid) return null;
  let hex: string;
  if (uuid.hasStructured()) {
    const structured = uuid.getStructured() as UUID.Structured;
    const high = BigInt.asUintN(64, BigInt(structured.getMostSignificantBits()));
    const low = BigInt.asUintN(64, BigInt(structured.getLeastSignificantBits()));
    hex = high.toString(16).padStart(16, '0') + low.toString(16).padStart(16, '0');
  } else {
    hex = uuid.getString().replace(/^[{(]|[})]$/g, '').replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) return null;
  }
  hex = hex.toLowerCase();
  if (/^0{32}$/.test(hex)) return null; // `Event` rejects Guid.Empty
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An event id in the form the reader asked for (`UUIDOption`). */
export function toUuid(id: string, asString: boolean): UUID {
  const uuid = new UUID();
  if (asString) return uuid.setString(id);
  const hex = id.replace(/-/g, '');
  const structured = new UUID.Structured()
    .setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString())
    .setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString());
  return uuid.setStructured(structured);
}

/** A stream name as the wire carries it (UTF-8 bytes). */
export function streamIdentifier(name: string): StreamIdentifier {
  return new StreamIdentifier().setStreamName(Buffer.from(name, 'utf8'));
}

/** The stream name in a `StreamIdentifier`. */
export function streamName(identifier: StreamIdentifier | undefined): string | null {
  if (!identifier) return null;
  return Buffer.from(identifier.getStreamName_asU8()).toString('utf8');
}

/** A stored event as a `ReadResp` (`Streams.Read.cs` `ConvertToReadEvent`). */
export function eventResponse(record: LogRecord, uuidAsString: boolean): ReadResp {
  const recorded = new ReadResp.ReadEvent.RecordedEvent()
    .setId(toUuid(record.id, uuidAsString))
    .setStreamIdentifier(streamIdentifier(record.stream))
    .setStreamRevision(record.revision.toString())
    .setCommitPosition(record.position.toString())
    .setPreparePosition(record.position.toString())
    .setCustomMetadata(record.metadata)
    .setData(record.data);
  recorded.getMetadataMap()
    .set('type', record.type)
    .set('created', record.createdTicks.toString())
    .set('content-type', record.isJson ? 'application/json' : 'application/octet-stream');
  const event = new ReadResp.ReadEvent().setEvent(recorded).setCommitPosition(record.position.toString());
  return new ReadResp().setEvent(event);
}

/** Whether the reader asked for string UUIDs (the Node client always does). */
export function wantsStringUuids(options: ReadReq.Options): boolean {
  return options.getUuidOption()?.getContentCase() === ReadReq.Options.UUIDOption.ContentCase.STRING;
}

/**
 * Writes one message, waiting for the transport to drain when it asks to, so a
 * slow reader holds the server back as gRPC flow control does on a real server.
 * Resolves false when the call ended meanwhile.
 */
export async function send<T>(call: grpc.ServerWritableStream<unknown, T> | grpc.ServerDuplexStream<unknown, T>, message: T): Promise<boolean> {
  if (call.cancelled || call.destroyed) return false;
  if (call.write(message)) return true;
  // Plain listeners rather than events.once with an AbortSignal: this runs for most
  // messages of a large read, and abort signals cost more than the message itself.
  await new Promise<void>((resolve) => {
    const settle = (): void => {
      call.off('drain', settle);
      call.off('cancelled', settle);
      call.off('close', settle);
      resolve();
    };
    call.on('drain', settle);
    call.on('cancelled', settle);
    call.on('close', settle);
  });
  return !call.cancelled && !call.destroyed;
}
