/**
 * The channel a run's process writes its output into: a connected pair of Unix
 * stream sockets, one end given to the process as stdout (and stderr), the other
 * read here straight into the buffers the output is batched in.
 *
 * Node's `stdio: 'pipe'` gives the same kind of socket pair, but reads it into a
 * fresh 64 KiB buffer per read, which is then copied into a batch: for a writer as
 * fast as `yes`, 100 MB meant thousands of allocations (each counted against V8's
 * external memory, so collections) and one more copy of every byte. A socket made
 * here can be read with `onread` into a buffer of our choosing (measured alone:
 * 100 MB read in 160–210 ms of CPU instead of 260–390 ms).
 *
 * Node makes connected sockets only through a listener, so each channel is one
 * connection to a listener on a path in a directory of this process's own (mode
 * 0700, under the system's temporary directory: socket paths are limited to about
 * 100 bytes, and a data dir's path may be longer; a sandboxed run has a `/tmp` of its
 * own). The listener takes exactly one connection, the one that proves to be ours, and
 * is closed (its path removed) before the process starts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where this process's channel listeners live; made on first use, removed at exit. */
let socketDir: string | null = null;
let nextChannel = 0;

function channelPath(): string {
  if (socketDir === null) {
    const dir = mkdtempSync(join(tmpdir(), 'endercompute-out-'));
    socketDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return join(socketDir, `${nextChannel++}.sock`);
}

/** How the reading end is read: into `target()`, then `read(bytes)` with the bytes that arrived there. */
export interface ChannelReader {
  /** The buffer the next read lands in (its start). Called before every read. */
  target(): Buffer;
  /** `bytes`: the part of the last target that was filled. Return false to stop reading (resume with `reader.resume()`). */
  read(bytes: Buffer): boolean;
}

/** A connected pair: `writer` goes to the process, `reader` stays here. */
export interface OutputChannel {
  reader: Socket;
  writer: Socket;
}

/** Bytes of the token that proves a connection to a channel's listener is this process's own. */
const TOKEN_BYTES = 16;
/** Connections with a wrong token a listener refuses before it gives up. */
const MAX_STRANGERS = 8;

/**
 * Opens a channel whose reading end reads through `sink`.
 *
 * The reading end first sends a random token, and the listener takes the first
 * connection that sends it (see {@link listenForOwn}): its directory is this user's
 * alone, but a process of the same user that is not sandboxed could connect first, and
 * would otherwise be handed the run's output.
 *
 * @throws Error (rejects) when the listener or the connection fails (no space for the
 *   path, too many open files), or when strangers kept connecting.
 */
export async function openOutputChannel(sink: ChannelReader): Promise<OutputChannel> {
  try {
    return await openAt(channelPath(), sink);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // The directory went (a cleaner of old temporary files, on a server idle for days): a new one.
    socketDir = null;
    return openAt(channelPath(), sink);
  }
}

async function openAt(path: string, sink: ChannelReader): Promise<OutputChannel> {
  const token = randomBytes(TOKEN_BYTES);
  const listener = await listenForOwn(path, token);
  const reader = connect({
    path,
    onread: {
      buffer: () => sink.target(),
      callback: (length, buffer) => sink.read(Buffer.from(buffer.buffer, buffer.byteOffset, length)),
    },
  });
  const failed = new Promise<never>((_, reject) => reader.once('error', reject));
  reader.write(token);
  try {
    const writer = await Promise.race([listener.accepted, failed]);
    return { reader, writer };
  } catch (error) {
    listener.close();
    reader.destroy();
    throw error;
  }
}

/** A listener waiting for the connection that proves to be ours. */
export interface OwnListener {
  /** The first connection that sent the token, paused, with nothing read beyond it; the listener is closed by then. */
  accepted: Promise<Socket>;
  close(): void;
}

/**
 * Listens at `path` (resolves once listening) for the first connection that sends
 * `token` first; others are closed, and after {@link MAX_STRANGERS} of them `accepted`
 * rejects.
 *
 * @throws Error (rejects) when it cannot listen at `path`.
 */
export function listenForOwn(path: string, token: Buffer): Promise<OwnListener> {
  // The process's end is never read here, beyond the token.
  const server = createServer({ pauseOnConnect: true });
  let strangers = 0;
  let settled = false;
  let accept: (socket: Socket) => void = () => undefined;
  let refuse: (error: Error) => void = () => undefined;
  const accepted = new Promise<Socket>((resolve, reject) => {
    accept = resolve;
    refuse = reject;
  });
  // Awaited by the caller once listening; until then a failure must not count as unhandled.
  accepted.catch(() => undefined);
  const close = (): void => {
    settled = true;
    // Closing the listener removes its path: nobody else can connect.
    server.close();
  };
  server.on('connection', (socket) => {
    readToken(socket).then((sent) => {
      if (!settled && sent !== null && sent.length === token.length && timingSafeEqual(sent, token)) {
        close();
        accept(socket);
        return;
      }
      socket.destroy();
      if (!settled && ++strangers >= MAX_STRANGERS) {
        close();
        refuse(new Error(`${strangers} connections to the output channel's listener were not this server's`));
      }
    }, () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error) => {
      close();
      refuse(error);
      reject(error);
    });
    server.listen(path, () => resolve({ accepted, close }));
  });
}

/** The first {@link TOKEN_BYTES} bytes a connection sends (null when it ends first); then it is paused again, with nothing more read. */
function readToken(socket: Socket): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (value: Buffer | null): void => {
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', reject);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      // Ours sends the token and nothing else before the process has the other end.
      if (size >= TOKEN_BYTES) done(size === TOKEN_BYTES ? Buffer.concat(chunks) : null);
    };
    const onEnd = (): void => done(null);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', reject);
    socket.resume();
  });
}
