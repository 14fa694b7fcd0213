/**
 * The turns in flight of each session, so that a DELETE can stop them: a turn that went on would
 * record itself into a session that no longer exists (a hidden row holding the id).
 */
export class TurnWatch {
  private readonly watchers = new Map<string, Set<() => void>>();

  /** Calls `onDeleted` if `stop(id)` comes before the returned release is called. */
  watch(id: string, onDeleted: () => void): () => void {
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    const watching = set;
    watching.add(onDeleted);
    return () => {
      watching.delete(onDeleted);
      if (!watching.size && this.watchers.get(id) === watching) this.watchers.delete(id);
    };
  }

  /** How many turns of the session are in flight. */
  count(id: string): number {
    return this.watchers.get(id)?.size ?? 0;
  }

  /** Ends the turns in flight of a deleted session; a turn told already has stopped watching. */
  stop(id: string): void {
    for (const onDeleted of [...(this.watchers.get(id) ?? [])]) onDeleted();
  }
}
