/**
 * Server-side `$all` filters, as EventStoreDB applies them
 * (EventStore/EventStore `src/EventStore.Core/Services/Storage/ReaderIndex/EventFilter.cs`).
 *
 * Every read or subscription of `$all` goes through the default `$all` filter: all
 * non-system streams pass, and of the system streams only `$epoch-information` and
 * the persistent-subscription-to-`$all` checkpoint and parked streams are hidden. A
 * client filter (stream name or event type, by prefixes or by regex) is AND-ed with
 * it. Note what this means: an unfiltered `$all` read *does* return system events
 * such as `$metadata`, `$>` links or `$statsCollected`; excluding them is the client's
 * job, with a filter.
 *
 * Regexes are evaluated with JavaScript's engine where the server uses .NET's; both
 * search (unanchored) and agree on the simple expressions clients send.
 */
import type { ReadReq } from '@eventstore/db-client/generated/streams_pb';
import type { LogRecord } from './log';

/** A compiled filter; `null` stands for the default `$all` filter alone. */
export type AllFilter = ((record: LogRecord) => boolean) | null;

/** The default `$all` filter (`EventFilter.DefaultAllFilterStrategy`). */
export function defaultAllFilter(record: Pick<LogRecord, 'stream'>): boolean {
  const stream = record.stream;
  if (!stream.startsWith('$')) return true;
  if (stream === '$epoch-information') return false;
  if (stream.startsWith('$persistentsubscription-$all::') && (stream.endsWith('-checkpoint') || stream.endsWith('-parked'))) return false;
  return true;
}

/** Whether a record passes the default filter and, when given, the client's filter. */
export function passes(record: LogRecord, filter: AllFilter): boolean {
  return defaultAllFilter(record) && (filter === null || filter(record));
}

/** Thrown for filter options the server rejects; the caller turns it into a gRPC status. */
export class InvalidFilterError extends Error {}

/**
 * Compiles the request's filter as `Streams.Read.cs` `ConvertToEventFilter` does:
 * a non-empty regex wins over the prefix list.
 */
export function compileFilter(options: ReadReq.Options.FilterOptions): (record: LogRecord) => boolean {
  const streamExpression = options.getStreamIdentifier();
  const typeExpression = options.getEventType();
  const expression = streamExpression ?? typeExpression;
  if (!expression) throw new InvalidFilterError(`'${options.getFilterCase()}' is not a valid filter`);
  const field = streamExpression ? (record: LogRecord) => record.stream : (record: LogRecord) => record.type;
  const regex = expression.getRegex();
  if (regex !== '') {
    let compiled: RegExp;
    try {
      compiled = new RegExp(regex);
    } catch (error) {
      throw new InvalidFilterError(`invalid regex ${regex}: ${(error as Error).message}`);
    }
    return (record) => compiled.test(field(record));
  }
  const prefixes = expression.getPrefixList();
  return (record) => prefixes.some((prefix) => field(record).startsWith(prefix));
}
