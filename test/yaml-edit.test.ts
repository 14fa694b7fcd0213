/**
 * The in-place YAML editor against its contract, on generated files: any config written in any of
 * the styles people and PyYAML use, any path, any JSON value. After an edit the file parses to the
 * old tree with `path = value` applied (nothing else changed), or the edit is refused with a
 * PathConflict exactly when the path goes through a scalar or a list; comments outside the replaced
 * value survive.
 */
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { isMap, isScalar, parseDocument, type Node, type Pair } from 'yaml';
import { configTreeOf, parseHermesYaml } from '../src/hermes/home';
import { HERMES_YAML_OPTIONS } from '../src/hermes/yaml-schema';
import { setIn } from '../src/modules/config/yaml-batch';
import { PathConflict, setInTree } from '../src/modules/config/yaml-edit';
import { KEYS, configTree, jsonValue, render, style } from './helpers/yaml-configs';

/** Where the JS semantics say `path` must be refused: a non-null, non-map value on the way. */
function crossesNonMap(tree: Record<string, unknown>, path: string[]): boolean {
  let node: unknown = tree;
  for (let i = 0; i < path.length - 1; i++) {
    const next = (node as Record<string, unknown>)[path[i] as string];
    if (next === undefined || next === null) return false;
    if (typeof next !== 'object' || Array.isArray(next)) return true;
    node = next;
  }
  return false;
}

/** The text span an edit may rewrite: the lines of the old value at `path` (if it exists). */
function replacedSpan(src: string, path: string[]): [number, number] | null {
  const doc = parseDocument(src, HERMES_YAML_OPTIONS);
  let node: unknown = doc.contents;
  for (const key of path) {
    if (!isMap(node)) return null;
    const pair = (node.items as Pair<Node, Node>[]).findLast((p) => isScalar(p.key) && String(p.key.value) === key);
    if (!pair) return null;
    node = pair.value;
    if (!node || (isScalar(node) && node.value === null)) break;
  }
  const range = (node as { range?: [number, number, number] } | null)?.range;
  if (!range) return null;
  const start = src.lastIndexOf('\n', range[0] - 1) + 1;
  const nl = src.indexOf('\n', range[1]);
  return [start, nl < 0 ? src.length : nl + 1];
}

