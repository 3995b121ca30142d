/**
 * Runs at most one task per key at a time: callers asking for a key that is
 * already in progress share its result instead of repeating the work.
 */
export class KeyedOnce<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, task: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing) return existing;
    const promise = task().finally(() => this.running.delete(key));
    this.running.set(key, promise);
    return promise;
  }

  has(key: string): boolean {
    return this.running.has(key);
  }
}

/** Serialises async critical sections (record updates that read-modify-write). */
export class AsyncMutex {
  private tail: Promise<unknown> = Promise.resolve();

  lock<T>(section: () => Promise<T>): Promise<T> {
    const result = this.tail.then(section, section);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
