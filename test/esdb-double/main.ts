/**
 * Runs the EventStoreDB double as a process:
 *   node dist/test/esdb-double/main.js [--port 2113] [--user admin:changeit …]
 * In memory. Without `--user` it is an insecure node (no TLS, no authentication). With
 * one or more `--user name:password` (or `ESDB_DOUBLE_USERS=name:password,…`) it is a
 * secure node: TLS with a throwaway CA, and every stream read or write needs one of those
 * users. It logs the connection string to use and stops on SIGINT/SIGTERM.
 */
import { startEsdbDouble } from './esdb-double';
import type { Users } from './auth';

/** The values of `--name value` and `--name=value`, in order. */
function flagValues(argv: readonly string[], name: string): string[] {
  const values: string[] = [];
  argv.forEach((arg, index) => {
    if (arg === name) values.push(argv[index + 1] ?? '');
    else if (arg.startsWith(`${name}=`)) values.push(arg.slice(name.length + 1));
  });
  return values;
}

function parsePort(argv: readonly string[]): number {
  const [text] = flagValues(argv, '--port');
  if (text === undefined) return 2113;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port needs a TCP port number, got ${String(text)}`);
  return port;
}

function parseUsers(argv: readonly string[], env: NodeJS.ProcessEnv): Users | undefined {
  const entries = [...flagValues(argv, '--user'), ...(env.ESDB_DOUBLE_USERS ?? '').split(',').map((entry) => entry.trim()).filter(Boolean)];
  if (entries.length === 0) return undefined;
  const users: Record<string, string> = {};
  for (const entry of entries) {
    const separator = entry.indexOf(':');
    if (separator <= 0 || separator === entry.length - 1) throw new Error('--user needs name:password');
    users[entry.slice(0, separator)] = entry.slice(separator + 1);
  }
  return users;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const users = parseUsers(argv, process.env);
  const double = await startEsdbDouble({ port: parsePort(argv), users });
  if (users) {
    const [name] = Object.keys(users);
    console.log(`EventStoreDB double listening (TLS; credentials required for ${Object.keys(users).join(', ')}); ` +
      `EVENTSTORE_CONNECTION_STRING=${double.connectionString.replace('://', `://${name}:<password>@`)}`);
  } else {
    console.log(`EventStoreDB double listening; EVENTSTORE_CONNECTION_STRING=${double.connectionString}`);
  }
  const shutdown = (): void => {
    void double.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
