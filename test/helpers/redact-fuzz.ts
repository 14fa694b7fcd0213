/**
 * A generator of Hermes config.yaml files, realistic to hostile (anchors on scalars, maps and lists,
 * aliases anywhere, `<<` merges of one alias or a list, an anchor name defined twice, keys that need
 * quotes, flow style), and an oracle that says, from the rules of docs/skills-config.md "Redaction"
 * alone, which values must never be shown. The oracle resolves the file with the yaml package (not
 * with the code under test) and follows each scalar node to every place the tree shows it.
 *
 * The file is built from a list of numbers (each choice takes the next one, 0 when they run out), so
 * fast-check shrinks a failing file by shortening and lowering that list.
 */
import { isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Node, type Scalar } from 'yaml';

export const PLAIN = ['gpt-4o', 'claude-opus', 'mistral-large', 'https://openrouter.ai/api/v1', 'hello-world', 'anthropic'];
export const SECRETISH = ['sk-or-v1-5f2c9a7e1d3b', 'tok9f8e77', 'ghp_R4nD0mG1tH', 'hunter2pw', 'whsec_3c4d5e6f'];
const KEYS = ['name', 'default', 'fallback', 'note', 'url', 'api_key', 'token', 'password', 'secret_word', 'x-api-key', 'Authorization', 'tokenizer', 'max_tokens', 'a b', 'k: v', '#hash', 'db.key', 'cookie', 'list'];
const ENV_KEYS = ['OPENAI_MODEL', 'BASE', 'API_TOKEN', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'MODE', 'X Y'];
const ANCHORS = ['a', 'b', 'k', 'e', 'm'];

/** A map key: written out, an alias (`*k : …`, repeating a scalar), or written with an anchor (`&k name: …`). */
type Key = string | { alias: string } | { key: string; anchor: string };

type V =
  | { t: 's'; v: string | number; anchor?: string }
  | { t: 'alias'; name: string }
  | { t: 'map'; entries: ([Key, V] | { merge: string[]; list: boolean })[]; anchor?: string; flow: boolean }
  | { t: 'seq'; items: V[]; anchor?: string; flow: boolean };

class Choices {
  private i = 0;
  constructor(private readonly xs: readonly number[]) {}
  pick(n: number): number {
    return (this.xs[this.i++] ?? 0) % n;
  }
  of<T>(list: readonly T[]): T {
    return list[this.pick(list.length)] as T;
  }
}

/** Builds the IR in document order, so an alias only names an anchor written before it. */
class Builder {
  /** Anchors written so far (a name may be written twice), with whether they hold a map or a scalar. */
  private defined: { name: string; map: boolean; scalar: boolean }[] = [];
  constructor(private readonly c: Choices) {}

  private anchored<T extends V & { anchor?: string }>(make: () => T): T {
    const name = this.c.pick(3) === 0 ? this.c.of(ANCHORS) : undefined;
    const v = make();
    if (name) {
      v.anchor = name;
      this.defined.push({ name, map: v.t === 'map', scalar: v.t === 's' });
    }
    return v;
  }

  scalar(pool?: readonly string[]): V {
    const k = this.c.pick(9);
    return this.anchored(() => ({ t: 's' as const, v: k === 8 ? 4096 : this.c.of(pool ?? (k < 4 ? PLAIN : SECRETISH)) }));
  }

  /** A key as written: now and then an alias of a scalar written before, or a key with an anchor of its own. */
  key(keys: readonly string[]): Key {
    const k = this.c.pick(8);
    const scalars = this.defined.filter((d) => d.scalar).map((d) => d.name);
    if (k === 0 && scalars.length) return { alias: this.c.of(scalars) };
    if (k !== 1) return this.c.of(keys);
    // A key with an anchor is the value an alias repeats elsewhere: a secret or a model name, as values are.
    const key = this.c.of([...SECRETISH, ...PLAIN]);
    // Defined before the value is built: an alias inside the value may name it.
    const anchor = this.c.of(ANCHORS);
    this.defined.push({ name: anchor, map: false, scalar: true });
    return { key, anchor };
  }

  alias(maps: boolean): V | null {
    const names = this.defined.filter((d) => !maps || d.map).map((d) => d.name);
    return names.length ? { t: 'alias', name: this.c.of(names) } : null;
  }

  value(depth: number, flow: boolean, keys: readonly string[] = KEYS, pool?: readonly string[]): V {
    const k = this.c.pick(depth >= 3 ? 4 : 7);
    if (k === 0 || k === 1) return this.alias(false) ?? this.scalar(pool);
    if (k < 4) return this.scalar(pool);
    if (k < 6) return this.map(depth, flow || this.c.pick(4) === 0, keys, pool);
    return this.anchored(() => {
      const f = flow || this.c.pick(3) === 0;
      const n = this.c.pick(3);
      const items: V[] = [];
      for (let i = 0; i < n; i++) items.push(this.value(depth + 1, f, keys, pool));
      return { t: 'seq' as const, items, flow: f };
    });
  }

