/** RunControl: which signals reach a run's process group for pause, resume, cancel and timeout, and when. */
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { RunControl, type WantedControl } from '../../src/runs/runner/run-control';

/** Records the signals; mock timers drive setTimeout and `now` moves with them. */
function harness(timeoutMs: number | null, killGraceMs = 5_000) {
  let now = 1_000_000;
  const signals: string[] = [];
  const control = new RunControl({ timeoutMs, killGraceMs, now: () => now });
  const target = {
    signalGroup: (signal: NodeJS.Signals) => {
      signals.push(signal);
      return true;
    },
  };
  const wait = (ms: number): void => {
    now += ms;
    mock.timers.tick(ms);
  };
  return { control, target, signals, wait };
}

const running: WantedControl = { paused: false, cancelledBy: null };
const paused: WantedControl = { paused: true, cancelledBy: null };

describe('RunControl', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('pauses with SIGSTOP and resumes with SIGCONT, once each however often the log is read', () => {
    const { control, target, signals } = harness(null);
    control.attach(target);
    control.sync(running);
    control.sync(paused);
    control.sync(paused);
    assert.equal(control.isPaused, true);
    control.sync(running);
    control.sync(running);
    assert.deepEqual(signals, ['SIGSTOP', 'SIGCONT']);
    assert.equal(control.outcome, null);
  });

  it('cancels with SIGTERM, then SIGCONT, then SIGKILL after the grace period, naming who', () => {
    const { control, target, signals, wait } = harness(null, 2_000);
    control.attach(target);
    control.sync({ paused: false, cancelledBy: 'carol' });
    assert.deepEqual(signals, ['SIGTERM', 'SIGCONT']);
    assert.deepEqual(control.outcome, { status: 'cancelled', reason: 'Cancelled by carol' });
    wait(1_999);
    assert.deepEqual(signals, ['SIGTERM', 'SIGCONT']);
    wait(1);
    assert.deepEqual(signals, ['SIGTERM', 'SIGCONT', 'SIGKILL']);
  });

  it('continues a stopped group when cancelling it, so that it can act on SIGTERM', () => {
    const { control, target, signals } = harness(null);
    control.attach(target);
    control.sync(paused);
    control.sync({ paused: true, cancelledBy: 'dave' });
    assert.deepEqual(signals, ['SIGSTOP', 'SIGTERM', 'SIGCONT']);
    assert.equal(control.isPaused, false);
  });

  it('sends no SIGKILL once the process ended and the control was disposed', () => {
    const { control, target, signals, wait } = harness(null, 1_000);
    control.attach(target);
    control.sync({ paused: false, cancelledBy: 'carol' });
    control.dispose();
    wait(5_000);
    assert.deepEqual(signals, ['SIGTERM', 'SIGCONT']);
  });

  it('applies a cancel or pause that came before the process existed as soon as it does', () => {
    const early = harness(null);
    early.control.sync({ paused: false, cancelledBy: 'erin' });
    assert.deepEqual(early.signals, []);
    early.control.attach(early.target);
    assert.deepEqual(early.signals, ['SIGTERM', 'SIGCONT']);

    const pausedEarly = harness(1_000);
    pausedEarly.control.sync(paused);
    pausedEarly.control.attach(pausedEarly.target);
    assert.deepEqual(pausedEarly.signals, ['SIGSTOP']);
    pausedEarly.wait(10_000);
    assert.equal(pausedEarly.control.outcome, null, 'a run paused from the start spends none of its time');
  });

  it('times out after the limit of running time: timed_out, and the group is ended', () => {
    const { control, target, signals, wait } = harness(3_000, 1_000);
    control.attach(target);
    wait(2_999);
    assert.equal(control.outcome, null);
    wait(1);
    assert.deepEqual(control.outcome, { status: 'timed_out', reason: 'Timed out after 3 s of running time' });
    assert.deepEqual(signals, ['SIGTERM', 'SIGCONT']);
    wait(1_000);
    assert.deepEqual(signals, ['SIGTERM', 'SIGCONT', 'SIGKILL']);
  });

  it('does not count paused time toward the timeout', () => {
    const { control, target, wait } = harness(3_000);
    control.attach(target);
    wait(2_000);
    control.sync(paused);
    wait(60_000);
    assert.equal(control.outcome, null, 'no timeout while paused');
    assert.equal(control.activeMs, 2_000);
    control.sync(running);
    wait(999);
    assert.equal(control.outcome, null);
    wait(1);
    // Read again through a getter call: the assertion above narrowed the property to null.
    assert.equal((control as RunControl).outcome?.status, 'timed_out');
  });

  it('keeps the first reason: a timeout after a cancel stays a cancel, and the other way round', () => {
    const first = harness(1_000);
    first.control.attach(first.target);
    first.control.sync({ paused: false, cancelledBy: 'carol' });
    first.wait(2_000);
    assert.equal(first.control.outcome?.status, 'cancelled');

    const second = harness(1_000);
    second.control.attach(second.target);
    second.wait(1_000);
    second.control.sync({ paused: false, cancelledBy: 'carol' });
    assert.equal(second.control.outcome?.status, 'timed_out');
    assert.deepEqual(second.signals, ['SIGTERM', 'SIGCONT'], 'ended once');
  });

  it('ends the run for a server shutdown with its own, shorter kill grace', () => {
    const { control, target, signals, wait } = harness(null, 10_000);
    control.attach(target);
    control.end({ status: 'cancelled', reason: 'The server was stopped before the run finished' }, 500);
    wait(500);
    assert.deepEqual(signals, ['SIGTERM', 'SIGCONT', 'SIGKILL']);
    assert.equal(control.outcome?.reason, 'The server was stopped before the run finished');
  });

  it('ignores a pause or resume once the run is being ended', () => {
    const { control, target, signals } = harness(null);
    control.attach(target);
    control.sync({ paused: false, cancelledBy: 'carol' });
    control.sync(paused);
    assert.deepEqual(signals, ['SIGTERM', 'SIGCONT']);
  });
});
