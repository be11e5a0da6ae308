/**
 * What the API streams of one running run may send, all its viewers on this server
 * together, in bytes of the stream (base64 events: 4/3 of the output) per second. A run
 * writing faster than that (a build dumping 100 MB at once) is stored at full speed
 * while its viewers fall behind, and they catch up at full speed once it has finished.
 * Ten viewers each taking every byte of such a run as it came sent 1.3 GB through
 * loopback, which made the run itself take 2.2× as long as unwatched on two cores
 * (docs/DESIGN.md, "Live output": "Watching never slows a run").
 */
export const LIVE_SEND_BYTES_PER_SECOND = 16 * 1024 * 1024;
/** What viewers may send at once after a quiet spell, before the rate applies: a burst of output reaches them whole. */
export const LIVE_SEND_BURST_BYTES = 4 * 1024 * 1024;

/**
 * A token bucket shared by the live streams of one running run (a virtual clock: each
 * reservation moves "paid until" forward by its bytes at the rate), so that watching
 * takes a bounded share of the server however many viewers the run has, and its viewers
 * are served in the order they asked. One per run's feed (`RunFeed.sendBudget`): a
 * flooding run's viewers never hold up the viewers of another run. Output at the pace
 * people read never waits: a line or a page of it is far inside the burst.
 */
export class LiveSendBudget {
  /** The time (ms, on {@link now}'s clock) until which what was reserved is paid for. */
  private paidUntil = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly bytesPerSecond = LIVE_SEND_BYTES_PER_SECOND,
    private readonly burstBytes = LIVE_SEND_BURST_BYTES,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Reserves `bytes` (≥ 0) to be sent, and returns how many milliseconds the caller waits
   * before sending them: 0 while they fit in what the quiet time before saved up (at
   * most the burst), else until the rate has paid for them. A reservation is never
   * given back: a viewer that leaves while waiting costs the others that time once.
   */
  reserve(bytes: number): number {
    const now = this.now();
    const burstMs = (this.burstBytes / this.bytesPerSecond) * 1000;
    this.paidUntil = Math.max(this.paidUntil, now - burstMs) + (bytes / this.bytesPerSecond) * 1000;
    return Math.max(0, this.paidUntil - now);
  }
}
