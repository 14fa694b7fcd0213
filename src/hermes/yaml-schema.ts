/**
 * The YAML schema Hermes reads config.yaml with: PyYAML's `safe_load`, YAML 1.1. The yaml package's
 * 1.1 schema, with each implicit type's pattern replaced by PyYAML's own (resolver.py) and ints
 * built as PyYAML builds them (constructor.py), so a plain value is read as the same type and value
 * Hermes sees — and, as the stringifier quotes a string exactly when one of these patterns would
 * retype it, written so that Hermes reads it back as the same string. Where the package differed:
 *
 * - `y`/`n` are strings (PyYAML has no such booleans);
 * - a float needs a `.`, and an exponent a sign: `1e-5`, `1e3`, `1.0e5` and `-.5` are strings in
 *   PyYAML (the package read them as numbers, `e5` and `.` even as NaN);
 * - an int has no leading zero unless octal (`09` is a string), a sexagesimal one no leading 0 (`0:30`);
 * - a date needs two-digit month and day (`2024-1-1` is a string).
 *
 * Numbers are written so PyYAML reads them as numbers: JavaScript prints 1e-7 and 1e21 as `1e-7`
 * and `1e+21`, strings to PyYAML; they are written `1.0e-7` and `1.0e+21`.
 */
import type { DocumentOptions, ParseOptions, SchemaOptions, Tags } from 'yaml';

const BOOL = 'tag:yaml.org,2002:bool';
const INT = 'tag:yaml.org,2002:int';
const FLOAT = 'tag:yaml.org,2002:float';
const TIMESTAMP = 'tag:yaml.org,2002:timestamp';
const MERGE = 'tag:yaml.org,2002:merge';

/** PyYAML's int patterns, by the yaml package's format name ('' = decimal). */
const INT_TESTS: Record<string, RegExp> = {
  BIN: /^[-+]?0b[0-1_]+$/,
  OCT: /^[-+]?0[0-7_]+$/,
  '': /^[-+]?(?:0|[1-9][0-9_]*)$/,
  HEX: /^[-+]?0x[0-9a-fA-F_]+$/,
  TIME: /^[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+$/,
};
const FLOAT_MANTISSA = String.raw`(?:[-+]?[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)`;
/** PyYAML's float patterns ('' = without exponent); `.inf`/`.nan` are the same in both. */
const FLOAT_TESTS: Record<string, RegExp> = {
  '': new RegExp(`^${FLOAT_MANTISSA}$`),
  EXP: new RegExp(`^${FLOAT_MANTISSA}[eE][-+][0-9]+$`),
  TIME: /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*$/,
};
const PY_TIMESTAMP = /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;

/** An int as PyYAML's construct_yaml_int builds it (`0_` is 0, `017` octal, `1:30` is 90). */
function pyInt(text: string): number {
  let v = text.replace(/_/g, '');
  const sign = v[0] === '-' ? -1 : 1;
  if (v[0] === '-' || v[0] === '+') v = v.slice(1);
  if (v.startsWith('0b')) return sign * parseInt(v.slice(2), 2);
  if (v.startsWith('0x')) return sign * parseInt(v.slice(2), 16);
  if (v[0] === '0') return sign * (v.length > 1 ? parseInt(v, 8) : 0);
  if (v.includes(':')) return sign * v.split(':').reduce((acc, d) => acc * 60 + Number(d), 0);
  return sign * Number(v);
}

/** `1e-7` → `1.0e-7`: PyYAML reads an exponent form without `.` as a string. */
const pyNumberText = (text: string) => text.replace(/^([-+]?[0-9]+)([eE][-+]?[0-9]+)$/, '$1.0$2');

function pyyamlTags(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag !== 'object' || !('test' in tag) || !tag.test) return tag;
    const { stringify } = tag;
    const writeNumber = stringify && { stringify: (...args: Parameters<typeof stringify>) => pyNumberText(stringify(...args)) };
    const format = tag.format ?? '';
    switch (tag.tag) {
      case BOOL: {
        const test = tag.test.test('true') ? /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/ : /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/;
        return { ...tag, test };
      }
      case INT:
        return { ...tag, ...writeNumber, test: INT_TESTS[format] ?? tag.test, resolve: pyInt };
      case FLOAT:
        // The `.inf`/`.nan` tag has no format either; it is the one that matches `.inf`.
        return { ...tag, ...writeNumber, test: tag.test.test('.inf') ? tag.test : (FLOAT_TESTS[format] ?? tag.test) };
      case MERGE:
        // Only the merge key itself, never the string "<<" of a new value, which would be written plain (a merge).
        return { ...tag, identify: (value: unknown) => typeof value === 'symbol' && value.description === '<<' };
      case TIMESTAMP:
        // Both patterns must hold: the package's own resolve() parses with its pattern.
        return { ...tag, test: new RegExp(`(?=${PY_TIMESTAMP.source})${tag.test.source}`) };
      default:
        return tag;
    }
  });
}

/**
 * `logLevel: 'error'`: the package's warnings go to stderr with the file's text in them (a date or binary
 * map key, spelled out: a secret an anchored key repeats), and say nothing a response does not.
 */
export const HERMES_YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = { version: '1.1', uniqueKeys: false, customTags: pyyamlTags, logLevel: 'error' };