  map(depth: number, flow: boolean, keys: readonly string[], pool?: readonly string[], n = this.c.pick(4)): V & { t: 'map' } {
    return this.anchored(() => {
      const entries: (V & { t: 'map' })['entries'] = [];
      for (let i = 0; i < n; i++) {
        if (this.c.pick(6) === 0) {
          const first = this.alias(true);
          if (!first) continue;
          const list = this.c.pick(2) === 0;
          const second = list ? this.alias(true) : null;
          entries.push({ merge: [(first as { name: string }).name, ...(second ? [(second as { name: string }).name] : [])], list });
        } else entries.push([this.key(keys), this.value(depth + 1, flow, keys, pool)]);
      }
      return { t: 'map' as const, entries, flow };
    });
  }

  model(): V {
    if (this.c.pick(3) === 0) return this.value(2, false);
    const entries: [string, V][] = [['default', this.value(3, false, KEYS, PLAIN)], ['provider', this.value(3, false, KEYS, PLAIN)]];
    if (this.c.pick(2)) entries.push(['base_url', this.value(3, false)]);
    if (this.c.pick(2)) entries.push(['max_tokens', { t: 's', v: 4096 }]);
    return { t: 'map', entries, flow: this.c.pick(4) === 0 };
  }

  server(): V {
    const entries: [string, V][] = [['command', { t: 's', v: 'npx' }]];
    for (const part of ['env', 'headers']) if (this.c.pick(3)) entries.push([part, this.value(1, false, ENV_KEYS)]);
    if (this.c.pick(2)) entries.push(['env', this.map(2, this.c.pick(3) === 0, ENV_KEYS, undefined, 1 + this.c.pick(3))]);
    return { t: 'map', entries, flow: false };
  }

  root(): V & { t: 'map' } {
    const entries: (V & { t: 'map' })['entries'] = [];
    const sections = 3 + this.c.pick(5);
    for (let i = 0; i < sections; i++) {
      const s = this.c.pick(5);
      if (s === 0) entries.push(['model', this.model()]);
      else if (s === 1) entries.push(['providers', { t: 'map', entries: [['openrouter', this.map(1, false, KEYS)]], flow: false }]);
      else if (s === 2) {
        const servers: [string, V][] = [];
        for (let j = 1 + this.c.pick(2); j > 0; j--) servers.push([this.c.of(['github', 'web search', 'fs']), this.server()]);
        entries.push(['mcp_servers', { t: 'map', entries: servers, flow: false }]);
      } else if (s === 3 && this.c.pick(3) === 0) {
        const m = this.alias(true);
        if (m) entries.push({ merge: [(m as { name: string }).name], list: false });
      } else entries.push([this.c.of(KEYS), this.value(0, false)]);
    }
    return { t: 'map', entries, flow: false };
  }
}

const quotedKey = (k: string) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k));
/** A key and its colon; an alias needs a space before the colon (`*k:` would name an anchor `k:`). */
const keyText = (k: Key) => (typeof k === 'string' ? `${quotedKey(k)}:` : 'alias' in k ? `*${k.alias} :` : `&${k.anchor} ${quotedKey(k.key)}:`);
const anchorOf = (v: V) => ('anchor' in v && v.anchor ? `&${v.anchor} ` : '');

function scalarText(v: string | number, c: Choices): string {
  if (typeof v === 'number') return String(v);
  return /^[A-Za-z][A-Za-z0-9_-]*$/.test(v) && c.pick(2) ? v : JSON.stringify(v);
}

function inline(v: V, c: Choices): string {
  if (v.t === 's') return anchorOf(v) + scalarText(v.v, c);
  if (v.t === 'alias') return `*${v.name}`;
  if (v.t === 'seq') return `${anchorOf(v)}[${v.items.map((x) => inline(x, c)).join(', ')}]`;
  const parts = v.entries.map((e) => (Array.isArray(e) ? `${keyText(e[0])} ${inline(e[1], c)}` : mergeText(e)));
  return `${anchorOf(v)}{${parts.join(', ')}}`;
}

const mergeText = (m: { merge: string[]; list: boolean }) => `<<: ${m.list ? `[${m.merge.map((n) => `*${n}`).join(', ')}]` : `*${m.merge[0]}`}`;

const isBlock = (v: V) => (v.t === 'map' && !v.flow && v.entries.length > 0) || (v.t === 'seq' && !v.flow && v.items.length > 0);

