/**
 * Substring hits counted in JavaScript, one pass over each text for all the terms. SQLite's `instr`
 * read the whole text once per spelling of each term and column: 64 CJK words over 100,000 memories
 * were ~260 passes per memory, twice (page and total), and held the event loop for 2.7-4.6 s while
 * every other client (a chat stream, /health) waited. Here each text is read once: a table of the
 * code units a spelling can start with says where to try `startsWith`.
 *
 * Same answers as `instr`: SQLite stores a lone surrogate as U+FFFD, so the spellings are made
 * well-formed the same way (the texts read back already are), and matching is by exact code units.
 */
/** Up to this many spellings SQL's `instr` rules rows out first (SubstringHits.prefilter). */
const PREFILTER_FORMS = 8;

export class SubstringHits {
  private readonly starts = new Uint8Array(0x10000);
  private readonly byStart = new Map<number, { form: string; term: number }[]>();
  /** seen[term] === pass: the term already counted in this text (no clearing between texts). */
  private readonly seen: Uint32Array;
  private pass = 0;
  readonly terms: number;
  /** Every spelling of every term, once: what a text must contain (one of) to count at all. */
  readonly forms: readonly string[];

  /** `subs`: each term's spellings (query-text.ts substringTerms). */
  constructor(subs: string[][]) {
    this.terms = subs.length;
    this.seen = new Uint32Array(subs.length);
    const all = new Set<string>();
    subs.forEach((forms, term) => {
      for (const raw of new Set(forms.map((f) => f.toWellFormed()))) {
        if (raw === '') continue;
        all.add(raw);
        const unit = raw.charCodeAt(0);
        this.starts[unit] = 1;
        const list = this.byStart.get(unit);
        if (list) list.push({ form: raw, term });
        else this.byStart.set(unit, [{ form: raw, term }]);
      }
    });
    this.forms = [...all];
  }

  /**
   * The spellings for SQL to skip the rows that hold none of them (`instr`, in C), when they are few:
   * a query of one or two words then hands JavaScript only the rows that match instead of every row
   * (one Korean word over 100,000 memories: ~130 ms with the scan alone, see docs/memory.md). Many
   * spellings are left to the one JavaScript pass, which reads each text once for all of them.
   */
  prefilter(): readonly string[] | null {
    return this.forms.length > 0 && this.forms.length <= PREFILTER_FORMS ? this.forms : null;
  }

  /** How many terms occur in `content` or `tags` (each counts once), as the SQL `(instr(c) OR instr(t)) + …` did. */
  count(content: string, tags: string | null): number {
    if (++this.pass === 0xffffffff) {
      this.seen.fill(0);
      this.pass = 1;
    }
    let n = this.scan(content, 0);
    if (n < this.terms && tags) n = this.scan(tags, n);
    return n;
  }

  private scan(text: string, found: number): number {
    const { starts, seen, pass } = this;
    for (let i = 0; i < text.length; i++) {
      if (starts[text.charCodeAt(i)] === 0) continue;
      for (const c of this.byStart.get(text.charCodeAt(i)) as { form: string; term: number }[]) {
        if (seen[c.term] === pass || !text.startsWith(c.form, i)) continue;
        seen[c.term] = pass;
        if (++found === this.terms) return found;
      }
    }
    return found;
  }
}

/**
 * The `k` first of the items pushed in `order` (a total order), without sorting them all: a scan can
 * match every one of 100,000 memories, of which a page keeps at most a few hundred.
 */
export class Best<T> {
  private items: T[] = [];
  constructor(
    private readonly k: number,
    private readonly order: (a: T, b: T) => number,
  ) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length >= 4 * this.k + 256) this.trim();
  }

  take(): T[] {
    this.trim();
    return this.items;
  }

  private trim(): void {
    this.items.sort(this.order);
    if (this.items.length > this.k) this.items.length = this.k;
  }
}
