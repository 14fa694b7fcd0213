/**
 * In-place edits of config.yaml that keep every untouched byte: the yaml Document API finds the node
 * to change (its source range), and only that range is rewritten; everything else — comments, blank
 * lines, key order, quoting, indentation, comment spacing — is copied through unchanged. (Serialising
 * the whole Document instead would normalise comment spacing, flow padding and indentation of parts
 * nobody touched.) New text comes from yaml-render.ts.
 *
 * Paths go through maps only: reaching a scalar, a list or an alias is a PathConflict (SPEC §10: 409).
 * A missing key is added after the last key of its map, at that map's indentation; missing
 * intermediate maps are created; a key whose value is null/empty is treated as missing.
 */
import { isAlias, isMap, isScalar, isSeq, visit, type Node, type Pair, type YAMLMap } from 'yaml';
import { parseHermesYaml } from '../../hermes/home';
import { blockPair, fitsOnOneLine, flowPair, inlineValue, type Style } from './yaml-render';

export type KeyPath = readonly string[];

/** The edit would have to go through something that is not a map (or is shared by an anchor). */
export class PathConflict extends Error {
  override name = 'PathConflict';
  constructor(readonly at: string, readonly reason: string) {
    super(`${at} ${reason}`);
  }
}

type Range = [number, number, number];

export function setIn(text: string, path: KeyPath, value: unknown): string {
  // A BOM (Windows editors) is set aside, so that the first line's indentation is 0, and put back.
  const bom = text.startsWith('\ufeff') ? '\ufeff' : '';
  const body = text.slice(bom.length);
  // A file written with CRLF throughout is edited as LF and given its CRLF back, so new lines match.
  const crlf = body.includes('\r\n') && body.split('\r\n').length === body.split('\n').length;
  const out = edit(crlf ? body.replace(/\r\n/g, '\n') : body, path, value);
  return bom + (crlf ? out.replace(/\n/g, '\r\n') : out);
}

function edit(src: string, path: KeyPath, value: unknown): string {
  const doc = parseHermesYaml(src);
  const style = detectStyle(doc.contents, src);
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return appendToEmptyRoot(src, root, path, value, style);

  let node: unknown = root;
  let inFlow = false;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as string;
    const at = path.slice(0, i).join('.') || '(top level)';
    if (!isMap(node)) throw new PathConflict(at, isSeq(node) ? 'is a list' : isAlias(node) ? 'is a YAML alias' : 'is a scalar value');
    const map = node as YAMLMap;
    // A change inside an anchored map changes every alias of it, and every map that merges it (<<).
    if (map.anchor) throw new PathConflict(at, ANCHORED);
    inFlow ||= !!map.flow;
    const pair = lastPair(map, seg);
    const rest = path.slice(i + 1);
    if (!pair) {
      // A key the map gets only through `<<` would be shadowed here, not changed where it is defined;
      // any other key is the map's own and is added (it was refused for every map with a merge).
      const merges = map.items.some((p) => isScalar(p.key) && isMergeKey(p.key.value));
      if (merges && Object.hasOwn(map.toJS(doc) as object, seg)) {
        throw new PathConflict(at, 'takes this key from a YAML merge (<<); edit the anchored map instead');
      }
      return insertPair(src, map, seg, nest(rest, value), style, inFlow);
    }
    const child = pair.value as Node | null;
    const childIsEmpty = child === null || (isScalar(child) && child.value === null);
    if (rest.length === 0 || childIsEmpty) {
      // The tag of a replaced value (`timeout: !!str 30`) goes with it: the new value has its own type.
      const tag = child?.tag ? tagSpan(src, rangeOf(pair.key)[1], rangeOf(child)[0]) : null;
      if (tag) return edit(splice(src, tag[0], tag[1], ''), path, value);
      return replaceValue(src, pair, rest.length ? nest(rest, value) : value, { at: path.slice(0, i + 1).join('.'), inFlow, style });
    }
    node = child;
  }
  throw new PathConflict('(top level)', 'cannot be replaced: give a key');
}

// Anchor and alias names are never quoted: they are file content, and `password: &Xk9…` is an anchor.
const ANCHORED = 'is anchored (&…) and shared through aliases (*…, <<); edit the file by hand';

function holdsAnchor(node: Node | null): boolean {
  let found = false;
  if (node) {
    visit(node, {
      Node(_key, n) {
        if (!n.anchor) return;
        found = true;
        return visit.BREAK;
      },
    });
  }
  return found;
}

