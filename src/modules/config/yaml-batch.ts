/**
 * Many `path = value` edits of config.yaml with a bounded number of parses. Applying them one by one
 * re-parsed the whole file for each (~9 ms a path on a 550-line file: a settings UI saving 80 leaves
 * took 1.4 s). Here edits are planned as splices (yaml-edit.ts) against one parse and applied at once,
 * in rounds, which gives the very bytes the one-by-one application gives because:
 *
 * - an edit waits for a later round (a new parse) when it needs the text an earlier edit leaves: its
 *   path is a prefix of an earlier edit's path or has it as a prefix (`a` then `a.b`, `a.b` then
 *   `a`), or goes through a key an earlier edit of the round adds or replaces (`m.a.x` then `m.a.y`
 *   with no `m.a` yet). Other edits touch disjoint parts of the file. A whole-section PATCH is one
 *   round; chains are bounded by the path depth (32), not by the number of paths;
 * - several keys added at one place go deepest map first, then in order, as one by one they would;
 * - a replaced value's explicit tag is removed for all edits of a round together, then parsed again;
 * - two splices that cannot both be made (overlapping: never expected; a key added right after a value
 *   that became one line followed by comment lines) cut the round: the later edit and all after it wait.
 *
 * The first edit in order that cannot be made (a PathConflict) is the one reported, as one by one.
 */
import { PathConflict, existingDepth, parsed, plan, type KeyPath, type Parsed, type Splice } from './yaml-edit';

export interface EditOp {
  path: KeyPath;
  value: unknown;
}

interface Item {
  index: number;
  op: EditOp;
}

/** Applies `ops` in order; throws the PathConflict of the first that cannot be made, its `path` set. */
export function setAll(text: string, ops: readonly EditOp[]): string {
  // A BOM (Windows editors) is set aside, so that the first line's indentation is 0, and put back.
  const bom = text.startsWith('\ufeff') ? '\ufeff' : '';
  const body = text.slice(bom.length);
  // A file written with CRLF throughout is edited as LF and given its CRLF back, so new lines match.
  const crlf = body.includes('\r\n') && body.split('\r\n').length === body.split('\n').length;
  let src = crlf ? body.replace(/\r\n/g, '\n') : body;
  let pending: Item[] = ops.map((op, index) => ({ index, op }));
  let first: { index: number; err: PathConflict } | null = null;
  while (pending.length) {
    const r = round(src, pending);
    src = r.src;
    if (r.conflict) first = r.conflict;
    // Edits after the first failure are never made: one by one, the edit would have stopped there.
    pending = r.later.filter((item) => !first || item.index < first.index);
  }
  if (first) {
    first.err.path = (ops[first.index] as EditOp).path;
    throw first.err;
  }
  return bom + (crlf ? src.replace(/\n/g, '\r\n') : src);
}

/** One edit on its own, as setAll makes it. */
export const setIn = (text: string, path: KeyPath, value: unknown): string => setAll(text, [{ path, value }]);

/** Paths, to ask whether one is a prefix of a given path (`above`) or has it as a prefix (`below`). */
class PathSet {
  private readonly root = new Map<string, { end: boolean; kids: PathSet }>();
  /** The empty path (the document's top-level map) is in the set. */
  private rootEnd = false;
  add(path: KeyPath): void {
    if (!path.length) this.rootEnd = true;
    let level: PathSet = this;
    path.forEach((seg, i) => {
      let node = level.root.get(seg);
      if (!node) level.root.set(seg, (node = { end: false, kids: new PathSet() }));
      if (i === path.length - 1) node.end = true;
      level = node.kids;
    });
  }
  /** Some path of the set is `path` or a prefix of it. */
  above(path: KeyPath): boolean {
    let level: PathSet = this;
    for (const seg of path) {
      const node = level.root.get(seg);
      if (!node) return false;
      if (node.end) return true;
      level = node.kids;
    }
    return false;
  }
  has(path: KeyPath): boolean {
    let level: PathSet = this;
    for (const [i, seg] of path.entries()) {
      const node = level.root.get(seg);
      if (!node) return false;
      if (i === path.length - 1) return node.end;
      level = node.kids;
    }
    return this.rootEnd;
  }
  /** Some path of the set is `path` or starts with it. */
  below(path: KeyPath): boolean {
    let level: PathSet = this;
    for (const seg of path) {
      const node = level.root.get(seg);
      if (!node) return false;
      level = node.kids;
    }
    return true;
  }
}

