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
import { keyName } from '../../hermes/anchored';
import { parseHermesYaml } from '../../hermes/home';
import { blockPair, fitsOnOneLine, flowPair, inlineValue, type Style } from './yaml-render';
import { StyleTracker, kinds, type Added } from './yaml-style';
import { endOf, entryStart, indentLines, lineStart, nextLineStart, PathConflict, rangeOf, tagSpan, type KeyPath } from './yaml-positions';

export { PathConflict, type KeyPath } from './yaml-positions';

/**
 * One change of the text, in the coordinates of the text that was parsed: `text` replaces
 * [from, to). `glue`: an insertion at the end of a text that may lack its final newline.
 */
export interface Splice {
  from: number;
  to: number;
  text: string;
  glue?: boolean;
  /** The block it writes, for the style of later edits planned on the same parse. */
  added?: Added;
  /** The last key of the map a key is inserted into: where the insertion goes depends on its value. */
  lastKey?: string;
  /** Depth of the map a key is inserted into: several insertions at one place go deepest first (yaml-batch.ts). */
  depth?: number;
  /**
   * `text` ends with lines that stood between the key and its block value, now one line: a key
   * added right after this value goes before them if added after this edit, after them if before.
   */
  trailing?: boolean;
}

/**
 * What one `path = value` does to a parsed text: a splice, or first the removal of a tag. `made`: how
 * many segments of the path name the key it adds or replaces (0: the whole document).
 */
export type Plan = { splice: Splice; made: number } | { tag: [number, number] };

/** A parsed text and what the edits planned on it so far have inserted (their maps change only after a re-parse). */
export interface Parsed {
  src: string;
  doc: ReturnType<typeof parseHermesYaml>;
  style: StyleTracker;
  /** Maps given a key by an earlier plan on this parse. */
  grown: Set<YAMLMap>;
}

export function parsed(src: string): Parsed {
  const doc = parseHermesYaml(src);
  return { src, doc, style: new StyleTracker(doc.contents, src), grown: new Set() };
}

const isEmptyRoot = (p: Parsed) => p.doc.contents === null || (isScalar(p.doc.contents) && p.doc.contents.value === null);

/** How many leading segments of `path` name keys the parsed text has (through maps). */
export function existingDepth(p: Parsed, path: KeyPath): number {
  let node: unknown = p.doc.contents;
  for (let i = 0; i < path.length; i++) {
    const pair = isMap(node) ? lastPair(node as YAMLMap, path[i] as string) : undefined;
    if (!pair) return i;
    node = pair.value;
  }
  return path.length;
}

/** The change `path = value` makes to the parsed text; throws PathConflict. */
export function plan(p: Parsed, path: KeyPath, value: unknown): Plan {
  const { src, doc } = p;
  // Asked only where a block is written: the style of the text as the edits planned before this one leave it.
  const style = () => p.style.current();
  const root = doc.contents;
  if (isEmptyRoot(p)) return { splice: appendToEmptyRoot(src, root, doc.range?.[0] ?? 0, path, value, style), made: 0 };

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
    // A key written as an alias has no text here to find it by: a key added beside it under its name was
    // a second one (a write into its map dropped its other keys, a 500), or hid it (a date's, spelled `*d`).
    if (map.items.some((item) => isAlias(item.key) && keyName(item.key, doc) === seg)) throw new PathConflict(path.slice(0, i + 1).join('.'), ALIAS_KEY);
    const pair = lastPair(map, seg);
    const rest = path.slice(i + 1);
    if (!pair) {
      // A key the map gets only through `<<` would be shadowed here, not changed where it is defined;
      // any other key is the map's own and is added (it was refused for every map with a merge).
      const merges = map.items.some((p) => isScalar(p.key) && isMergeKey(p.key.value));
      if (merges && Object.hasOwn(map.toJS(doc) as object, seg)) {
        throw new PathConflict(at, 'takes this key from a YAML merge (<<); edit the anchored map instead');
      }
      const splice = insertPair(src, map, seg, nest(rest, value), style, inFlow, p.grown.has(map));
      p.grown.add(map);
      return { splice: { ...splice, depth: i }, made: i + 1 };
    }
    const child = pair.value as Node | null;
    const childIsEmpty = child === null || (isScalar(child) && child.value === null);
    if (rest.length === 0 || childIsEmpty) {
      // The tag of a replaced value (`timeout: !!str 30`) goes with it: the new value has its own type.
      const tag = child?.tag ? tagSpan(src, rangeOf(pair.key)[1], rangeOf(child)[0]) : null;
      if (tag) return { tag };
      return { splice: replaceValue(src, pair, rest.length ? nest(rest, value) : value, { at: path.slice(0, i + 1).join('.'), inFlow, style }), made: i + 1 };
    }
    node = child;
  }
  throw new PathConflict('(top level)', 'cannot be replaced: give a key');
}

// Anchor and alias names are never quoted: they are file content, and `password: &Xk9…` is an anchor.
const ANCHORED = 'is anchored (&…) and shared through aliases (*…, <<); edit the file by hand';
const ALIAS_KEY = 'is a key written as a YAML alias (*…); edit the file by hand';

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

