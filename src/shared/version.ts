/**
 * EnderCompute's version, from package.json (compiled files sit three folders below it;
 * the server's bundle, scripts/bundle.mjs, takes it in at build time).
 */
export function packageVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
