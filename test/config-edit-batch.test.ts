/**
 * Many edits on one parse (yaml-batch.ts) against the same edits made one by one, each on the file
 * the one before wrote (how every edit was made until 2026-12-07): the same bytes, or the same first
 * refusal, for random edit sets over generated and hand-written configs — paths that go through what
 * an earlier path set (`a` then `a.b`), keys added to one map and to maps inside it, flow maps,
 * tags, anchors, merges, CRLF, a BOM, empty files.
 */
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { ConfigParseError, configTreeOf, parseHermesYaml } from '../src/hermes/home';
import { setAll, setIn, type EditOp } from '../src/modules/config/yaml-batch';
import { PathConflict } from '../src/modules/config/yaml-edit';
import { CONFIG_YAML } from './helpers/hermes-home';
import { KEYS, configTree, jsonValue, render, style } from './helpers/yaml-configs';

const HAND_WRITTEN = [
  CONFIG_YAML,
  `# head\nmodel:   # the model block\n  default: gpt-4o      # spaced\n  provider: openai\n\n\ntoolsets:\n- web\nflow: {a: 1,  b: [1, 2]}   # flow\nempty: {}\nquoted: 'single'\nanchored: &base {x: 1}\nalias: *base\nmerged:\n  <<: *base\n  y: 2\nblock: |\n  one\n  two\ntail: 1 # end\n# trailing\n`,
  'terminal:\n  timeout: !!str 30\n  shell: !!str bash   # tagged\n  env: !!map\n    A: 1\nother: !!str x\n',
  'a:\n  b:\n    c: 1\n    # about c\n  # about b\nd:\n  e: {f: {}}\n',
  'model: gpt-4o\nproviders:\n  x:\n    key: 1\n',
  'a: 1\r\nb:\r\n  c: 2\r\n  d:\r\n    e: 3\r\n',
  '\ufeffa: 1\nb:\n  c: 2\n',
  'a:\n  b: 1',
  'a: # note\nb:\nc: ~\n',
  '',
  '~\n',
  '# only a comment',
];

/** Every key path of a tree (maps only), so edits hit existing keys as often as new ones. */
function keyPaths(tree: unknown, base: string[] = [], out: string[][] = []): string[][] {
  if (tree && typeof tree === 'object' && !Array.isArray(tree) && !(tree instanceof Date)) {
    for (const [k, v] of Object.entries(tree)) {
      out.push([...base, k]);
      keyPaths(v, [...base, k], out);
    }
  }
  return out;
}

type Outcome = { text: string } | { refused: string; path: string } | { unparsable: true };

function outcome(run: () => string, pathOf: (err: PathConflict) => string): Outcome {
  try {
    return { text: run() };
  } catch (err) {
    if (err instanceof PathConflict) return { refused: err.message, path: pathOf(err) };
    if (err instanceof ConfigParseError) return { unparsable: true };
    throw err;
  }
}

function oneByOne(text: string, ops: EditOp[]): Outcome {
  let failed = '';
  return outcome(
    () =>
      ops.reduce((t, op) => {
        failed = op.path.join('.');
        return setIn(t, op.path, op.value);
      }, text),
    () => failed,
  );
}

const batched = (text: string, ops: EditOp[]): Outcome => outcome(() => setAll(text, ops), (err) => err.path.join('.'));

/** Edit sets over `src`: existing paths, one level shorter or longer, new keys; null often, so later paths go through it. */
function editSets(src: string) {
  const paths = keyPaths(configTreeOf(parseHermesYaml(src.replace(/^\ufeff/, ''))));
  const existing = paths.length ? fc.constantFrom(...paths) : fc.constant(['a']);
  const path = fc.oneof(
    existing,
    fc.tuple(existing, fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 2 })).map(([p, more]) => [...p, ...more]),
    existing.map((p) => (p.length > 1 ? p.slice(0, -1) : p)),
    fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 }),
  );
  const value = fc.oneof(jsonValue, fc.constant(null), fc.constant({}), fc.dictionary(fc.constantFrom(...KEYS), fc.integer(), { maxKeys: 2 }));
  return fc.array(fc.record({ path, value }), { minLength: 1, maxLength: 12 });
}

