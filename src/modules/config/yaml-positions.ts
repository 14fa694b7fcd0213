/**
 * Where things are in config.yaml's text, for the in-place edits of yaml-edit.ts: a node's range as
 * the yaml package gives it (and where its text really ends), a key's entry on its line, a tag between
 * key and value, line starts and indentation.
 */
import type { Node } from 'yaml';

export type KeyPath = readonly string[];

/** The edit would have to go through something that is not a map (or is shared by an anchor). */
export class PathConflict extends Error {
  override name = 'PathConflict';
  /** The edit's whole path, set by setAll (yaml-batch.ts). */
  path: KeyPath = [];
  constructor(readonly at: string, readonly reason: string) {
    super(`${at} ${reason}`);
  }
}

export type Range = [number, number, number];

/**
 * Where the tag (`!!str`, `!<tag:…>`) between a key and its value is, with the blanks after it (and
 * before it, when it ends its line), or null. Comments in between are skipped.
 */
export function tagSpan(src: string, from: number, to: number): [number, number] | null {
  const gap = src.slice(from, to).replace(/(^|[ \t])#[^\n]*/g, (c) => ' '.repeat(c.length));
  const m = /!\S*/.exec(gap);
  if (!m) return null;
  let start = from + m.index;
  let end = start + m[0].length;
  while (src[end] === ' ' || src[end] === '\t') end++;
  if (src[end] === '\n') while (src[start - 1] === ' ' || src[start - 1] === '\t') start--;
  return [start, end];
}

/**
 * Where a block key's entry starts on its line, and whether it is an explicit key (`? a` then `: 1`).
 * The key's own range leaves out what may stand before it — an anchor (`&k a: 1`), a tag
 * (`!!str a: 1`) or `? ` — so its column is not the map's indentation, and a key added there was
 * indented wrongly (the edit failed with a 500). Before the entry: indentation and `- ` of lists.
 */
export function entryStart(src: string, key: Node): { col: number; explicit: boolean } {
  const start = rangeOf(key)[0];
  const prefix = src.slice(lineStart(src, start), start);
  const col = (/^(?:[ \t]*-[ \t]+)*[ \t]*/.exec(prefix) as RegExpExecArray)[0].length;
  return { col, explicit: prefix[col] === '?' };
}

export function rangeOf(node: unknown): Range {
  const r = (node as { range?: Range | null }).range;
  if (!r) throw new PathConflict('(value)', 'has no position in the file');
  return r;
}

/**
 * Where a node's text ends. The yaml package ends a block map whose last lines are a commented-out
 * entry indented deeper than the next key (`    - a\n    # - b\n  next: 1`) after the indentation of
 * that key's line: taken as is, a key added after the map went under `next:`, and replacing the map
 * removed `next:` (the edit failed with a 500). That end is moved back to its line's start.
 */
export function endOf(src: string, node: unknown): number {
  const end = rangeOf(node)[1];
  const start = lineStart(src, end);
  return start < end && /^[ \t]+$/.test(src.slice(start, end)) && /[^\s#]/.test(src[end] ?? '') ? start : end;
}

export const lineStart = (s: string, pos: number) => s.lastIndexOf('\n', pos - 1) + 1;
const pad = (n: number) => ' '.repeat(n);

/** `pos` if it starts a line, else the start of the next line (or the end of the text). */
export function nextLineStart(s: string, pos: number): number {
  if (pos === 0 || s[pos - 1] === '\n') return pos;
  const nl = s.indexOf('\n', pos);
  return nl < 0 ? s.length : nl + 1;
}

export function indentLines(text: string, col: number): string {
  return text
    .split('\n')
    .map((l) => (l ? pad(col) + l : l))
    .join('\n');
}

