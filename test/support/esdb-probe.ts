/**
 * A probe a job script can run to try writing to EventStoreDB itself, the way a hostile
 * job would: the source of a Node script that appends one event with
 * `@eventstore/db-client` (loaded from this checkout's node_modules by absolute path, so
 * it works from any work directory) and prints one line:
 * - `APPEND_OK` when the append was accepted;
 * - `APPEND_REFUSED:<error class>` when it was refused or failed, e.g.
 *   `APPEND_REFUSED:AccessDeniedError` for a node that requires credentials the probe
 *   does not have (`UnavailableError`, `UnknownError`, … for other failures).
 * It exits 0 either way, so the run's output, not its status, tells what happened.
 *
 * Usage in a test: write `esdbAppendProbe()` into a template with interpreter `node`, and
 * pass the connection string (and optionally the stream) as the run's arguments:
 * `node probe.js 'esdb://127.0.0.1:2113?tls=true&tlsCAFile=/…/ca.crt' [stream]`.
 */
import { resolve } from 'node:path';

/** Absolute path of the client package in this checkout. */
export const ESDB_CLIENT_PATH = resolve(__dirname, '../../../node_modules/@eventstore/db-client');

/** The probe's source (CommonJS, Node 20). */
export function esdbAppendProbe(clientPath: string = ESDB_CLIENT_PATH): string {
  return `'use strict';
const { EventStoreDBClient, jsonEvent } = require(${JSON.stringify(clientPath)});
const [connectionString, stream = 'probe-' + Date.now()] = process.argv.slice(2);
(async () => {
  let client;
  try {
    client = EventStoreDBClient.connectionString(connectionString);
    await client.appendToStream(stream, jsonEvent({ type: 'ProbeAppended', data: { by: 'a job' } }));
    console.log('APPEND_OK');
  } catch (error) {
    console.log('APPEND_REFUSED:' + ((error && error.constructor && error.constructor.name) || 'Error'));
  } finally {
    if (client) await client.dispose().catch(() => undefined);
  }
})();
`;
}
