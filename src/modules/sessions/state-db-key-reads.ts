/**
 * When state.db's list keys are read anew (state-db-keys.ts reads them): they are kept until SQLite's
 * `data_version` says another connection committed, and read through a SharedRead
 * (src/db/shared-reads.ts): shared by callers of the same state, paced, never back to back.
 */
import { ReadLine, SharedRead } from '../../db/shared-reads';
import type { FileIdentity } from './state-db-keys';
import type { SessionKey } from './state-db-queries';

type Keys = readonly SessionKey[];

/** What the reads need from the caller's open state.db reader. */
export interface KeySource<R extends FileIdentity> {
  /** The open reader and the file's data_version, or null when the file cannot be read. */
  current(): { reader: R; version: number } | null;
  /** Whether `reader` is still the one open: keys read through one closed or replaced meanwhile are not kept. */
  isOpen(reader: R): boolean;
  /** The keys of `reader`'s file; null when the file was replaced while the read opened it. */
  read(reader: R): Promise<Keys | null>;
}

type State<R> = { reader: R; version: number };

export class KeyReads<R extends FileIdentity> {
  private memo: { reader: R; version: number; keys: Keys } | null = null;
  private readonly reads = new SharedRead<State<R>, Keys | null>(new ReadLine(), (a, b) => a.reader === b.reader && a.version === b.version);

  constructor(private readonly src: KeySource<R>) {}

  /** The keys of the file as it is now (or newer); null when it was replaced on every try. */
  async keys(): Promise<Keys | null> {
    for (let replaced = 0; replaced < 3; replaced++) {
      const now = this.src.current();
      if (!now) return [];
      if (this.kept(now)) return this.memo?.keys ?? [];
      const got = await this.reads.get(now, () => {
        const state = this.src.current();
        if (!state) return { value: [] };
        if (this.kept(state)) return { value: this.memo?.keys ?? [] };
        return { version: state, read: () => this.read(state) };
      });
      if (got) return got;
      // The file was replaced while the read opened it: the next current() reopens.
    }
    return null;
  }

  private kept(s: State<R>): boolean {
    return this.memo?.reader === s.reader && this.memo.version === s.version;
  }

  private async read({ reader, version }: State<R>): Promise<Keys | null> {
    const keys = await this.src.read(reader);
    if (keys && this.src.isOpen(reader)) this.memo = { reader, version, keys };
    return keys;
  }
}