/** `{a: {b: value}}` for rest `[a, b]`. */
function nest(rest: KeyPath, value: unknown): unknown {
  return rest.reduceRight<unknown>((acc, key) => ({ [key]: acc }), value);
}

/** The YAML 1.1 schema reads `<<` as a merge key, a symbol. */
const isMergeKey = (v: unknown) => typeof v === 'symbol' && v.description === '<<';

function lastPair(map: YAMLMap, key: string): Pair | undefined {
  for (let i = map.items.length - 1; i >= 0; i--) {
    const p = map.items[i] as Pair;
    // Repeated keys are allowed (PyYAML keeps the last one), so the last match is the live one.
    if (isScalar(p.key) && typeof p.key.value !== 'symbol' && String(p.key.value) === key) return p;
  }
  return undefined;
}

/**
 * Where the tag (`!!str`, `!<tag:…>`) between a key and its value is, with the blanks after it (and
 * before it, when it ends its line), or null. Comments in between are skipped.
 */
function tagSpan(src: string, from: number, to: number): [number, number] | null {
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
function entryStart(src: string, key: Node): { col: number; explicit: boolean } {
  const start = rangeOf(key)[0];
  const prefix = src.slice(lineStart(src, start), start);
  const col = (/^(?:[ \t]*-[ \t]+)*[ \t]*/.exec(prefix) as RegExpExecArray)[0].length;
  return { col, explicit: prefix[col] === '?' };
}

function rangeOf(node: unknown): Range {
  const r = (node as { range?: Range | null }).range;
  if (!r) throw new PathConflict('(value)', 'has no position in the file');
  return r;
}

// ── text helpers ───────────────────────────────────────────────────────────

const splice = (s: string, from: number, to: number, text: string) => s.slice(0, from) + text + s.slice(to);
const lineStart = (s: string, pos: number) => s.lastIndexOf('\n', pos - 1) + 1;
const pad = (n: number) => ' '.repeat(n);

/** `pos` if it starts a line, else the start of the next line (or the end of the text). */
function nextLineStart(s: string, pos: number): number {
  if (pos === 0 || s[pos - 1] === '\n') return pos;
  const nl = s.indexOf('\n', pos);
  return nl < 0 ? s.length : nl + 1;
}

/** Inserts at a line start, adding the missing final newline of the text first. */
function insertLines(s: string, pos: number, lines: string): string {
  const glue = pos === s.length && s.length > 0 && !s.endsWith('\n') ? '\n' : '';
  return s.slice(0, pos) + glue + lines + s.slice(pos);
}

function indentLines(text: string, col: number): string {
  return text
    .split('\n')
    .map((l) => (l ? pad(col) + l : l))
    .join('\n');
}

/** Indentation unit and list style of the file, so added blocks look like their neighbours. */
function detectStyle(root: unknown, src: string): Style {
  const style: Style = { indent: 2, indentSeq: true };
  let indentFound = false;
  let seqFound = false;
  visit(root as Node, {
    Pair(_k, pair) {
      const parentCol = isScalar(pair.key) && pair.key.range ? pair.key.range[0] - lineStart(src, pair.key.range[0]) : null;
      const v = pair.value;
      if (parentCol === null || !(isMap(v) || isSeq(v)) || v.flow || !v.range) return;
      const childCol = v.range[0] - lineStart(src, v.range[0]);
      if (isMap(v) && !indentFound && childCol > parentCol && childCol - parentCol <= 8) {
        style.indent = childCol - parentCol;
        indentFound = true;
      }
      if (isSeq(v) && !seqFound) {
        style.indentSeq = childCol > parentCol;
        seqFound = true;
      }
      if (indentFound && seqFound) return visit.BREAK;
    },
  });
  return style;
}

// ── edits ──────────────────────────────────────────────────────────────────

function appendToEmptyRoot(src: string, root: Node | null, path: KeyPath, value: unknown, style: Style): string {
  let text = src;
  if (root) {
    // A document whose whole content is `null`/`~`: that scalar goes, the new map takes its place.
    const [s, e] = rangeOf(root);
    text = splice(text, s, e, '');
  }
  const [first, ...rest] = path as [string, ...string[]];
  return insertLines(text, text.length, blockPair(first, nest(rest, value), style));
}

function insertPair(src: string, map: YAMLMap, key: string, value: unknown, style: Style, inFlow: boolean): string {
  if (inFlow) {
    const [start, end] = rangeOf(map);
    let close = end - 1;
    while (close > start && src[close] !== '}') close--;
    const last = map.items.at(-1);
    if (!last) return splice(src, close, close, flowPair(key, value));
    const lastEnd = rangeOf(last.value ?? last.key)[1];
    return splice(src, lastEnd, lastEnd, `, ${flowPair(key, value)}`);
  }
  const first = map.items[0] as Pair;
  const last = map.items.at(-1) as Pair;
  const { col } = entryStart(src, first.key as Node);
  const at = nextLineStart(src, rangeOf(last.value ?? last.key)[1]);
  return insertLines(src, at, indentLines(blockPair(key, value, style), col));
}

function replaceValue(src: string, pair: Pair, value: unknown, ctx: { at: string; inFlow: boolean; style: Style }): string {
  const { at, inFlow, style } = ctx;
  const old = pair.value as Node;
  if (old && 'anchor' in old && old.anchor) throw new PathConflict(at, ANCHORED);
  if (holdsAnchor(old)) throw new PathConflict(at, 'holds an anchored value (&…) that aliases elsewhere may use');
  const keyRange = rangeOf(pair.key);
  const entry = inFlow ? null : entryStart(src, pair.key as Node);
  // `? key` / `: value` puts the value on a line of its own, after a `:` the edits below do not look for.
  if (entry?.explicit) throw new PathConflict(at, 'is written as an explicit key (? …); edit the file by hand');
  const [vs, ve] = rangeOf(old);
  // Inside `{…}` there are no lines to manage: a value is replaced where it stands, commas around it stay.
  const oldInline = inFlow || !src.slice(keyRange[1], vs).includes('\n');
  const removed = src.slice(vs, ve);

  if (inFlow || fitsOnOneLine(value)) {
    const text = inlineValue(value, old, inFlow);
    if (oldInline) {
      if (vs === ve) {
        // `key:` or `key: # note`: the value needs a space after the colon, and before a comment.
        const before = src[vs - 1] === ':' ? ' ' : '';
        const after = src[vs] === '#' ? ' ' : '';
        return splice(src, vs, ve, before + text + after);
      }
      return splice(src, vs, ve, text + (removed.endsWith('\n') ? '\n' : ''));
    }
    // A block collection becomes one line: drop its lines, put the value after the colon.
    const colon = src.indexOf(':', keyRange[1]);
    const out = splice(src, lineStart(src, vs), nextLineStart(src, ve), '');
    return splice(out, colon + 1, colon + 1, ` ${text}`);
  }

  const keyCol = (entry as { col: number }).col;
  // The value's lines as they come under `key:` in a rendered pair, shifted to the key's column.
  const rendered = blockPair('k', value, style);
  const block = indentLines(rendered.slice(rendered.indexOf('\n') + 1), keyCol);
  if (oldInline) {
    // `key: old  # note` → `key:  # note` followed by the new block.
    let start = vs;
    while (vs !== ve && start > 0 && (src[start - 1] === ' ' || src[start - 1] === '\t')) start--;
    const head = src.slice(0, start);
    let tail = src.slice(ve);
    if (removed.endsWith('\n')) tail = '\n' + tail;
    const nl = tail.indexOf('\n');
    const lineRest = nl < 0 ? tail : tail.slice(0, nl);
    const remaining = nl < 0 ? '' : tail.slice(nl + 1);
    // A comment right after the colon needs a space to stay a comment.
    const gap = lineRest.startsWith('#') && !/[ \t]$/.test(head) ? ' ' : '';
    return head + gap + lineRest + '\n' + block + remaining;
  }
  return splice(src, lineStart(src, vs), nextLineStart(src, ve), block);
}

// ── the same edit on a plain tree, to check the text edit did what it should ──

/** Applies `path = value` to a plain tree with the same rules (creates maps, replaces null). Mutates `tree`, never `value`. */
export function setInTree(tree: Record<string, unknown>, path: KeyPath, value: unknown): void {
  let node = tree;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = node[key];
    if (next && typeof next === 'object' && !Array.isArray(next)) node = next as Record<string, unknown>;
    else {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    }
  }
  node[path[path.length - 1] as string] = structuredClone(value);
}
