/**
 * The indentation unit and list style new blocks are written in: those of the first nested block map
 * and the first block list of the file (PyYAML's unindented `- item` is detected), so added blocks look
 * like their neighbours. Edits made on one parse (yaml-batch.ts) see the style as the text written by
 * the edits before them would show it: replacing the first nested map with a scalar hands the choice
 * to the next one, and a block an edit adds (written in the style of its time) takes part.
 */
import { isMap, isScalar, isSeq, visit, type Node } from 'yaml';
import type { Style } from './yaml-render';

/** A pair whose value is a block map or list: where its key starts, where its value starts, what it shows. */
interface Candidate {
  key: number;
  value: number;
  indent?: number;
  indentSeq?: boolean;
}

/** A block a splice writes: where it stands in the document and which kinds of candidate it holds. */
export interface Added {
  at: number;
  map: boolean;
  seq: boolean;
  style: Style;
}

const lineStart = (s: string, pos: number) => s.lastIndexOf('\n', pos - 1) + 1;

export class StyleTracker {
  private readonly maps: Candidate[] = [];
  private readonly seqs: Candidate[] = [];
  private covered: [number, number][] = [];
  private added: Added[] = [];
  private firstMap = 0;
  private firstSeq = 0;

  constructor(root: unknown, src: string) {
    visit(root as Node, {
      Pair: (_k, pair) => {
        const key = isScalar(pair.key) && pair.key.range ? pair.key.range[0] : null;
        const v = pair.value;
        if (key === null || !(isMap(v) || isSeq(v)) || v.flow || !v.range) return;
        const parentCol = key - lineStart(src, key);
        const childCol = v.range[0] - lineStart(src, v.range[0]);
        if (isMap(v) && childCol > parentCol && childCol - parentCol <= 8) this.maps.push({ key, value: v.range[0], indent: childCol - parentCol });
        if (isSeq(v)) this.seqs.push({ key, value: v.range[0], indentSeq: childCol > parentCol });
      },
    });
  }

  /** Forgets what was recorded: the edits are planned again. */
  reset(): void {
    this.covered = [];
    this.added = [];
    this.firstMap = 0;
    this.firstSeq = 0;
  }

  /** A splice of [from, to) was planned; it writes `added` (if any). */
  record(from: number, to: number, added: Added | undefined): void {
    if (to > from) this.covered.push([from, to]);
    if (added) this.added.push({ ...added, style: shown(added.style) });
    while (this.isCovered(this.maps[this.firstMap])) this.firstMap++;
    while (this.isCovered(this.seqs[this.firstSeq])) this.firstSeq++;
  }

  /** Whether [from, to) removes a block the style may be taken from. */
  covers(from: number, to: number): boolean {
    const inside = (c: Candidate) => from <= c.value && c.value < to;
    return this.maps.some(inside) || this.seqs.some(inside);
  }

  current(): Style {
    const map = this.pick(this.maps[this.firstMap], (a) => a.map);
    const seq = this.pick(this.seqs[this.firstSeq], (a) => a.seq);
    return { indent: map ? ('style' in map ? map.style.indent : (map.indent as number)) : 2, indentSeq: seq ? ('style' in seq ? seq.style.indentSeq : (seq.indentSeq as boolean)) : true };
  }

  private isCovered(c: Candidate | undefined): boolean {
    return !!c && this.covered.some(([from, to]) => from <= c.value && c.value < to);
  }

  /** The first in document order: the original candidate, or a block added before it. */
  private pick(original: Candidate | undefined, holds: (a: Added) => boolean): Candidate | Added | undefined {
    let best: Candidate | Added | undefined = original;
    for (const a of this.added) if (holds(a) && (!best || a.at < ('key' in best ? best.key : best.at))) best = a;
    return best;
  }
}

/**
 * The style a block written in `style` shows when the file is read again. The yaml package writes an
 * unindented list (`indentSeq: false`) at (unit - 2) columns past its key, so with a unit other than
 * 2 the list reads as indented: one by one, the next edit took that style from it.
 */
function shown(style: Style): Style {
  return { indent: style.indent, indentSeq: style.indentSeq || style.indent !== 2 };
}

/** Which kinds of candidate `key: value`, written as a block, holds: a key whose value is a non-empty map, or list. */
export function kinds(value: unknown): { map: boolean; seq: boolean } {
  const found = { map: false, seq: false };
  const walk = (v: unknown, isPairValue: boolean): void => {
    if (Array.isArray(v)) {
      if (isPairValue && v.length) found.seq = true;
      for (const x of v) walk(x, false);
    } else if (v && typeof v === 'object' && !(v instanceof Date)) {
      if (isPairValue && Object.keys(v).length) found.map = true;
      for (const x of Object.values(v)) walk(x, true);
    }
  };
  walk(value, true);
  return found;
}