describe('setIn on generated configs', () => {
  test('parses to the old tree plus the edit, or refuses exactly when the path crosses a non-map', () => {
    fc.assert(
      fc.property(configTree, style, fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 4 }), jsonValue, (tree, s, path, value) => {
        const src = render(tree, s);
        const before = configTreeOf(parseHermesYaml(src));
        let out: string;
        try {
          out = setIn(src, path, value);
        } catch (err) {
          if (!(err instanceof PathConflict)) throw err;
          expect(crossesNonMap(before, path)).toBe(true);
          return;
        }
        expect(crossesNonMap(before, path)).toBe(false);
        const expected = structuredClone(before);
        setInTree(expected, path, value);
        expect(configTreeOf(parseHermesYaml(out))).toEqual(expected);
        // Comments outside the replaced value are all still there.
        const span = replacedSpan(src, path);
        for (const m of src.matchAll(/# [ct]\d+/g)) {
          const at = m.index as number;
          if (span && at >= span[0] && at < span[1]) continue;
          expect(out).toContain(m[0] + '\n');
        }
      }),
      { numRuns: 400 },
    );
  }, 120_000);

  test('several edits in a row stay consistent', () => {
    fc.assert(
      fc.property(configTree, style, fc.array(fc.tuple(fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 }), jsonValue), { minLength: 1, maxLength: 6 }), (tree, s, ops) => {
        let src = render(tree, s);
        const expected = configTreeOf(parseHermesYaml(src));
        for (const [path, value] of ops) {
          try {
            src = setIn(src, path, value);
          } catch (err) {
            if (!(err instanceof PathConflict)) throw err;
            continue;
          }
          setInTree(expected, path, value);
        }
        expect(configTreeOf(parseHermesYaml(src))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  }, 120_000);
});

describe('setIn keeps what it does not touch', () => {
  const src = `# head comment
model:   # the model block
  default: gpt-4o      # spaced comment
  provider: openai


toolsets:
- web
- terminal
flow: {a: 1,  b: [1, 2]}   # flow map
quoted: 'single'
anchored: &base {x: 1}
alias: *base
merged:
  <<: *base
  y: 2
block: |
  line one
  line two
tail: 1 # end
# trailing comment
`;

  test('a scalar edit changes one line and nothing else', () => {
    const out = setIn(src, ['model', 'provider'], 'anthropic');
    expect(out).toBe(src.replace('  provider: openai\n', '  provider: anthropic\n'));
  });

  test('a new key goes after the last key of its map, at its indentation', () => {
    expect(setIn(src, ['model', 'base_url'], 'http://h/v1')).toBe(src.replace('  provider: openai\n', '  provider: openai\n  base_url: http://h/v1\n'));
    expect(setIn(src, ['flow', 'c'], 'x,y')).toBe(src.replace('{a: 1,  b: [1, 2]}', '{a: 1,  b: [1, 2], c: "x,y"}'));
    // The file's own style: lists not indented under their key (PyYAML's way).
    expect(setIn(src, ['new', 'list'], ['a', 'b'])).toBe(src.replace('tail: 1 # end\n', 'tail: 1 # end\nnew:\n  list:\n  - a\n  - b\n'));
    const fourSpaces = 'a:\n    b: 1\nl:\n    - x\n';
    expect(setIn(fourSpaces, ['c'], { d: [1] })).toBe(`${fourSpaces}c:\n    d:\n        - 1\n`);
  });

  test('Unicode spaces and line breaks are written double-quoted, NEL/LS/PS escaped, as keys and values', () => {
    for (const v of ['\u00a0', 'x\u00a0', '\ufeff', '\u3000', '\u2028', 'a\u2029b', '\u0085']) {
      for (const path of [['tail'], ['model', 'provider'], ['flow', 'a'], ['new'], [`k${v}`]]) {
        const out = setIn(src, path, v);
        const tree = configTreeOf(parseHermesYaml(out)) as Record<string, Record<string, unknown>>;
        const got = path.length === 1 ? tree[path[0] as string] : tree[path[0] as string]?.[path[1] as string];
        expect({ v, path, got }).toEqual({ v, path, got: v });
        // PyYAML folds a raw NEL, LS or PS even inside double quotes: they must be escaped.
        expect(/[\u0085\u2028\u2029]/.test(out)).toBe(false);
      }
    }
  });

  test('quote style of a replaced string is kept', () => {
    expect(setIn(src, ['quoted'], 'other')).toBe(src.replace("quoted: 'single'", "quoted: 'other'"));
  });

  test('anchors, aliases and merge keys are refused rather than silently changing other keys', () => {
    expect(() => setIn(src, ['anchored'], 1)).toThrow(PathConflict);
    expect(() => setIn(src, ['alias', 'x'], 1)).toThrow(PathConflict);
    expect(() => setIn(src, ['merged', 'x'], 5)).toThrow(PathConflict);
    // A key the merging map has itself is fine.
    expect(setIn(src, ['merged', 'y'], 3)).toBe(src.replace('  y: 2\n', '  y: 3\n'));
  });

  test('block scalars, flow maps and lists are replaced whole', () => {
    expect(setIn(src, ['block'], 'one line')).toBe(src.replace('block: |\n  line one\n  line two\n', 'block: one line\n'));
    expect(setIn(src, ['toolsets'], ['x'])).toBe(src.replace('- web\n- terminal\n', '- x\n'));
    expect(setIn(src, ['model'], 'short')).toBe(src.replace('model:   # the model block\n  default: gpt-4o      # spaced comment\n  provider: openai\n', 'model: short   # the model block\n'));
  });

  test('an empty value followed by a comment keeps the comment a comment', () => {
    expect(setIn('a: # note\nb: 1\n', ['a'], 5)).toBe('a: 5 # note\nb: 1\n');
    expect(setIn('a: # note\nb: 1\n', ['a', 'x'], 1)).toBe('a: # note\n  x: 1\nb: 1\n');
    expect(setIn('a: old   # note\n', ['a'], { x: 1 })).toBe('a:   # note\n  x: 1\n');
  });

  test('a CRLF file stays CRLF', () => {
    expect(setIn('a: 1\r\nb:\r\n  c: 2\r\n', ['b', 'd'], 3)).toBe('a: 1\r\nb:\r\n  c: 2\r\n  d: 3\r\n');
  });

  test('an empty or comment-only file gets the key appended', () => {
    expect(setIn('', ['a', 'b'], 1)).toBe('a:\n  b: 1\n');
    expect(setIn('# only a comment', ['a'], 'x')).toBe('# only a comment\na: x\n');
    expect(setIn('~\n', ['a'], 'x')).toBe('\na: x\n');
  });
});
