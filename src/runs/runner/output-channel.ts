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
 * 100 MB read in 150–230 ms of CPU instead of 260–390 ms).
 *
 * Node makes connected sockets only through a listener, so each channel is one
 * connection to a listener on a path in a new directory of this process's own (mode
 * 0700, under the system's temporary directory: socket paths are limited to about
 * 100 bytes, and a data dir's path may be longer; a sandboxed run has a `/tmp` of its
 * own). The listener takes exactly one connection, the one that proves to be ours, and
 * is closed, its directory removed, before the process starts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processExists } from '../../shared/process-exists';
import { ReadPacing } from './read-pacing';

/** Bytes of the token that proves a connection to a channel's listener is this process's own. */
const TOKEN_BYTES = 16;
/** Connections with a wrong token a listener refuses before it gives up. */
const MAX_STRANGERS = 8;
/** How long pairing may take before the channel is given up (ms): it takes well under one here. */
const PAIRING_TIMEOUT_MS = 5_000;

/** What a listener's directory is called: this, the pid of the process that made it, a dash, a random suffix. */
const DIR_PREFIX = 'endercompute-out-';
const OWNED_DIR = new RegExp(`^${DIR_PREFIX}(\\d+)-`);
/**
 * How long a dead process's directory must have been left unchanged before it is
 * removed (ms): making the listener's socket changes it, and pairing takes at most
 * {@link PAIRING_TIMEOUT_MS}, so a directory still in use (by a process whose pid this
 * one cannot see, on a /tmp shared across containers) is never taken from a pairing.
 */
const ABANDONED_AFTER_MS = 60_000;
/** Whether this process has looked for directories that dead processes left (once, at its first channel). */
let swept = false;

/**
 * A new directory (0700: nobody else can have put anything in it) for one listener.
 * {@link openOutputChannel} removes it once paired, so it exists only while a run's
 * start pairs its channel: a process stopped in any way leaves none, except one
 * killed during those milliseconds, whose directory the next start removes.
 */
function listenerDirectory(): string {
  if (!swept) {
    swept = true;
    removeAbandonedDirectories(tmpdir());
  }
  return mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
}

/** Whether `path` is a directory (not a link) of this user's, 0700, unchanged for {@link ABANDONED_AFTER_MS}. */
function isAbandonable(path: string): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isDirectory() && stat.uid === process.getuid?.() && (stat.mode & 0o777) === 0o700 && Date.now() - stat.mtimeMs >= ABANDONED_AFTER_MS;
  } catch {
    return false;
  }
}

/**
 * Removes, from `parent`, the channel directories of processes that are gone: one
 * killed outright (SIGKILL, a crash, the power) while it paired a channel. Only
 * directories that are this user's, 0700, named with a pid no process has, and
 * unchanged for {@link ABANDONED_AFTER_MS}; others (and directories of earlier
 * versions, named without a pid) are left alone. Best effort: what cannot be read or
 * removed stays.
 */
function removeAbandonedDirectories(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const owner = OWNED_DIR.exec(name);
    if (!owner || processExists(Number(owner[1]))) continue;
    const path = join(parent, name);
    if (!isAbandonable(path)) continue;
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Left for the next start, or the system's cleaner of temporary files.
    }
  }
}

/** How the reading end is read: into `target()`, then `read(bytes)` with the bytes that arrived there. */
export interface ChannelReader {
  /** The buffer the next read lands in (its start). Called before every read. */
  target(): Buffer;
  /** `bytes`: the part of the last target that was filled. To stop reading, the owner holds the channel ({@link OutputChannel.hold}). */
  read(bytes: Buffer): void;
}

/** A connected pair: `writer` goes to the process, `reader` stays here. */
export interface OutputChannel {
  reader: Socket;
  writer: Socket;
  /**
   * `true`: read nothing until released with `false` (batches wait to be stored). Use
   * this rather than `reader.pause()`: reading also rests a moment after short reads
   * (see `read-pacing.ts`), and the two must not undo each other.
   */
  hold(held: boolean): void;
}

