/**
 * When the reading end of a run's output channel reads: in large pieces while the
 * run writes fast, at once while it writes little.
 *
 * A socket read as soon as it holds anything wakes the server once per write of the
 * script: `yes | head -c 100000000` writes 8 KiB at a time, so its 100 MB came in
 * about 10,600 reads, each a wake-up of the server's thread and of the writer's. On
 * two cores the three (`yes`, `head`, the server) took 290 ms of the channel alone,
 * 160 ms of it the server's CPU. Resting a millisecond after a short read lets the
 * channel's buffer (the send buffer the init grows, `sandbox.ts`) fill meanwhile:
 * the same 100 MB came in about 120 reads of about 0.8 MiB, in 194–229 ms, with 40–50
 * ms of the server's CPU (docs/DESIGN.md, "Reading in large pieces").
 *
 * A short read is one that neither reached {@link GATHER_BYTES} nor filled the room
 * it was given; a read that filled its room is followed by another at once. Output
 * reaches live viewers about {@link REST_MS} later than it would have (a timer of 1 ms
 * fires after 1–2).
 *
 * Resting needs room for the writer to go on meanwhile: with the kernel's default
 * send buffer (208 KiB, doubled to 416 KiB when granted) the writer filled it within
 * the rest and waited, and the same 100 MB took 650 ms instead of 250. So reading
 * rests only when the writer's buffer holds at least {@link REST_NEEDS_WRITE_AHEAD_BYTES}:
 * a writer faster than a megabyte per rest then makes reads of a megabyte or more,
 * which are not followed by rests, before it could fill the buffer.
 */

import { readFileSync } from 'node:fs';
import { OUTPUT_SEND_BUFFER_BYTES } from './sandbox';

/** A read at least this large (bytes) is not followed by a rest: the writer is fast and reads are already large. */
export const GATHER_BYTES = 1024 * 1024;
/** How long reading rests after a short read (ms). When it rests at all, the writer can write 4 MiB ahead: a millisecond of `yes` is about 0.5 MiB. */
export const REST_MS = 1;

/** How much the writer must be able to write ahead (its send buffer, bytes) for reading to rest at all: four rests' worth of a writer at 1 GB/s. */
export const REST_NEEDS_WRITE_AHEAD_BYTES = 4 * GATHER_BYTES;

/** Linux's defaults when its settings cannot be read (`net.core.wmem_default` and `wmem_max`). */
const KERNEL_DEFAULT_SEND_BUFFER_BYTES = 212_992;

/**
 * The send buffer a run's end of the output channel has (bytes): with the init's
 * request (`GROW_OUTPUT_BUFFER` in `sandbox.ts`), twice the smaller of it and
 * `net.core.wmem_max` (Linux doubles what it grants); without it (a run outside the
 * sandbox), `net.core.wmem_default`. Read from /proc/sys once; Linux's defaults
 * when that cannot be read.
 */
export function outputWriteAheadBytes(grown: boolean): number {
  sendBufferSettings ??= { max: kernelSetting('wmem_max'), fallback: kernelSetting('wmem_default') };
  return grown ? 2 * Math.min(OUTPUT_SEND_BUFFER_BYTES, sendBufferSettings.max) : sendBufferSettings.fallback;
}
let sendBufferSettings: { max: number; fallback: number } | undefined;

function kernelSetting(name: string): number {
  try {
    const value = Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim());
    return Number.isSafeInteger(value) && value > 0 ? value : KERNEL_DEFAULT_SEND_BUFFER_BYTES;
  } catch {
    return KERNEL_DEFAULT_SEND_BUFFER_BYTES;
  }
}

/** The part of a socket that pacing drives. */
export interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

/**
 * Pauses and resumes a channel's reading end for two reasons at once: the rest after a
 * short read, and the owner's hold (batches waiting to be stored). It reads only when
 * neither holds it.
 */
export class ReadPacing {
  private held = false;
  private rest: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly rests: boolean;

  /** `writeAheadBytes`: the send buffer of the writer's end, as the kernel sized it (see {@link outputWriteAheadBytes}). */
  constructor(
    private readonly socket: Pausable,
    writeAheadBytes: number,
  ) {
    this.rests = writeAheadBytes >= REST_NEEDS_WRITE_AHEAD_BYTES;
  }

  /** After each read: `length` bytes arrived where `room` bytes could have. */
  afterRead(length: number, room: number): void {
    if (!this.rests || this.stopped || this.rest !== null || length >= GATHER_BYTES || length >= room) return;
    this.rest = setTimeout(() => {
      this.rest = null;
      this.apply();
    }, REST_MS);
    // Not unref'd: while it rests, the paused socket does not keep the process alive, the rest does.
    this.apply();
  }

  /** `true`: read nothing until released (`false`), whatever the rests say. */
  hold(held: boolean): void {
    this.held = held;
    this.apply();
  }

  /** The channel closed: no rest ends in a resume any more. */
  stop(): void {
    this.stopped = true;
    if (this.rest !== null) clearTimeout(this.rest);
    this.rest = null;
  }

  private apply(): void {
    if (this.stopped) return;
    if (this.held || this.rest !== null) this.socket.pause();
    else this.socket.resume();
  }
}