function block(v: V, indent: number, c: Choices): string[] {
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  const put = (head: string, x: V) => {
    if (isBlock(x)) lines.push(`${head}${anchorOf(x) ? ` ${anchorOf(x).trim()}` : ''}`, ...block(x, indent + 2, c));
    else lines.push(`${head} ${inline(x, c)}`);
  };
  if (v.t === 'map') for (const e of v.entries) Array.isArray(e) ? put(`${pad}${keyText(e[0])}`, e[1]) : lines.push(pad + mergeText(e));
  else if (v.t === 'seq') for (const x of v.items) put(`${pad}-`, x);
  return lines;
}

/** A config.yaml from a list of choices. */
export function configFile(xs: readonly number[]): string {
  const c = new Choices(xs);
  const root = new Builder(c).root();
  return `${block(root, 0, c).join('\n')}\n`;
}

// ---- the oracle: the rules of docs/skills-config.md, on the file as the yaml package resolves it ----

const EXACT = ['api_key', 'apikey', 'key', 'token', 'access_token', 'refresh_token', 'id_token', 'secret', 'client_secret', 'password', 'passwd', 'auth', 'authorization', 'private_key', 'bearer', 'jwt', 'cookie', 'pat'];

/** The documented secret key names (the value decides for a key containing `tokens`). */
export function secretName(key: string, isNumber: boolean): boolean {
  const k = key.toLowerCase();
  if (EXACT.includes(k) || /(_|-|\.)(key|pat)$/.test(k)) return true;
  if (['api_key', 'api-key', 'secret', 'password', 'passwd', 'passphrase', 'private_key', 'credential'].some((p) => k.includes(p))) return true;
  if (!k.includes('token') || k === 'tokenizer' || k === 'tokenize') return false;
  return !(k.includes('tokens') && isNumber);
}

export interface Verdict {
  /** Strings no response may contain. */
  hidden: Set<string>;
  /** The model name that must be shown as written, when the file makes that certain. */
  model: string | null;
  /**
   * Keys written out (no alias, no anchor) that the tree has, and that no alias or anchored key of the
   * file spells: only those may repeat a secret as a key (masked), so these are shown as written.
   */
  plainKeys: Set<string>;
}

