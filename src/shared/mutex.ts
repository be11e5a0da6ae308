/**
 * Runs async sections one at a time. Used where a check against a read model
 * and the append that follows must not interleave within this server (unique
 * names): the append itself still guards against other servers.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.tail.then(section, section);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
