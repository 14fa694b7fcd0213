/**
 * The anchored values of config.yaml (`&name`) that aliases repeat (`*name`, `<<: *name`), with where
 * each is defined and repeated: what redaction (src/modules/config/redact.ts) follows a secret through.
 */
import { type Alias, isAlias, isMap, isScalar, isSeq, Pair, parseDocument, visit, YAMLMap, type Node } from 'yaml';

type Doc = ReturnType<typeof parseDocument>;
type Path = (string | number)[];

/** A value that carries an anchor (`&name`), so aliases (`*name`, `<<: *name`) can repeat it elsewhere; where it is defined. */
export interface AnchoredValue {
  /** Map keys as the tree has them, list indexes as numbers. */
  path: Path;
  value: unknown;
  /**
   * Where the file's aliases of it stand: the alias's own place, or the map a `<<` merge puts it in.
   * An anchor name defined twice gives both definitions the aliases of either.
   */
  copies: Path[];
}

/**
 * Each alias's anchored node, as `Alias.resolve` finds it (the last definition before it in the file),
 * for the whole file in one walk: `resolve` walks the whole document on every call, so a file of
 * 1,600 alias keys took GET /api/config 11 s (0.24 s before alias keys were followed).
 */
function aliasTargets(doc: Doc): Map<Alias, Node> {
  const targets = new Map<Alias, Node>();
  const defined = new Map<string, Node>();
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) {
        const target = defined.get(node.source);
        if (target) targets.set(node, target);
      } else if (node.anchor) defined.set(node.anchor, node);
    },
  });
  return targets;
}

/**
 * A map key as the tree spells it. An alias key is its anchored value's spelling (`targets` finds it);
 * a null key is ""; dates, binary and collections are spelled by the yaml package itself, as its tree has them.
 */
function treeKey(key: unknown, doc: Doc, targets: () => Map<Alias, Node>): string {
  const node = isAlias(key) ? targets().get(key) : key;
  if (node === null || node === undefined) return '';
  if (isScalar(node) && (node.value === null || typeof node.value !== 'object')) return node.value === null ? '' : String(node.value);
  // The yaml package's tree spells an alias of anything else (a map, a list, a date) as the alias itself
  // (`*name`); asked to, it walked the whole document again for every such key.
  if (isAlias(key)) return `*${key.source}`;
  const one = new YAMLMap();
  one.items.push(new Pair(key, null));
  return Object.keys(one.toJS(doc, { maxAliasCount: 100 }) as object)[0] ?? '';
}

const isMergeKey = (key: unknown) => isScalar(key) && typeof key.value === 'symbol';

/** Every anchored value below the root that an alias repeats, with its path. Called once per change of the file. */
export function anchoredValues(doc: Doc): AnchoredValue[] {
  // One walk without path copies (a path per node costs depth² on a deep file); paths are built
  // from parent links for the few anchored and alias nodes only.
  type Entry = { node: unknown; parent: Entry | null; seg: string | number };
  const aliases = new Map<string, Entry[]>();
  const aliasAt = (source: string, entry: Entry) => {
    const list = aliases.get(source);
    if (list) list.push(entry);
    else aliases.set(source, [entry]);
  };
  const anchored: Entry[] = [];
  // Made at the first alias key: most files have none.
  let targets: Map<Alias, Node> | null = null;
  const targetsOf = () => (targets ??= aliasTargets(doc));
  const stack: Entry[] = [{ node: doc.contents, parent: null, seg: '' }];
  while (stack.length) {
    const entry = stack.pop() as Entry;
    const { node } = entry;
    if (!node) continue;
    if (isAlias(node)) {
      aliasAt(node.source, entry);
      continue;
    }
    if ((node as Node).anchor && entry.parent) anchored.push(entry);
    if (isMap(node)) {
      for (const pair of node.items) {
        if (isMergeKey(pair.key)) {
          // A `<<` merge key's value is an alias (or a list of them): nothing is defined there; it copies into this map.
          if (isAlias(pair.value)) aliasAt(pair.value.source, entry);
          else if (isSeq(pair.value)) for (const item of pair.value.items) if (isAlias(item)) aliasAt(item.source, entry);
          continue;
        }
        // Any other key, an alias too (`*n: …`), names the place of its value: the value was left unwalked, and
        // `*n: *e` was taken for a merge, so an env map aliased there, or a secret anchored in it, was shown.
        // (A key that repeats a secret shows it as a name: a limit, docs/skills-config.md.)
        stack.push({ node: pair.value, parent: entry, seg: treeKey(pair.key, doc, targetsOf) });
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => stack.push({ node: item, parent: entry, seg: i }));
  }
  const pathOf = (e: Entry) => {
    const path: Path = [];
    for (let at: Entry | null = e; at?.parent; at = at.parent) path.unshift(at.seg);
    return path;
  };
  return anchored
    .filter((e) => aliases.has((e.node as Node).anchor as string))
    .map((e) => ({
      path: pathOf(e),
      value: (e.node as Node).toJS(doc, { maxAliasCount: 100 }),
      copies: (aliases.get((e.node as Node).anchor as string) as Entry[]).map(pathOf),
    }));
}
