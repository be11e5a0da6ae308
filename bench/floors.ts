/**
 * What the pieces of a large run cost alone on this machine, with nothing of
 * EnderCompute's own work in them: the floors its figures sit on. They carry no
 * verdict; they say how much of a ratio is the server's and how much is the
 * machine's (a target below their sum cannot be met here by any change to storing).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { openOutputChannel } from '../src/runs/runner/output-channel';
import { outputWriteAheadBytes } from '../src/runs/runner/read-pacing';
import { GROW_OUTPUT_BUFFER } from '../src/runs/runner/sandbox';

/** The size of the buffer the floor reads into: a run's batches are 4 MiB. */
const READ_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * `interpreter script` run with its stdout and stderr on the run's own output channel
 * (`src/runs/runner/output-channel.ts`), its send buffer grown as the sandbox's init
 * grows it, read as a run's channel is read (in large pieces, `read-pacing.ts`) into one
 * reused buffer and dropped: spawn → the process's exit and
 * the channel's end, in ms. What the server pays to read a run's output before it
 * stores a byte of it.
 */
export async function readThroughChannel(interpreter: string, script: string): Promise<{ ms: number; bytes: number }> {
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  let bytes = 0;
  const channel = await openOutputChannel(
    {
      target: () => buffer,
      read: (chunk) => {
        bytes += chunk.length;
      },
    },
    outputWriteAheadBytes(true),
  );
  const started = performance.now();
  const child = spawn('perl', ['-e', `${GROW_OUTPUT_BUFFER} exec @ARGV or exit 127;`, interpreter, script], {
    stdio: ['ignore', channel.writer, channel.writer],
  });
  channel.writer.destroy();
  await Promise.all([once(child, 'close'), once(channel.reader, 'close')]);
  return { ms: performance.now() - started, bytes };
}

/** The server of {@link serveFromMemory}: holds the file in memory and answers every request with it, whole. */
const MEMORY_SERVER = `
const body = require('node:fs').readFileSync(process.argv[1]);
const server = require('node:http').createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  response.end(body);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

/** A process answering every request with the bytes of one file, held in memory. */
export interface MemoryServer {
  /**
   * The bytes read back over loopback HTTP and hashed as they arrive, the way the
   * bench reads a run's output (`readOutputHashed`): request → last byte hashed, in ms.
   * The floor of reading a run's output back, whatever the server stores it in.
   */
  readBack(): Promise<{ ms: number; sha256: string }>;
  close(): void;
}

/** Starts a {@link MemoryServer} for `file` (read once, at start), in a process of its own as the server is. */
export async function serveFromMemory(file: string): Promise<MemoryServer> {
  const server = spawn(process.execPath, ['-e', MEMORY_SERVER, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(server.stdout, 'data')) as [Buffer];
  const url = `http://127.0.0.1:${Number(line.toString().trim())}/`;
  return {
    async readBack() {
      const started = performance.now();
      const response = await fetch(url);
      const hash = createHash('sha256');
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
      return { ms: performance.now() - started, sha256: hash.digest('hex') };
    },
    close: () => server.kill(),
  };
}
