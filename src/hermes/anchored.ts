/**
 * The anchored values of config.yaml (`&name`) that aliases repeat (`*name`, `<<: *name`), with where
 * each is defined and repeated: what redaction (src/modules/config/redact.ts) follows a secret through.
 */
import { isAlias, isMap, isScalar, isSeq, Pair, parseDocument, visit, YAMLMap, type Alias, type Node } from 'yaml';

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
 * What each alias of the file names: the last node with its anchor before it, in document order (the
 * yaml package's rule). One walk: `Alias.resolve(doc)` walks the whole document on every call, and a
 * key per alias made 800 alias keys take 6 to 10 s to read (quadratic, found in review).
 */
function aliasTargets(doc: Doc): Map<Alias, unknown> {
  const latest = new Map<string, unknown>();
  const targets = new Map<Alias, unknown>();
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) targets.set(node, latest.get(node.source));
      else if (node.anchor) latest.set(node.anchor, node);
    },
  });
  return targets;
}

/**
 * A map key as the tree spells it. An alias key is its anchored scalar's text, or the alias itself
 * (`*name`) for an alias of a date or binary, as the yaml package's tree names it (spelled by the
 * package, each such key walked the whole document again); a null key is ""; other dates and binary
 * are spelled by the yaml package itself, as its tree has them. (A key that is a map or list never
 * gets here: parseHermesYaml refuses the file, as PyYAML does.)
 */
function treeKey(key: unknown, doc: Doc, targets: Map<Alias, unknown>): string {
  const node = isAlias(key) ? targets.get(key) : key;
  if (node === null || node === undefined) return '';
  if (isScalar(node) && (node.value === null || typeof node.value !== 'object')) return node.value === null ? '' : String(node.value);
  if (isAlias(key)) return `*${key.source}`;
  const one = new YAMLMap();
  one.items.push(new Pair(key, null));
  return Object.keys(one.toJS(doc, { maxAliasCount: 100 }) as object)[0] ?? '';
}

/** treeKey for one key, without a walk of the document done already (an edit looking at one map). */
export const keyName = (key: unknown, doc: Doc): string => treeKey(key, doc, new Map(isAlias(key) ? [[key, key.resolve(doc)]] : []));

const isMergeKey = (key: unknown) => isScalar(key) && typeof key.value === 'symbol';

/**
 * A map key that is an alias (`*k : …`) or carries an anchor (`&k name: …`): where a key may repeat a
 * value written elsewhere, a secret among them (redaction masks those keys).
 */
export interface SharedKey {
  /** The tree's spelling of the key. */
  name: string;
  /**
   * The scalar it stands for (a string, number, boolean, null, Date or binary): what redaction matches
   * it to a masked value by, as a date or binary key is spelled unlike the value (its Date text, its bytes decoded).
   */
  value: unknown;
}

/** What redaction follows a secret through: the anchored values, and the map keys a YAML alias or anchor shares. */
export interface Anchors {
  values: AnchoredValue[];
  keys: SharedKey[];
}

/** Every anchored value below the root that an alias repeats, with its path, and the shared keys. Called once per change of the file. */
export function anchoredValues(doc: Doc): Anchors {
  const targets = aliasTargets(doc);
  const keys: SharedKey[] = [];
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
  /** Keys written with an anchor (`&k name: …`): an alias repeats them as values elsewhere. */
  const anchoredKeys: Entry[] = [];
  /** Anchors an alias key repeats (`*k : …`): a repeat as well, though with no place in the tree. */
  const keyAliased = new Set<string>();
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
        const seg = treeKey(pair.key, doc, targets);
        if (isAlias(pair.key) || (pair.key as Node | null)?.anchor) {
          const scalar = isAlias(pair.key) ? targets.get(pair.key) : pair.key;
          keys.push({ name: seg, value: isScalar(scalar) ? scalar.value : undefined });
        }
        if (isAlias(pair.key)) keyAliased.add(pair.key.source);
        else if ((pair.key as Node | null)?.anchor) anchoredKeys.push({ node: pair.key, parent: entry, seg });
        stack.push({ node: pair.value, parent: entry, seg });
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => stack.push({ node: item, parent: entry, seg: i }));
  }
  const pathOf = (e: Entry) => {
    const path: Path = [];
    for (let at: Entry | null = e; at?.parent; at = at.parent) path.unshift(at.seg);
    return path;
  };
  const values = anchored
    .filter((e) => aliases.has((e.node as Node).anchor as string) || keyAliased.has((e.node as Node).anchor as string))
    .map((e) => ({
      path: pathOf(e),
      value: (e.node as Node).toJS(doc, { maxAliasCount: 100 }),
      copies: (aliases.get((e.node as Node).anchor as string) ?? []).map(pathOf),
    }));
  // An anchored key has no place of its own in the tree: its first alias stands for where it is defined,
  // so a key repeated into an env map (`&a sk-…: x`, `env: *a`) is masked at its other aliases too.
  // Only the aliases that name this key: its name may be defined twice, and the other definition's `<<`
  // merge (its place a whole map, the root too) stood for where the key is defined, so it was skipped.
  for (const e of anchoredKeys) {
    const repeats = (aliases.get((e.node as Node).anchor as string) ?? []).filter((r) => isAlias(r.node) && targets.get(r.node) === e.node);
    if (!repeats.length) continue;
    const copies = repeats.map(pathOf);
    values.push({ path: copies[0] as Path, value: (e.node as Node).toJS(doc, { maxAliasCount: 100 }), copies });
  }
  return { values, keys };
}