describe('edits on one parse equal the same edits one by one', () => {
  test('hand-written configs (tags, anchors, flow maps, CRLF, BOM, empty files)', () => {
    for (const src of HAND_WRITTEN) {
      fc.assert(
        fc.property(editSets(src), (ops) => {
          expect(batched(src, ops)).toEqual(oneByOne(src, ops));
        }),
        { numRuns: 150 },
      );
    }
  }, 120_000);

  test('generated configs', () => {
    fc.assert(
      fc.property(
        configTree.chain((tree) => fc.tuple(fc.constant(tree), style)).chain(([tree, s]) => {
          const src = render(tree, s);
          return fc.tuple(fc.constant(src), editSets(src));
        }),
        ([src, ops]) => {
          expect(batched(src, ops)).toEqual(oneByOne(src, ops));
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);

  test('keys added to one map and to the maps inside it, at the same place', () => {
    const src = 'm:\n  last:\n    deep:\n      x: 1\nnext: {a: {}}\n';
    const ops: EditOp[] = [
      { path: ['m', 'y'], value: 1 },
      { path: ['m', 'last', 'deep', 'z'], value: 2 },
      { path: ['m', 'last', 'w'], value: [1] },
      { path: ['m', 'v'], value: { q: 1 } },
      { path: ['next', 'a', 'b'], value: 1 },
      { path: ['next', 'a', 'c'], value: 2 },
      { path: ['next', 'd'], value: 3 },
    ];
    expect(batched(src, ops)).toEqual(oneByOne(src, ops));
    expect(batched(src, ops)).toEqual({ text: 'm:\n  last:\n    deep:\n      x: 1\n      z: 2\n    w:\n      - 1\n  y: 1\n  v:\n    q: 1\nnext: {a: {b: 1, c: 2}, d: 3}\n' });
  });

  test('the first refusal in order is reported, even when a later path fails in an earlier round', () => {
    const src = 'a: 1\nb: 2\n';
    // `a.x` needs `a` as `a: null` left it (round 2); `b.y` fails at once (round 1) but comes later.
    const ops: EditOp[] = [
      { path: ['a'], value: 5 },
      { path: ['a', 'x'], value: 1 },
      { path: ['b', 'y'], value: 1 },
    ];
    expect(batched(src, ops)).toEqual(oneByOne(src, ops));
    expect(batched(src, ops)).toMatchObject({ path: 'a.x' });
  });

  test('a list added in a 4-space file sets the list style of later edits as its text shows it', () => {
    // The yaml package writes an unindented list at (unit - 2) past its key: with a unit of 4 it reads
    // back as indented, and one by one the next list written took that style from it.
    const src = 'a:\n    b: 1\n    c:\n        d: 1\nl:\n- 1\n';
    const ops: EditOp[] = [
      { path: ['a', 'c', 'x'], value: [{ y: 1 }] },
      { path: ['l'], value: [5] },
    ];
    expect(batched(src, ops)).toEqual({ text: 'a:\n    b: 1\n    c:\n        d: 1\n        x:\n          - y: 1\nl:\n    - 5\n' });
    expect(batched(src, ops)).toEqual(oneByOne(src, ops));
    // A block list replacing the only nested map: no map left, the unit falls back to 2, the list reads as indented.
    const crlf = 'a:\r\n    b: 1\r\n    c:\r\n        d: 1\r\nl:\r\n- 1\r\n';
    const ops2: EditOp[] = [
      { path: ['a'], value: [{ t: 1 }, 2] },
      { path: ['l'], value: [3] },
    ];
    expect(batched(crlf, ops2)).toEqual({ text: 'a:\r\n  - t: 1\r\n  - 2\r\nl:\r\n  - 3\r\n' });
  });

  test('a blank line ending in CRLF in a file with mixed line ends counts as blank: the next key goes after the lines the block takes in', () => {
    // Not all CRLF, so the file is edited as it is; one by one, `p` went after the comment that the new block took in.
    const src = 'x:\n    \r\n    # c\r\n';
    const ops: EditOp[] = [
      { path: ['m'], value: { h: 1 } },
      { path: ['p'], value: 2 },
    ];
    expect(batched(src, ops)).toEqual({ text: 'x:\nm:\n  h: 1\n    \r\n    # c\r\np: 2\n' });
  });
});
