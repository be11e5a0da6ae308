import { spawn } from 'node:child_process';
import { exitedAndRead, SERVER_ENTRY, serverEnvironment, TEST_KEY } from './server-process';

/** How a server process that was expected to refuse to start ended. */
export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `node dist/server/main.js` with `env` (on a free port, with the test key) and waits
 * for it to exit by itself; fails if it is still running after `timeoutMs` (it was
 * expected to refuse to start) and kills it.
 */
export async function runServerUntilExit(dataDir: string, env: Record<string, string> = {}, timeoutMs = 20_000): Promise<ServerExit> {
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    env: serverEnvironment(dataDir, TEST_KEY, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<ServerExit>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`The server was expected to exit but kept running:\n${stdout}${stderr}`));
    }, timeoutMs);
    void exitedAndRead(child).then((code) => {
      clearTimeout(timer);
      resolve({ code, signal: child.signalCode, stdout, stderr });
    });
  });
}
