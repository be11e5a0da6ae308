import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { LIVE_SEND_BURST_BYTES, LIVE_SEND_BYTES_PER_SECOND, LiveSendBudget } from './live-send-budget';
import { RunFeed } from './run-feed';
import type { Waker } from './waker';

/**
 * Where live output meets its viewers. The run executor hands every chunk it
 * reads from a process to {@link publish} (before the chunk is stored); the
 * {@link LiveOutputProjection} hands over stored output of runs that have
 * viewers here but run elsewhere. Viewers attach to a run's {@link RunFeed}
 * and are woken when it grows, or when the read models change what they
 * show (a status, a finish: see {@link wakeRun} and {@link wakeAll}).
 */
@Injectable()
export class LiveOutputHub {
  private readonly feeds = new Map<string, RunFeed>();
  /** Every attached viewer, and how to end it when the server stops. */
  private readonly viewers = new Map<Waker, () => void>();
  private stopping = false;
  private changes = 0;
  /** The send budget each run's feed gets (see {@link LiveSendBudget}); tests lower it to see it hold. */
  sendRate = { bytesPerSecond: LIVE_SEND_BYTES_PER_SECOND, burstBytes: LIVE_SEND_BURST_BYTES };

  /** How often {@link endViewers} looks whether the viewers owed an end have had it, in ms. */
  private static readonly SETTLE_POLL_MS = 20;
  /** Feeds of runs whose process ended here after the stop began: their viewers are owed the `end` event. */
  private readonly endedWhileStopping = new Set<RunFeed>();

  /**
   * The server is stopping: new viewers are refused (503, "reconnect in a moment"); those
   * attached keep watching while the runs here get their grace to finish (`RunShutdown`).
   */
  beginStop(): void {
    this.stopping = true;
  }

  /**
   * Ends every stream so the HTTP server can close; clients resume with `Last-Event-ID`.
   * First, for at most `settleMs`, the viewers of runs that ended here during the stop
   * get their `end` event (a run cancelled by the stop included), so that a follower
   * learns how the run ended rather than losing the stream with the server.
   */
  async endViewers(settleMs: number): Promise<void> {
    this.stopping = true;
    const deadline = Date.now() + settleMs;
    while (Date.now() < deadline && [...this.endedWhileStopping].some((feed) => feed.viewers.size > 0)) await sleep(LiveOutputHub.SETTLE_POLL_MS);
    this.endedWhileStopping.clear();
    for (const end of [...this.viewers.values()]) end();
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** A run's process is about to start on this server. */
  runStarting(runId: string): void {
    this.feedFor(runId).local = true;
  }

  /** A chunk as read from the run's process, at its offset in the run's output. */
  publish(runId: string, chunk: Buffer, offset: number): void {
    this.feeds.get(runId)?.append(offset, chunk);
  }

  /** The offset of the oldest byte of a run that live viewers here may hold (see {@link RunFeed.heldFrom}); Infinity for none. */
  heldFrom(runId: string): number {
    return this.feeds.get(runId)?.heldFrom ?? Number.POSITIVE_INFINITY;
  }

  /** The run's process ended and all its output was stored. */
  runEnded(runId: string): void {
    const feed = this.feeds.get(runId);
    if (!feed) return;
    if (this.stopping && feed.viewers.size > 0) this.endedWhileStopping.add(feed);
    feed.local = false;
    feed.wakeViewers();
    this.releaseIfUnused(feed);
  }

  /**
   * Output stored in the log; taken only for runs someone here is watching, and not
   * already held. `bytes` is called only then (decoding a batch has a cost).
   */
  stored(runId: string, offset: number, length: number, bytes: () => Buffer): void {
    const feed = this.feeds.get(runId);
    if (!feed) return;
    if (feed.started && offset + length <= feed.takenEnd) return;
    feed.append(offset, bytes());
  }

  /**
   * The log says the run ended with `outputBytes` of output. A window of a run executed
   * elsewhere that holds more (a batch of an upload stored just before the end recorded
   * without its runner: the lost rule, a revocation) is let go: its viewers read the
   * store, which keeps to the end (see the runs read model).
   */
  ended(runId: string, outputBytes: number): void {
    const feed = this.feeds.get(runId);
    if (feed && !feed.local && feed.takenEnd > outputBytes) feed.release();
  }

  /** Wakes the viewers of one run: the read models changed something about it. */
  wakeRun(runId: string): void {
    this.changes++;
    this.feeds.get(runId)?.wakeViewers();
  }

  /** Wakes every viewer (a change that may move queue positions). */
  wakeAll(): void {
    this.changes++;
    for (const waker of this.viewers.keys()) waker.wake();
  }

  /**
   * Counts the read-model changes told to viewers ({@link wakeRun}, {@link wakeAll}),
   * once committed. While it stands still a viewer's copy of its run is current:
   * new output alone wakes viewers hundreds of times a second, and reading the run
   * from the database each time cost a watched 100 MB run about 10 %.
   */
  get readModelChanges(): number {
    return this.changes;
  }

  /**
   * Attaches a viewer to a run's feed; `end` is called when the server stops.
   * `wholeFrames`: the viewer sends the feed's frames whole (see {@link RunFeed.frameViewers}).
   */
  attach(runId: string, waker: Waker, end: () => void, options: { wholeFrames?: boolean } = {}): RunFeed {
    const feed = this.feedFor(runId);
    feed.viewers.add(waker);
    if (options.wholeFrames === true) feed.frameViewers.add(waker);
    this.viewers.set(waker, end);
    return feed;
  }

  detach(feed: RunFeed, waker: Waker): void {
    feed.viewers.delete(waker);
    feed.frameViewers.delete(waker);
    this.viewers.delete(waker);
    // No viewer of whole frames any more: back to the small window at once.
    if (feed.frameViewers.size === 0) feed.trim();
    this.releaseIfUnused(feed);
  }

  /** The feed of a run, if it exists (for tests and the page renderer). */
  feed(runId: string): RunFeed | undefined {
    return this.feeds.get(runId);
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  private feedFor(runId: string): RunFeed {
    let feed = this.feeds.get(runId);
    if (!feed) {
      feed = new RunFeed(runId, new LiveSendBudget(this.sendRate.bytesPerSecond, this.sendRate.burstBytes));
      this.feeds.set(runId, feed);
    }
    return feed;
  }

  private releaseIfUnused(feed: RunFeed): void {
    if (feed.local || feed.viewers.size > 0) return;
    feed.onSealed = null;
    feed.release();
    this.feeds.delete(feed.runId);
  }
}
