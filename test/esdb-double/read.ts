/**
 * `Streams.Read` for finite reads (a `count`), following EventStore/EventStore
 * `src/EventStore.Core/Services/Transport/Grpc/Streams.Read.cs` and the enumerators in
 * `Services/Transport/Enumerators/`:
 * - stream reads start at a revision (inclusive) or at the start/end; a stream that
 *   does not exist answers one `stream_not_found` message (`ReadStreamForwards/Backwards`);
 *   events before the stream's truncate-before (`$tb`) are left out, so a soft-deleted
 *   stream reads as not found (`IndexReader` with the stream's metadata);
 * - `$all` reads forwards from a position include the event at that position;
 *   backwards reads from a position return the events that end at or before it, so
 *   the event at the position itself is not included (`AllReader.cs`);
 * - every `$all` read goes through the default `$all` filter, and a client filter is
 *   AND-ed with it; the count limits the events sent, not the events examined.
 */
import * as grpc from '@grpc/grpc-js';
import { ReadReq, ReadResp } from '@eventstore/db-client/generated/streams_pb';
import { AllFilter, compileFilter, passes } from './filters';
import type { LogRecord, TransactionLog } from './log';
import { eventResponse, send, streamIdentifier, streamName, UINT64_MAX, wantsStringUuids } from './wire';

const { ReadDirection } = ReadReq.Options;

/** Sends the events of a stream read, or `stream_not_found`. */
export async function readStream(log: TransactionLog, call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: ReadReq.Options): Promise<void> {
  const streamOptions = options.getStream() as ReadReq.Options.StreamOptions;
  const name = streamName(streamOptions.getStreamIdentifier()) ?? '';
  const records = log.stream(name);
  const first = log.truncateBefore(name);
  if (records.length === 0 || first >= BigInt(records.length)) {
    const notFound = new ReadResp.StreamNotFound().setStreamIdentifier(streamIdentifier(name));
    await send(call, new ReadResp().setStreamNotFound(notFound));
    return;
  }
  const forwards = options.getReadDirection() === ReadDirection.FORWARDS;
  const count = BigInt(options.getCount());
  const last = BigInt(records.length - 1);
  const { RevisionOptionCase } = ReadReq.Options.StreamOptions;
  let from: bigint;
  switch (streamOptions.getRevisionOptionCase()) {
    case RevisionOptionCase.START: from = first; break; // StreamRevision.Start: backwards it yields the first event alone
    case RevisionOptionCase.END: from = forwards ? last + 1n : last; break;
    case RevisionOptionCase.REVISION: from = BigInt(streamOptions.getRevision()); break;
    default: throw new TypeError('stream read without a revision option');
  }
  const asString = wantsStringUuids(options);
  let sent = 0n;
  if (forwards) {
    for (let revision = from < first ? first : from; revision <= last && sent < count; revision++, sent++) {
      if (!(await send(call, eventResponse(records[Number(revision)], asString)))) return;
    }
  } else {
    for (let revision = from > last ? last : from; revision >= first && sent < count; revision--, sent++) {
      if (!(await send(call, eventResponse(records[Number(revision)], asString)))) return;
    }
  }
}

/** Sends the events of a `$all` read, filtered or not. */
export async function readAll(log: TransactionLog, call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: ReadReq.Options): Promise<void> {
  const filterOptions = options.getFilter();
  const filter: AllFilter = filterOptions ? compileFilter(filterOptions) : null;
  const count = BigInt(options.getCount());
  const asString = wantsStringUuids(options);
  const emit = async (record: LogRecord): Promise<boolean> => send(call, eventResponse(record, asString));
  const allOptions = options.getAll() as ReadReq.Options.AllOptions;
  const { AllOptionCase } = ReadReq.Options.AllOptions;
  const position = allOptions.getPosition();
  let sent = 0n;
  if (options.getReadDirection() === ReadDirection.FORWARDS) {
    let index: number;
    switch (allOptions.getAllOptionCase()) {
      case AllOptionCase.START: index = 0; break;
      case AllOptionCase.END: index = log.length; break;
      default: index = log.firstIndexAtOrAfter(BigInt(position?.getCommitPosition() ?? '0'), BigInt(position?.getPreparePosition() ?? '0'));
    }
    // Re-read the length each time: appends made while this read waits for flow control are read too, as pages are on a server.
    for (; index < log.length && sent < count; index++) {
      const record = log.at(index);
      if (!passes(record, filter)) continue;
      if (!(await emit(record))) return;
      sent++;
    }
  } else {
    let end: number;
    switch (allOptions.getAllOptionCase()) {
      case AllOptionCase.START: end = 0; break;
      case AllOptionCase.END: end = log.length; break;
      default: {
        const commit = BigInt(position?.getCommitPosition() ?? '0');
        const prepare = BigInt(position?.getPreparePosition() ?? '0');
        end = commit === UINT64_MAX ? log.length : log.countEndingAtOrBefore(commit, prepare);
      }
    }
    for (let index = end - 1; index >= 0 && sent < count; index--) {
      const record = log.at(index);
      if (!passes(record, filter)) continue;
      if (!(await emit(record))) return;
      sent++;
    }
  }
}
