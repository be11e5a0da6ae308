/**
 * Runs the EventStoreDB double as a process: `node dist/test/esdb-double/main.js [--port 2113]`.
 * Insecure (no TLS), in memory; it logs the connection string to use and stops on SIGINT/SIGTERM.
 */
import { startEsdbDouble } from './esdb-double';

function parsePort(argv: readonly string[]): number {
  const flag = argv.findIndex((arg) => arg === '--port' || arg.startsWith('--port='));
  if (flag === -1) return 2113;
  const text = argv[flag].includes('=') ? argv[flag].split('=')[1] : argv[flag + 1];
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port needs a TCP port number, got ${String(text)}`);
  return port;
}

async function main(): Promise<void> {
  const double = await startEsdbDouble({ port: parsePort(process.argv.slice(2)) });
  console.log(`EventStoreDB double listening; EVENTSTORE_CONNECTION_STRING=${double.connectionString}`);
  const shutdown = (): void => {
    void double.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