/** The edits of `items` that need no other's text, made on one parse (plus one per tag removal); the rest for later. */
function round(src: string, items: Item[]): { src: string; later: Item[]; conflict: { index: number; err: PathConflict } | null } {
  let p: Parsed = parsed(src);
  // Edits from this index on wait for the next round: two splices of this round could not both be made.
  let cut = Infinity;
  for (;;) {
    p.grown.clear();
    p.style.reset();
    const waiting = new PathSet();
    const made = new PathSet();
    let wholeDocument = false;
    const later: Item[] = [];
    const splices: (Splice & { index: number })[] = [];
    const tags: Splice[] = [];
    let conflict: { index: number; err: PathConflict } | null = null;
    // Maps the edits that wait may add a key to: the deepest their path reaches in the text or through keys made now.
    const deferred = new PathSet();
    const deferredPaths = new PathSet();
    const defer = (item: Item) => {
      const path = item.op.path;
      later.push(item);
      waiting.add(path);
      deferredPaths.add(path);
      let depth = existingDepth(p, path);
      while (depth < path.length && made.above(path.slice(0, depth + 1))) depth++;
      deferred.add(path.slice(0, depth));
    };
    for (const item of items) {
      const { path, value } = item.op;
      if (item.index >= cut || wholeDocument || waiting.above(path) || waiting.below(path) || made.above(path)) {
        defer(item);
        continue;
      }
      let r: ReturnType<typeof plan>;
      try {
        r = plan(p, path, value);
      } catch (err) {
        if (!(err instanceof PathConflict)) throw err;
        conflict = { index: item.index, err };
        break;
      }
      if (!('tag' in r) && later.length && mustFollow(p, r.splice, path.slice(0, r.made - 1), deferred, deferredPaths)) {
        defer(item);
        continue;
      }
      if ('tag' in r) tags.push({ from: r.tag[0], to: r.tag[1], text: '' });
      else {
        splices.push({ ...r.splice, index: item.index });
        p.style.record(r.splice.from, r.splice.to, r.splice.added);
        // The first key of an empty document makes it a map: every other edit goes into that map.
        if (r.made === 0) wholeDocument = true;
        else made.add(path.slice(0, r.made));
      }
      // Later edits on a prefix-related path wait too: one by one they would see this one's text.
      waiting.add(path);
    }
    if (tags.length) {
      p = parsed(applySplices(p.src, tags.map((t) => ({ ...t, index: 0 }))) as string);
      continue;
    }
    const out = applySplices(p.src, splices);
    if (typeof out === 'string') return { src: out, later, conflict };
    cut = out.clash;
  }
}

/**
 * Whether a planned splice must wait for edits before it that wait: a block written in the file's
 * style or one removing a block the style is taken from (they may need, or change, the style), a key
 * added to a map one of them may add a key to (keys keep their order) or whose last key one of them
 * edits, or a value whose text ends with other lines (see `trailing`).
 */
function mustFollow(p: Parsed, splice: Splice, mapPath: KeyPath, deferred: PathSet, deferredPaths: PathSet): boolean {
  if (splice.added?.map || splice.added?.seq || splice.trailing || p.style.covers(splice.from, splice.to)) return true;
  if (splice.from !== splice.to) return false;
  // Or an edit of the map's last key, whose new text decides where the key goes.
  return deferred.has(mapPath) || (splice.lastKey !== undefined && deferredPaths.below([...mapPath, splice.lastKey]));
}

/**
 * Whether a key added right after `prev` could land elsewhere once `prev` is made: its text ends with
 * other lines (see `trailing`), or it writes a nested block and blank or comment lines follow, which
 * the block's range may take in (one by one, `model:\n  model: 0` then `    # c2`: the next key went
 * after the comment).
 */
function afterMayMove(src: string, prev: Splice): boolean {
  if (prev.trailing) return true;
  if (!prev.added?.map && !prev.added?.seq) return false;
  BLANK_OR_COMMENT.lastIndex = prev.to;
  return BLANK_OR_COMMENT.test(src);
}
// A file with mixed line ends is edited as it is: its blank lines may end in CRLF.
const BLANK_OR_COMMENT = /[ \t]*(#|\r?\n)/y;

/** The text with every splice made, or the later edit of two whose splices cannot both be made at once. */
function applySplices(src: string, splices: (Splice & { index: number })[]): string | { clash: number } {
  const sorted = [...splices].sort((a, b) => {
    if (a.from !== b.from) return a.from - b.from;
    const aIns = a.from === a.to;
    if (aIns !== (b.from === b.to)) return aIns ? -1 : 1;
    // One by one, a key added to a map lands after keys just added to the maps inside it.
    return (b.depth ?? 0) - (a.depth ?? 0) || a.index - b.index;
  });
  let out = '';
  let pos = 0;
  let prev: (typeof sorted)[number] | undefined;
  for (const s of sorted) {
    if (prev && (s.from < pos || (s.from === pos && s.to === pos && afterMayMove(src, prev)))) return { clash: Math.max(prev.index, s.index) };
    out += src.slice(pos, s.from);
    if (s.glue && out.length > 0 && !out.endsWith('\n')) out += '\n';
    out += s.text;
    pos = s.to;
    prev = s;
  }
  return out + src.slice(pos);
}
