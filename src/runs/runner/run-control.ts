/**
 * Carries out what the log asks of one executing run — pause, resume, cancel —
 * and enforces its time limit, by signalling its whole process group. It holds
 * no events: the executor feeds it the wanted state (from the read model) and
 * asks it, once the process has ended, whether the run was ended on purpose.
 */

/** Why a run was ended on purpose; null when its process simply ended. */
export interface Ending {
  status: 'cancelled' | 'timed_out';
  reason: string;
}

/** What the log wants for the run now. */
export interface WantedControl {
  paused: boolean;
  /** Who asked to cancel it, or null. */
  cancelledBy: string | null;
}

/** The one thing the control needs from the process: signals to its whole group. */
export interface SignalTarget {
  signalGroup(signal: NodeJS.Signals): boolean;
}

export interface RunControlOptions {
  /** The run's time limit; paused time does not count. Null: none. */
  timeoutMs: number | null;
  /** How long the processes get between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** Milliseconds, injectable for tests. */
  now?: () => number;
}

export class RunControl {
  private target: SignalTarget | null = null;
  /** What was last applied to the processes (or will be, once they exist). */
  private paused = false;
  private ending: Ending | null = null;
  /** Running time already spent before the current stretch, and when the current stretch began. */
  private spentMs = 0;
  private runningSince: number | null = null;
  private timeoutTimer: NodeJS.Timeout | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly options: RunControlOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Set once it was decided to end the run (cancel, timeout, shutdown). */
  get outcome(): Ending | null {
    return this.ending;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Running time so far, paused stretches left out. */
  get activeMs(): number {
    return this.spentMs + (this.runningSince !== null ? this.now() - this.runningSince : 0);
  }

  /** The process exists from now on: the clock starts, and whatever was asked meanwhile is applied. */
  attach(target: SignalTarget): void {
    if (this.target) return;
    this.target = target;
    if (this.ending) {
      this.terminate(this.options.killGraceMs);
      return;
    }
    if (this.paused) {
      target.signalGroup('SIGSTOP');
      return;
    }
    this.startClock();
  }

  /** Brings the processes in line with what the log wants. Safe to call any number of times. */
  sync(wanted: WantedControl): void {
    if (wanted.cancelledBy !== null) {
      this.end({ status: 'cancelled', reason: `Cancelled by ${wanted.cancelledBy}` });
      return;
    }
    if (this.ending || wanted.paused === this.paused) return;
    this.paused = wanted.paused;
    if (!this.target) return;
    if (wanted.paused) {
      this.target.signalGroup('SIGSTOP');
      this.stopClock();
    } else {
      this.target.signalGroup('SIGCONT');
      this.startClock();
    }
  }

  /**
   * Ends the run: SIGTERM to the group, then SIGCONT (a stopped process only acts
   * on SIGTERM once continued), then SIGKILL after the grace period. The first
   * reason given wins.
   */
  end(ending: Ending, killGraceMs = this.options.killGraceMs): void {
    if (this.ending) return;
    this.ending = ending;
    this.stopClock();
    if (this.target) this.terminate(killGraceMs);
  }

  /** Clears the timers; call once the process has ended. */
  dispose(): void {
    this.stopClock();
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
    this.target = null;
  }

  private terminate(killGraceMs: number): void {
    const target = this.target;
    if (!target) return;
    target.signalGroup('SIGTERM');
    target.signalGroup('SIGCONT');
    this.paused = false;
    this.killTimer = setTimeout(() => target.signalGroup('SIGKILL'), killGraceMs);
    this.killTimer.unref();
  }

  private startClock(): void {
    if (this.runningSince !== null) return;
    this.runningSince = this.now();
    const { timeoutMs } = this.options;
    if (timeoutMs === null) return;
    const left = Math.max(0, timeoutMs - this.spentMs);
    this.timeoutTimer = setTimeout(() => {
      this.timeoutTimer = null;
      this.end({ status: 'timed_out', reason: `Timed out after ${formatSeconds(timeoutMs)} of running time` });
    }, left);
    this.timeoutTimer.unref();
  }

  private stopClock(): void {
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = null;
    if (this.runningSince !== null) this.spentMs += this.now() - this.runningSince;
    this.runningSince = null;
  }
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}
