/**
 * The send budget of live streams: a burst passes at once, beyond it each reservation
 * waits its turn at the rate, in the order asked, and quiet time saves up at most the burst.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LiveSendBudget } from '../../src/live/live-send-budget';

const MIB = 1024 * 1024;

describe('live send budget', () => {
  function budget(): { budget: LiveSendBudget; advance(ms: number): void } {
    let now = 1_000;
    // 10 MiB/s with a 2 MiB burst: 1 MiB is 100 ms.
    return { budget: new LiveSendBudget(10 * MIB, 2 * MIB, () => now), advance: (ms) => (now += ms) };
  }

  it('lets a burst through at once, then makes each reservation wait for the rate', () => {
    const { budget: b } = budget();
    assert.equal(b.reserve(MIB), 0);
    assert.equal(b.reserve(MIB), 0);
    assert.equal(b.reserve(MIB), 100, 'the third MiB waits for its 100 ms');
    assert.equal(b.reserve(MIB), 200, 'and the next one behind it: served in the order asked');
  });

  it('saves up at most the burst while quiet', () => {
    const { budget: b, advance } = budget();
    b.reserve(4 * MIB);
    advance(10_000);
    assert.equal(b.reserve(2 * MIB), 0, 'after a quiet spell, a burst again');
    assert.equal(b.reserve(MIB), 100, 'but not ten seconds of it');
  });

  it('pays for what it allowed as time passes', () => {
    const { budget: b, advance } = budget();
    b.reserve(2 * MIB);
    assert.equal(b.reserve(MIB), 100);
    advance(100);
    assert.equal(b.reserve(MIB), 100, 'the one before is paid; this one waits its own 100 ms');
    advance(250);
    assert.equal(b.reserve(1024), 0, 'a line after the flood is over passes at once');
  });

  it('never waits for small output', () => {
    const { budget: b, advance } = budget();
    for (let i = 0; i < 1000; i++) {
      assert.equal(b.reserve(200), 0);
      advance(1);
    }
  });
});