/**
 * Opens a channel whose reading end reads through `sink`. `writeAheadBytes`: the send
 * buffer the process's end will have (bytes; see `outputWriteAheadBytes` in
 * `read-pacing.ts`): with enough of it, reading rests after short reads (`read-pacing.ts`).
 *
 * The reading end first sends a random token, and the listener takes the first
 * connection that sends it (see {@link listenForOwn}): its directory is this user's
 * alone, but another process of the same user could connect first, and would otherwise
 * be handed the run's output.
 *
 * @throws Error (rejects) when the temporary directory cannot hold the listener, the
 *   connection fails (too many open files), strangers kept connecting, or pairing took
 *   longer than {@link PAIRING_TIMEOUT_MS}.
 */
export async function openOutputChannel(sink: ChannelReader, writeAheadBytes = 0): Promise<OutputChannel> {
  const dir = listenerDirectory();
  try {
    return await pair(join(dir, 'channel.sock'), sink, writeAheadBytes);
  } finally {
    // The listener is closed by now (its path removed): nothing connects here again.
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Listens at `path`, connects the reading end to it, and resolves with the pair once the listener took it. */
async function pair(path: string, sink: ChannelReader, writeAheadBytes: number): Promise<OutputChannel> {
  const token = randomBytes(TOKEN_BYTES);
  const listener = await listenForOwn(path, token);
  const reader = connect({
    path,
    onread: {
      buffer: () => sink.target(),
      callback: (length, buffer) => {
        sink.read(Buffer.from(buffer.buffer, buffer.byteOffset, length));
        pacing.afterRead(length, buffer.length);
        // Reading stops through the hold and the rests (`pacing`), never by this answer.
        return true;
      },
    },
  });
  // Reads come in later turns: the callback above never runs before this is set.
  const pacing = new ReadPacing(reader, writeAheadBytes);
  reader.once('close', () => pacing.stop());
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    reader.once('error', reject);
    timer = setTimeout(() => reject(new Error(`the output channel was not paired within ${PAIRING_TIMEOUT_MS / 1000} s`)), PAIRING_TIMEOUT_MS);
  });
  reader.write(token);
  try {
    const writer = await Promise.race([listener.accepted, failed]);
    return { reader, writer, hold: (held) => pacing.hold(held) };
  } catch (error) {
    listener.close();
    reader.destroy();
    // Ours may still be accepted after all: nobody will use it.
    listener.accepted.then((late) => late.destroy(), () => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks, at start, that this process can open output channels, so that an unusable
 * temporary directory (missing, read-only, full) stops the server or job server with
 * a clear message rather than failing every run.
 *
 * @throws Error saying which directory and what to do.
 */
export async function requireOutputChannel(): Promise<void> {
  try {
    const channel = await openOutputChannel({ target: () => Buffer.alloc(64), read: () => true });
    channel.writer.destroy();
    channel.reader.destroy();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Runs cannot be started: cannot open the channel runs write their output into, in the temporary directory ${tmpdir()} (${reason}); make it writable, or point TMPDIR at a writable directory`);
  }
}

/** A listener waiting for the connection that proves to be ours. */
export interface OwnListener {
  /** The first connection that sent the token, paused, with nothing read beyond it; the listener is closed by then. */
  accepted: Promise<Socket>;
  /** Stops listening (removing the path) and closes every connection not accepted. */
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
  const unproven = new Set<Socket>();
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
    for (const socket of unproven) socket.destroy();
    unproven.clear();
  };
  server.on('connection', (socket) => {
    unproven.add(socket);
    readToken(socket).then((sent) => {
      unproven.delete(socket);
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
    }, () => {
      unproven.delete(socket);
      socket.destroy();
    });
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
      socket.off('close', onEnd);
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
    // Destroyed while waiting (the listener closed): settles too.
    socket.once('close', onEnd);
    socket.once('error', reject);
    socket.resume();
  });
}
