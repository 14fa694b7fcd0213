/**
 * Per-key serialisation inside this process: a task runs after every earlier task of the same key
 * has settled (fulfilled or rejected, so one failure never wedges the ones behind it); tasks of other
 * keys run freely. A key's entry is removed as soon as its last task settles, so the map holds only
 * keys with work in flight.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T> | T): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with a task queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
