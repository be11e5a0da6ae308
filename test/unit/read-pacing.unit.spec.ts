/** Issue 11: the reading end of a run's output channel rests after short reads, and the owner's hold wins over a rest's end. */
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { GATHER_BYTES, ReadPacing, REST_MS, REST_NEEDS_WRITE_AHEAD_BYTES } from '../../src/runs/runner/read-pacing';

/** A socket that only says whether it is reading. */
function fakeSocket() {
  const socket = { reading: true, pause: () => (socket.reading = false), resume: () => (socket.reading = true) };
  return socket;
}

const ROOM = 4 * 1024 * 1024;
/** The send buffer the sandbox's init asks for, as granted here (8 MiB). */
const GROWN = 8 * 1024 * 1024;

describe('ReadPacing', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('rests for a moment after a short read, then reads again', () => {
    const socket = fakeSocket();
    const pacing = new ReadPacing(socket, GROWN);
    pacing.afterRead(8192, ROOM);
    assert.equal(socket.reading, false, 'a short read is followed by a rest');
    mock.timers.tick(REST_MS - 0.5);
    assert.equal(socket.reading, false);
    mock.timers.tick(1);
    assert.equal(socket.reading, true, 'the rest ends by itself');
  });

  it('reads on at once after a large read, or one that filled the room it had', () => {
    const socket = fakeSocket();
    const pacing = new ReadPacing(socket, GROWN);
    pacing.afterRead(GATHER_BYTES, ROOM);
    assert.equal(socket.reading, true, 'a large read: the writer is fast, reads are already large');
    pacing.afterRead(100, 100);
    assert.equal(socket.reading, true, 'a read that filled its room: more is waiting');
  });

  it('stays paused through the end of a rest while the owner holds it, and reads once released', () => {
    const socket = fakeSocket();
    const pacing = new ReadPacing(socket, GROWN);
    pacing.afterRead(10, ROOM);
    pacing.hold(true);
    mock.timers.tick(REST_MS);
    assert.equal(socket.reading, false, "the rest's end does not undo the hold");
    pacing.hold(false);
    assert.equal(socket.reading, true);
  });

  it('keeps resting when released during a rest, and reads once the rest is over', () => {
    const socket = fakeSocket();
    const pacing = new ReadPacing(socket, GROWN);
    pacing.hold(true);
    pacing.afterRead(10, ROOM);
    pacing.hold(false);
    assert.equal(socket.reading, false, 'the release does not cut the rest short');
    mock.timers.tick(REST_MS);
    assert.equal(socket.reading, true);
  });

  it('never rests when the writer cannot write ahead enough meanwhile (the kernel default buffer)', () => {
    const socket = fakeSocket();
    const pacing = new ReadPacing(socket, REST_NEEDS_WRITE_AHEAD_BYTES - 1);
    pacing.afterRead(8192, ROOM);
    assert.equal(socket.reading, true, 'a writer with 416 KiB would wait through most of each rest');
    pacing.hold(true);
    assert.equal(socket.reading, false, 'the hold works all the same');
    pacing.hold(false);
    assert.equal(socket.reading, true);
  });

  it('does nothing more once stopped (the channel closed)', () => {
    const socket = fakeSocket();
    const pacing = new ReadPacing(socket, GROWN);
    pacing.afterRead(10, ROOM);
    pacing.stop();
    mock.timers.tick(REST_MS);
    assert.equal(socket.reading, false, 'no resume of a closed socket');
    pacing.hold(false);
    pacing.afterRead(10, ROOM);
    assert.equal(socket.reading, false);
  });
});
