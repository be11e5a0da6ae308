/**
 * How a stream viewer sleeps until something may have changed: new output in
 * its run's feed, a change in the read models, its connection closing, or
 * its heartbeat falling due. A wake-up before the sleep is remembered, so
 * nothing that happens between two checks is missed.
 */
export class Waker {
  private resolve: (() => void) | null = null;
  private woken = false;

  /** Wakes the viewer (now if it sleeps, else its next sleep returns at once). */
  wake(): void {
    this.woken = true;
    const resolve = this.resolve;
    this.resolve = null;
    resolve?.();
  }

  /** Resolves on the next {@link wake} (or an earlier one not yet seen), or after `ms`. */
  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.resolve = null;
        resolve();
      }, Math.max(0, ms));
      this.resolve = () => {
        clearTimeout(timer);
        this.woken = false;
        resolve();
      };
    });
  }
}
