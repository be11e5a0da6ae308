/**
 * A run's live window: chunks read together become one frame; bytes held
 * already (live, then the same bytes stored) are taken once; a gap restarts
 * the window; memory stays within WINDOW_BYTES however much output passes,
 * WATCHED_WINDOW_BYTES while a viewer of whole frames watches, and shrinks back
 * when the last one leaves. A viewer's copy of its run is read again only when the read
 * models changed.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { LiveOutputHub } from '../../src/live/live-output.hub';
import { MAX_FRAME_BYTES, RunFeed, WATCHED_WINDOW_BYTES, WINDOW_BYTES } from '../../src/live/run-feed';
import { ViewedRun } from '../../src/live/viewed-run';
import { Waker } from '../../src/live/waker';
import type { RunsReadModel } from '../../src/runs/runs.read-model';

describe('run feed', () => {
  it('joins the chunks of one turn into a frame for a viewer of whole frames, and wakes its viewers once it is sealed', async () => {
    const feed = new RunFeed('r');
    const waker = new Waker();
    feed.viewers.add(waker);
    feed.frameViewers.add(waker);
    feed.append(0, Buffer.from('hello '));
    feed.append(6, Buffer.from('world\n'));
    assert.equal(feed.end, 0, 'not visible before the turn ends');
    await nextTurn();
    assert.equal(feed.end, 12);
    const frame = feed.frameAt(3);
    assert.deepEqual({ from: frame?.from, to: frame?.to, text: frame?.bytes.toString() }, { from: 0, to: 12, text: 'hello world\n' });
    await waker.sleep(10_000); // resolves at once: the seal woke it
  });

  it('keeps the chunks of a run as they came, without copying them, unwatched or watched by run pages; joins them once a viewer sends whole frames', async () => {
    const feed = new RunFeed('r');
    const chunks = [Buffer.from('hello '), Buffer.from('world\n')];
    feed.append(0, chunks[0]!);
    feed.append(6, chunks[1]!);
    await nextTurn();
    assert.equal(feed.end, 12);
    assert.equal(feed.frameAt(7)?.bytes, chunks[1], 'the chunk itself, not a copy');
    assert.equal(feed.slice(0, 12)?.toString(), 'hello world\n');
    // A run page: a viewer, and the shared page renderer listening.
    feed.viewers.add(new Waker());
    feed.onSealed = () => {};
    const more = [Buffer.from('page '), Buffer.from('view\n')];
    feed.append(12, more[0]!);
    feed.append(17, more[1]!);
    await nextTurn();
    assert.equal(feed.frameAt(18)?.bytes, more[1], 'watched by a page: still the chunk itself');
    assert.equal(feed.slice(12, 22)?.toString(), 'page view\n');
    const apiViewer = new Waker();
    feed.viewers.add(apiViewer);
    feed.frameViewers.add(apiViewer);
    feed.append(22, Buffer.from('again '));
    feed.append(28, Buffer.from('joined\n'));
    await nextTurn();
    assert.deepEqual({ from: feed.frameAt(24)?.from, text: feed.frameAt(24)?.bytes.toString() }, { from: 22, text: 'again joined\n' });
  });

  it('takes bytes it holds already only once, live first and stored after', async () => {
    const feed = new RunFeed('r');
    feed.append(0, Buffer.from('abcdef'));
    await nextTurn();
    feed.append(0, Buffer.from('abc'));
    feed.append(0, Buffer.from('abcdef'));
    feed.append(3, Buffer.from('defgh'));
    await nextTurn();
    assert.equal(feed.end, 8);
    assert.equal(feed.slice(0, 8)?.toString(), 'abcdefgh');
  });

  it('restarts at a gap, since viewers behind it read the store', async () => {
    const feed = new RunFeed('r');
    feed.append(0, Buffer.from('abc'));
    await nextTurn();
    feed.append(10, Buffer.from('xyz'));
    await nextTurn();
    assert.equal(feed.start, 10);
    assert.equal(feed.frameAt(1), undefined);
    assert.equal(feed.slice(0, 3), null);
    assert.equal(feed.slice(10, 13)?.toString(), 'xyz');
  });

  it('starts where its first bytes are (a viewer attached in the middle of a run)', async () => {
    const feed = new RunFeed('r');
    feed.append(5000, Buffer.from('later'));
    await nextTurn();
    assert.deepEqual([feed.start, feed.end], [5000, 5005]);
    assert.equal(feed.frameAt(4999), undefined);
  });

  it('keeps at most WINDOW_BYTES (plus one frame) however much passes through', async () => {
    const feed = new RunFeed('r');
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let offset = 0;
    for (let i = 0; i < 200; i++) {
      feed.append(offset, chunk);
      offset += chunk.length;
      if (i % 3 === 0) await nextTurn();
    }
    await nextTurn();
    assert.equal(feed.end, offset);
    assert.ok(feed.end - feed.start <= WINDOW_BYTES + MAX_FRAME_BYTES, `window ${feed.end - feed.start}`);
    assert.ok(feed.end - feed.start >= WINDOW_BYTES - MAX_FRAME_BYTES);
    assert.equal(feed.frameAt(0), undefined);
    assert.ok(feed.frameAt(offset - 1));
  });

  it('keeps WATCHED_WINDOW_BYTES while a viewer of whole frames is attached, and WINDOW_BYTES again once it leaves (and for run pages alone)', async () => {
    const hub = new LiveOutputHub();
    hub.runStarting('r');
    const waker = new Waker();
    const page = new Waker();
    const feed = hub.attach('r', page, () => undefined);
    const chunk = Buffer.alloc(64 * 1024, 'y');
    let offset = 0;
    const publish = async (): Promise<void> => {
      for (let i = 0; i < 2 * (WATCHED_WINDOW_BYTES / chunk.length); i++) {
        hub.publish('r', chunk, offset);
        offset += chunk.length;
        if (i % 3 === 0) await nextTurn();
      }
      await nextTurn();
    };
    await publish();
    const paged = feed.end - feed.start;
    assert.ok(paged >= WINDOW_BYTES - MAX_FRAME_BYTES && paged <= WINDOW_BYTES + MAX_FRAME_BYTES, `window while a run page watches ${paged}`);
    hub.attach('r', waker, () => undefined, { wholeFrames: true });
    await publish();
    const watched = feed.end - feed.start;
    assert.ok(watched >= WATCHED_WINDOW_BYTES - MAX_FRAME_BYTES && watched <= WATCHED_WINDOW_BYTES + MAX_FRAME_BYTES, `window while watched ${watched}`);
    hub.detach(feed, waker);
    hub.detach(feed, page);
    assert.equal(hub.feed('r'), feed, 'the run still runs here: its feed stays');
    const alone = feed.end - feed.start;
    assert.ok(alone >= WINDOW_BYTES - MAX_FRAME_BYTES && alone <= WINDOW_BYTES + MAX_FRAME_BYTES, `window once nobody watches ${alone}`);
    assert.ok(feed.frameAt(offset - 1));
  });

  it('tells the oldest byte it holds, which only moves forward, so the runner can reuse the buffers of older ones', async () => {
    const feed = new RunFeed('r');
    assert.equal(feed.heldFrom, Number.POSITIVE_INFINITY, 'nothing held before the first byte');
    const chunk = 256 * 1024;
    const seen: number[] = [];
    for (let offset = 0; offset < 4 * WINDOW_BYTES; offset += chunk) {
      feed.append(offset, Buffer.alloc(chunk, 'a'));
      seen.push(feed.heldFrom);
      await nextTurn();
      seen.push(feed.heldFrom);
      assert.ok(feed.start >= feed.heldFrom, 'every frame lies at or after it');
    }
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'never moves back');
    const before = feed.heldFrom;
    assert.ok(before > 0 && before >= 4 * WINDOW_BYTES - WINDOW_BYTES - chunk, `${before}: the window's start`);
    // A viewer of whole frames widens the window from now on; what it dropped stays dropped.
    feed.frameViewers.add(new Waker());
    feed.append(4 * WINDOW_BYTES, Buffer.alloc(chunk, 'b'));
    await nextTurn();
    assert.equal(feed.heldFrom, before);
  });

  it('empties its window once the hub lets it go, so a page still holding it reads the store', async () => {
    const hub = new LiveOutputHub();
    hub.runStarting('r');
    hub.publish('r', Buffer.from('live bytes\n'), 0);
    await nextTurn();
    const held = hub.feed('r')!;
    assert.equal(held.slice(0, 4)?.toString(), 'live');
    assert.equal(hub.heldFrom('r'), 0);
    hub.runEnded('r');
    assert.equal(hub.heldFrom('r'), Number.POSITIVE_INFINITY, 'nothing held once the feed is gone');
    assert.equal(held.slice(0, 4), null, 'the feed a page kept holds nothing either');
    assert.equal(held.heldFrom, Number.POSITIVE_INFINITY);
  });

  it('lets go of the window of a run executed elsewhere once its end says it had less output than the window holds', async () => {
    const hub = new LiveOutputHub();
    const viewer = new Waker();
    const feed = hub.attach('r', viewer, () => undefined, { wholeFrames: true });
    hub.stored('r', 0, 6, () => Buffer.from('hello\n'));
    // An upload's batch stored just before the end recorded without its runner (the lost rule, a revocation).
    hub.stored('r', 6, 5, () => Buffer.from('late\n'));
    await nextTurn();
    assert.equal(feed.slice(0, 11)?.toString(), 'hello\nlate\n');
    hub.ended('r', 11);
    assert.equal(feed.slice(0, 11)?.toString(), 'hello\nlate\n', 'an end that counts every byte held changes nothing');
    hub.ended('r', 6);
    assert.equal(feed.slice(0, 1), null, 'its viewers read the store, which keeps to the end');
  });

  it('counts a viewer attached for whole frames (the API stream) among those its feed joins chunks for, until it detaches', () => {
    const hub = new LiveOutputHub();
    const page = new Waker();
    const api = new Waker();
    const feed = hub.attach('r', page, () => undefined);
    assert.equal(hub.attach('r', api, () => undefined, { wholeFrames: true }), feed);
    assert.deepEqual({ viewers: feed.viewers.size, frameViewers: [...feed.frameViewers] }, { viewers: 2, frameViewers: [api] });
    hub.detach(feed, api);
    assert.deepEqual({ viewers: feed.viewers.size, frameViewers: feed.frameViewers.size }, { viewers: 1, frameViewers: 0 });
  });
});

describe('a viewer’s copy of its run', () => {
  it('is read again after a read-model change is told, and not for new output alone', async () => {
    const hub = new LiveOutputHub();
    let reads = 0;
    let status = 'running';
    const runs = { get: (id: string) => (reads++, { id, status }) } as unknown as RunsReadModel;
    const viewed = new ViewedRun(runs, hub, 'r');
    const waker = new Waker();
    const feed = hub.attach('r', waker, () => {});
    assert.equal((viewed.current() as unknown as { status: string }).status, 'running');
    for (let i = 0; i < 50; i++) {
      feed.append(i, Buffer.from('x'));
      await nextTurn();
      viewed.current();
    }
    assert.equal(reads, 1, 'output wakes the viewer but leaves its run as it was');
    status = 'succeeded';
    hub.wakeRun('r');
    assert.equal((viewed.current() as unknown as { status: string }).status, 'succeeded');
    hub.wakeAll();
    viewed.current();
    assert.equal(reads, 3, 'each change told is one read, whichever run it was told for');
    hub.wakeRun('another run');
    viewed.current();
    assert.equal(reads, 4);
  });
});