/** What the rules say of a file; null when the yaml package does not take it (the app answers 409, checked apart). */
export function verdict(text: string): Verdict | null {
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: false });
  if (doc.errors.length) return null;
  // An alias inside the value it names has no tree (the app refuses the file, 409).
  let cycle = false;
  visit(doc, { Alias: (_, a, path) => void (cycle ||= path.includes(a.resolve(doc) as Node)) });
  if (cycle) return null;
  // Left out: a key that is a list or map, which an alias of a name defined twice can make (`&b x`,
  // `&b [x]`, then `*b : …`): the app refuses such a file (409), as PyYAML does.
  let collectionKey = false;
  visit(doc, { Pair: (_, pair) => void (collectionKey ||= !isScalar(isAlias(pair.key) ? pair.key.resolve(doc) : pair.key) && pair.key !== null) });
  if (collectionKey) return null;
  type Placed = { secret: boolean; byKey: boolean; count: number; maybe?: boolean };
  const nodes = new Map<Scalar, Placed>();
  /** Values written under a secret name anywhere, even where a repeated key replaced them. */
  const writtenKeySecret = new Set<unknown>();
  let steps = 0;
  const resolve = (n: unknown): unknown => (isAlias(n) ? n.resolve(doc) : n);
  /** A key as the tree spells it: an alias key is the scalar it repeats. */
  const keyOf = (k: unknown): unknown => {
    const r = resolve(k);
    return isScalar(r) ? r.value : null;
  };
  const sharedKeys = new Set<string>();
  const plainKeys = new Set<string>();
  visit(doc, { Pair: (_, pair) => void ((isAlias(pair.key) || (pair.key as Node | null)?.anchor) && sharedKeys.add(String(keyOf(pair.key)))) });
  /** A map's keys and value nodes as the tree has them: a later key replaces, a merge adds only missing keys. */
  const entriesOf = (m: unknown): Map<string, unknown> => {
    const out = new Map<string, unknown>();
    if (!isMap(m)) return out;
    for (const pair of m.items) {
      const key = keyOf(pair.key);
      if (typeof key === 'symbol') {
        const v = resolve(pair.value);
        for (const src of isSeq(v) ? v.items.map(resolve) : [v]) for (const [k, x] of entriesOf(src)) if (!out.has(k)) out.set(k, x);
      } else {
        out.set(String(key), pair.value);
        if (isScalar(pair.key) && !pair.key.anchor) plainKeys.add(String(key));
      }
    }
    return out;
  };
  const walk = (n: unknown, path: readonly string[], secret: boolean, byKey: boolean) => {
    if (++steps > 200_000) throw new Error('file expands too far for the oracle');
    const node = resolve(n);
    if (isScalar(node)) {
      const p = nodes.get(node) ?? { secret: false, byKey: false, count: 0 };
      nodes.set(node, { secret: p.secret || secret, byKey: p.byKey || byKey, count: p.count + 1 });
    } else if (isSeq(node)) node.items.forEach((x) => walk(x, [...path, '#'], secret, byKey));
    else if (isMap(node)) {
      for (const [k, x] of entriesOf(node)) {
        const r = resolve(x);
        const named = secretName(k, isScalar(r) && typeof r.value === 'number');
        const placed = path.length === 2 && path[0] === 'mcp_servers' && (k === 'env' || k === 'headers');
        walk(x, [...path, k], secret || named || placed, byKey || named);
      }
    }
  };
  walk(doc.contents, [], false, false);
  // Where a value is written counts too when a repeated key replaced that place and an alias shows
  // the value (`model: {api_key: &a x}`, then `model: *a`): it was written as a secret. An alias that
  // stands where a repeated key replaced it is left undecided (`maybe`): the rules do not say.
  const written = (at: unknown, path: readonly string[], secret: boolean, byKey: boolean, viaAlias: boolean) => {
    if (++steps > 400_000) throw new Error('file expands too far for the oracle');
    const n = resolve(at);
    const alias = viaAlias || isAlias(at);
    const p = isScalar(n) ? nodes.get(n) : undefined;
    if (isScalar(n) && byKey) writtenKeySecret.add(n.value);
    if (p && alias) nodes.set(n as Scalar, { ...p, maybe: p.maybe || secret });
    else if (p) nodes.set(n as Scalar, { ...p, secret: p.secret || secret, byKey: p.byKey || byKey });
    else if (isSeq(n)) n.items.forEach((x) => written(x, [...path, '#'], secret, byKey, alias));
    else if (isMap(n)) {
      for (const pair of n.items) {
        const k = keyOf(pair.key);
        if (typeof k === 'symbol') continue;
        const r = resolve(pair.value);
        const named = secretName(String(k), isScalar(r) && typeof r.value === 'number');
        const placed = path.length === 2 && path[0] === 'mcp_servers' && (k === 'env' || k === 'headers');
        written(pair.value, [...path, String(k)], secret || named || placed, byKey || named, alias);
      }
    }
  };
  written(doc.contents, [], false, false, false);
  // Nodes inside an anchored value that an alias repeats.
  const aliased = new Set<unknown>();
  visit(doc, { Alias: (_, a) => void aliased.add(a.resolve(doc)) });
  const inAliased = new Set<Scalar>();
  const anchorNames: string[] = [];
  visit(doc, {
    Node: (_, node, path) => {
      if ((node as Node).anchor) anchorNames.push((node as Node).anchor as string);
      if (isScalar(node) && (aliased.has(node) || path.some((p) => aliased.has(p)))) inAliased.add(node);
    },
  });
  const byValue = new Map<string, Placed[]>();
  const keySecret = new Set<string>();
  for (const [node, p] of nodes) {
    if (typeof node.value !== 'string') continue;
    byValue.set(node.value, [...(byValue.get(node.value) ?? []), p]);
    if (p.byKey && inAliased.has(node)) keySecret.add(node.value);
  }
  const hidden = new Set<string>();
  for (const [value, ps] of byValue) if (value.length >= 5 && (ps.every((p) => p.secret) || keySecret.has(value))) hidden.add(value);
  // The converse: a model name written where nothing makes it secret is shown as written.
  let model: string | null = null;
  const dupAnchor = new Set(anchorNames).size !== anchorNames.length;
  // Left out: a key repeated in one map. The value it replaced is compared by value, and one equal to
  // it written there again is taken for it (`model: &a x`, `model: x`, `env: *a` masks model).
  let dupKey = false;
  visit(doc, {
    Map: (_, m) => {
      const keys = m.items.map((p) => keyOf(p.key)).filter((k) => k !== null && typeof k !== 'symbol');
      dupKey ||= new Set(keys).size !== keys.length;
    },
  });
  const m = resolve(entriesOf(doc.contents).get('model'));
  const d = isMap(m) ? resolve(entriesOf(m).get('default')) : m;
  const anyKeySecret = (v: string) => writtenKeySecret.has(v) || [...nodes].some(([n, p]) => n.value === v && p.byKey);
  if (isScalar(d) && typeof d.value === 'string' && d.value && !dupAnchor && !dupKey && !nodes.get(d)?.secret && !nodes.get(d)?.maybe && !anyKeySecret(d.value)) model = d.value;
  for (const k of sharedKeys) plainKeys.delete(k);
  return { hidden, model, plainKeys };
}
