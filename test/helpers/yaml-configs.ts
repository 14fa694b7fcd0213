/** Generated config.yaml files for the editor's property tests: any tree, written in the styles people and PyYAML use. */
import fc from 'fast-check';
import { Document, isMap, isScalar, type Node, type Pair, type YAMLMap } from 'yaml';
import { HERMES_YAML_OPTIONS } from '../../src/hermes/yaml-schema';

export const KEYS = ['model', 'default', 'a', 'b', 'on', 'x y', 'k-1', '0'];
const TRICKY = ['', 'on', 'y', 'yes', '.', '1.5', '0x1F', '1:30', '2024-01-01', 'a: b', '#x', ' lead', 'trail ', 'two\nlines', 'ü ñ', '- x', '[x]', '{x}', '*x', '&x', '!x', '%x', '@x', '`x', '|', '>', '"q"', "'s'", '~', 'null', 'a #b', '---', '...',
  // Unicode spaces and line breaks: the yaml package trims them from a plain scalar, PyYAML breaks lines at NEL/LS/PS.
  '\u00a0', 'x\u00a0', '\ufeff', '\u3000', 'k\u202f', '\u200a', '\u2028', 'a\u2029b', '\u0085', 'x\u0085'];

const scalar = fc.oneof(fc.constantFrom(...TRICKY), fc.string({ maxLength: 12 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
export const { tree: jsonValue } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('tree'), { maxLength: 3 }),
  object: fc.dictionary(fc.constantFrom(...KEYS), tie('tree'), { maxKeys: 4 }),
}));
export const configTree = fc.dictionary(fc.constantFrom(...KEYS), jsonValue, { minKeys: 0, maxKeys: 5 });

export interface Style {
  indent: number;
  indentSeq: boolean;
  flowEvery: number;
  commentEvery: number;
}
export const style = fc.record({ indent: fc.constantFrom(2, 4), indentSeq: fc.boolean(), flowEvery: fc.constantFrom(0, 2, 3), commentEvery: fc.constantFrom(0, 1, 2) });

/** Writes a tree the way a person or PyYAML might have: some flow maps, comments with unique markers, blank lines. */
export function render(tree: Record<string, unknown>, s: Style): string {
  const doc = new Document(tree, HERMES_YAML_OPTIONS);
  let n = 0;
  const visitMap = (map: YAMLMap) => {
    for (const pair of map.items as Pair<Node, Node>[]) {
      n++;
      if (s.commentEvery && n % s.commentEvery === 0 && isScalar(pair.key)) {
        pair.key.commentBefore = ` c${n}`;
        pair.key.spaceBefore = n % 3 === 0;
      }
      // Trailing comments, also after an empty value (`key: # t3`).
      if (s.commentEvery && n % 2 === 1 && isScalar(pair.value)) pair.value.comment = ` t${n}`;
      if (isMap(pair.value)) {
        if (s.flowEvery && n % s.flowEvery === 0) pair.value.flow = true;
        visitMap(pair.value);
      }
    }
  };
  if (isMap(doc.contents)) visitMap(doc.contents);
  return doc.toString({ indent: s.indent, indentSeq: s.indentSeq, lineWidth: 0 });
}

