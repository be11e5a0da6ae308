/**
 * A filtered read of `$all`: `Streams.Read` with a `count` and a `filter`.
 *
 * The server has served filtered `$all` reads since the first gRPC release (20.6;
 * EventStore/EventStore `Streams.Read.cs`, `ReadAllForwardsFiltered` and
 * `ReadAllBackwardsFiltered`), but `@eventstore/db-client` 6.x only exposes filters on
 * subscriptions: its `readAll` always sends `no_filter`. So this file builds the request
 * from the client's own generated messages and sends it through the client's own
 * connection, with the two members the client uses for each of its commands
 * (`GRPCStreamCreator`, `callArguments`, both `protected`). That keeps one channel,
 * the client's reconnection handling (a failed stream resets the channel) and
 * `dispose()` cancelling the read. The members are reached through a narrow
 * interface, so a client upgrade that changes them fails here, loudly, and the
 * integration tests catch it.
 */
import type { Readable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { convertToCommandError, EventStoreDBClient } from '@eventstore/db-client';
import type { RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import { Empty, UUID } from '@eventstore/db-client/generated/shared_pb';
import { StreamsClient } from '@eventstore/db-client/generated/streams_grpc_pb';
import { ReadReq, ReadResp } from '@eventstore/db-client/generated/streams_pb';
import type { Direction, Position } from '../event-store.port';
import type { ServerFilter } from './filters';

/** The `protected` members of the client this read uses. */
interface ClientInternals {
  GRPCStreamCreator<C extends grpc.Client, T extends Readable>(
    Client: new (address: string, credentials: grpc.ChannelCredentials, options?: object) => C,
    debugName: string,
    creator: (client: C) => T | Promise<T>,
  ): () => Promise<T>;
  callArguments(options: object, callOptions?: grpc.CallOptions): [grpc.Metadata, grpc.CallOptions];
}

/** What to read. */
export interface FilteredReadOptions {
  direction: Direction;
  /** Where to start: the server includes the event at a position forwards and excludes it backwards. */
  from: Position | 'start' | 'end';
  /** The most events the server sends (it counts events that pass the filter). */
  count: number;
  filter: ServerFilter;
  /** A deadline for the whole read; none by default, as the client's own reads have none. */
  deadlineMs?: number;
}

/** Reads `$all` with a server-side filter; events come back in the client's shape. */
export async function readAllFiltered(client: EventStoreDBClient, options: FilteredReadOptions): Promise<EsdbRecordedEvent[]> {
  const internals = client as unknown as ClientInternals;
  const request = new ReadReq().setOptions(requestOptions(options));
  const deadline = options.deadlineMs === undefined ? Infinity : new Date(Date.now() + options.deadlineMs);
  const [metadata, callOptions] = internals.callArguments({}, { deadline });
  const events: EsdbRecordedEvent[] = [];
  try {
    const stream = await internals.GRPCStreamCreator(StreamsClient, 'readAllFiltered', (grpcClient: StreamsClient) =>
      grpcClient.read(request, metadata, callOptions),
    )();
    for await (const response of stream as AsyncIterable<ReadResp>) {
      const event = response.getEvent()?.getEvent();
      if (event) events.push(fromGrpcRecord(event));
    }
  } catch (error) {
    throw convertToCommandError(error as Error);
  }
  return events;
}

function requestOptions({ direction, from, count, filter }: FilteredReadOptions): ReadReq.Options {
  const all = new ReadReq.Options.AllOptions();
  if (from === 'start') all.setStart(new Empty());
  else if (from === 'end') all.setEnd(new Empty());
  else all.setPosition(new ReadReq.Options.Position().setCommitPosition(from.commit.toString()).setPreparePosition(from.prepare.toString()));

  const expression = new ReadReq.Options.FilterOptions.Expression();
  if (filter.regex !== undefined) expression.setRegex(filter.regex);
  if (filter.prefixes !== undefined) expression.setPrefixList(filter.prefixes);
  const filterOptions = new ReadReq.Options.FilterOptions().setCount(new Empty()).setCheckpointintervalmultiplier(1);
  if (filter.on === 'streamName') filterOptions.setStreamIdentifier(expression);
  else filterOptions.setEventType(expression);

  return new ReadReq.Options()
    .setAll(all)
    .setReadDirection(direction === 'forwards' ? ReadReq.Options.ReadDirection.FORWARDS : ReadReq.Options.ReadDirection.BACKWARDS)
    .setResolveLinks(false)
    .setCount(String(count))
    .setFilter(filterOptions)
    .setUuidOption(new ReadReq.Options.UUIDOption().setString(new Empty()));
}

/** .NET ticks (100 ns) per millisecond: the server's `created` is in ticks since the Unix epoch. */
const TICKS_PER_MS = 10_000n;

/** A `RecordedEvent` message in the shape the client gives its own reads. */
function fromGrpcRecord(record: ReadResp.ReadEvent.RecordedEvent): EsdbRecordedEvent {
  const map = record.getMetadataMap();
  const type = map.get('type') ?? '';
  const isJson = map.get('content-type') === 'application/json';
  const created = map.get('created');
  const rawData = record.getData_asU8();
  const rawMetadata = record.getCustomMetadata_asU8();
  const identifier = record.getStreamIdentifier();
  return {
    streamId: identifier ? Buffer.from(identifier.getStreamName_asU8()).toString('utf8') : '',
    id: uuidString(record.getId()),
    revision: BigInt(record.getStreamRevision()),
    type,
    data: isJson ? parseJson(rawData) : rawData,
    metadata: rawMetadata.length === 0 ? undefined : parseJson(rawMetadata),
    isJson,
    created: new Date(created ? Number(BigInt(created) / TICKS_PER_MS) : 0),
    position: { commit: BigInt(record.getCommitPosition()), prepare: BigInt(record.getPreparePosition()) },
  } as EsdbRecordedEvent;
}

/** JSON when it parses, else the text (as the client does for malformed JSON). */
function parseJson(bytes: Uint8Array): unknown {
  const text = Buffer.from(bytes).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function uuidString(uuid: UUID | undefined): string {
  if (!uuid) return '';
  if (!uuid.hasStructured()) return uuid.getString();
  const structured = uuid.getStructured() as UUID.Structured;
  const hex = (value: string): string => BigInt.asUintN(64, BigInt(value)).toString(16).padStart(16, '0');
  const all = hex(structured.getMostSignificantBits()) + hex(structured.getLeastSignificantBits());
  return `${all.slice(0, 8)}-${all.slice(8, 12)}-${all.slice(12, 16)}-${all.slice(16, 20)}-${all.slice(20)}`;
}
