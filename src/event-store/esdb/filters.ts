/**
 * How a port {@link EventFilter} becomes an EventStoreDB server-side filter plus a
 * local check.
 *
 * The server filters `$all` on one thing at a time: the stream name or the event type,
 * by prefixes or by regex (`ReadReq.Options.FilterOptions`), AND-ed with its default
 * `$all` filter, which hides only a few internal streams. System events (those in
 * `$`-streams: `$metadata`, `$>` links, `$statsCollected`, users, settings, …) are
 * therefore excluded by this filter, not by the server's default.
 *
 * The plan: event types when the filter names them (exact names, as one anchored
 * regex), else stream prefixes when they are all non-system, else the stream regex
 * `^[^$]` (every non-system stream). The local check then applies the whole port
 * filter and the system exclusion again, so whatever the server could not express
 * (both lists at once, system streams holding a wanted type) is still right.
 */
import { EventFilter, matchesFilter } from '../event-store.port';
import { isSystemName } from './mapping';

/** A filter the server can apply. */
export interface ServerFilter {
  on: 'streamName' | 'eventType';
  regex?: string;
  prefixes?: string[];
}

/** The server part and the local part of one port filter. */
export interface FilterPlan {
  server: ServerFilter;
  /** True for the events the port filter wants, system events never. */
  accepts(event: { stream: string; type: string }): boolean;
}

/** Every stream whose name does not start with `$`. */
export const NON_SYSTEM_STREAMS = '^[^$]';

/** Escapes a literal for both .NET (server) and JavaScript regexes. */
function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/** Splits a port filter into what the server filters and what is checked locally. */
export function planFilter(filter: EventFilter | undefined): FilterPlan {
  const accepts = (event: { stream: string; type: string }): boolean =>
    !isSystemName(event.stream) && !isSystemName(event.type) && matchesFilter(event, filter);
  const types = filter?.eventTypes;
  if (types && types.length > 0) {
    return { server: { on: 'eventType', regex: `^(?:${types.map(escapeRegex).join('|')})$` }, accepts };
  }
  const prefixes = filter?.streamPrefixes?.filter((prefix) => prefix !== '' && !isSystemName(prefix));
  if (prefixes && prefixes.length > 0 && prefixes.length === filter?.streamPrefixes?.length) {
    return { server: { on: 'streamName', prefixes }, accepts };
  }
  return { server: { on: 'streamName', regex: NON_SYSTEM_STREAMS }, accepts };
}