// ── edits ──────────────────────────────────────────────────────────────────

function appendToEmptyRoot(src: string, root: Node | null, docStart: number, path: KeyPath, value: unknown, style: () => Style): Splice {
  // After a document end marker (`...`) the map would start a second document, which Hermes cannot load.
  const endMarker = DOCUMENT_END.exec(src);
  const end = endMarker ? endMarker.index : src.length;
  // A document whose whole content is `null`/`~`: that scalar goes, the new map takes its place.
  const [s, e] = root ? rangeOf(root) : [end, end];
  // Its tag (`!!null`) goes too: left on the map, PyYAML refuses the file ("expected a scalar node").
  // From the document's start, so `%TAG` directives before `---` are not taken for it.
  const [from, tagEnd] = (root?.tag ? tagSpan(src, docStart, s) : null) ?? [s, s];
  const kept = src.slice(0, from) + src.slice(tagEnd, s) + src.slice(e, end);
  const glue = kept.length > 0 && !kept.endsWith('\n') ? '\n' : '';
  const [first, ...rest] = path as [string, ...string[]];
  return { from, to: end, text: src.slice(tagEnd, s) + src.slice(e, end) + glue + blockPair(first, nest(rest, value), style()) };
}
const DOCUMENT_END = /^\.\.\.(?=[ \t\r\n]|$)/m;

function insertPair(src: string, map: YAMLMap, key: string, value: unknown, style: () => Style, inFlow: boolean, grown: boolean): Splice {
  if (inFlow) {
    const [start, end] = rangeOf(map);
    let close = end - 1;
    while (close > start && src[close] !== '}') close--;
    const last = map.items.at(-1);
    // An empty `{}` that an earlier plan of this parse gave a key already needs the comma.
    if (!last) return { from: close, to: close, text: (grown ? ', ' : '') + flowPair(key, value) };
    const lastEnd = rangeOf(last.value ?? last.key)[1];
    return { from: lastEnd, to: lastEnd, text: `, ${flowPair(key, value)}` };
  }
  const first = map.items[0] as Pair;
  const last = map.items.at(-1) as Pair;
  const lastKey = isScalar(last.key) ? String(last.key.value) : undefined;
  const { col } = entryStart(src, first.key as Node);
  const at = nextLineStart(src, endOf(src, last.value ?? last.key));
  const now = style();
  // Before an original key that starts where it is inserted: it comes first in the document.
  return { from: at, to: at, text: indentLines(blockPair(key, value, now), col), glue: at === src.length, added: { at: at - 0.5, ...kinds(value), style: now }, lastKey };
}

function replaceValue(src: string, pair: Pair, value: unknown, ctx: { at: string; inFlow: boolean; style: () => Style }): Splice {
  const { at, inFlow, style } = ctx;
  const old = pair.value as Node;
  if (old && 'anchor' in old && old.anchor) throw new PathConflict(at, ANCHORED);
  if (holdsAnchor(old)) throw new PathConflict(at, 'holds an anchored value (&…) that aliases elsewhere may use');
  const keyRange = rangeOf(pair.key);
  const entry = inFlow ? null : entryStart(src, pair.key as Node);
  // `? key` / `: value` puts the value on a line of its own, after a `:` the edits below do not look for.
  if (entry?.explicit) throw new PathConflict(at, 'is written as an explicit key (? …); edit the file by hand');
  const vs = rangeOf(old)[0];
  const ve = endOf(src, old);
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
        return { from: vs, to: ve, text: before + text + after };
      }
      return { from: vs, to: ve, text: text + (removed.endsWith('\n') ? '\n' : '') };
    }
    // A block collection becomes one line: drop its lines, put the value after the colon.
    const colon = src.indexOf(':', keyRange[1]);
    const between = src.slice(colon + 1, lineStart(src, vs));
    return { from: colon + 1, to: nextLineStart(src, ve), text: ` ${text}${between}`, trailing: between.indexOf('\n') < between.length - 1 };
  }

  const keyCol = (entry as { col: number }).col;
  // The value's lines as they come under `key:` in a rendered pair, shifted to the key's column.
  const now = style();
  const added = { at: keyRange[0], ...kinds(value), style: now };
  const rendered = blockPair('k', value, now);
  const block = indentLines(rendered.slice(rendered.indexOf('\n') + 1), keyCol);
  if (oldInline) {
    // `key: old  # note` → `key:  # note` followed by the new block.
    let start = vs;
    while (vs !== ve && start > 0 && (src[start - 1] === ' ' || src[start - 1] === '\t')) start--;
    // A comment right after the colon needs a space to stay a comment.
    if (removed.endsWith('\n')) return { from: start, to: ve, text: `\n${block}`, added };
    const gap = src[ve] === '#' && src[start - 1] !== ' ' && src[start - 1] !== '\t' ? ' ' : '';
    const nl = src.indexOf('\n', ve);
    const to = nl < 0 ? src.length : nl + 1;
    return { from: start, to, text: `${gap}${src.slice(ve, nl < 0 ? src.length : nl)}\n${block}`, added };
  }
  return { from: lineStart(src, vs), to: nextLineStart(src, ve), text: block, added };
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
