/**
 * New YAML text for the in-place editor (yaml-edit.ts): values rendered by the yaml stringifier with
 * the YAML 1.1 schema Hermes (PyYAML) reads, so a string such as `on` or `2024-01-01` is quoted and
 * stays a string, each piece shaped for where it goes (a block pair, a flow pair, an inline value).
 */
import { Document, isScalar, visit, type Scalar } from 'yaml';
import { HERMES_YAML_OPTIONS } from '../../hermes/yaml-schema';

/** Indentation unit and list style of the file, so added blocks look like their neighbours. */
export interface Style {
  indent: number;
  indentSeq: boolean;
}

const RENDER = { lineWidth: 0, minContentWidth: 0, blockQuote: false, flowCollectionPadding: false } as const;

/**
 * Characters a plain scalar must not hold: controls (C0, DEL, C1), the noncharacters U+FFFE/U+FFFF, and
 * the Unicode spaces and line separators that the yaml package trims from the end of a plain scalar (it
 * would read `a: x<NBSP>` as "x") or that PyYAML reads as line breaks (NEL, LS, PS). Strings with any
 * of them are double-quoted.
 */
const NOT_PLAIN = /[\u0000-\u001f\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\ufffe\uffff]/;
/** Line breaks of YAML 1.1 that stay line breaks (folded to a space) even inside double quotes, unless escaped. */
const QUOTED_BREAKS: Record<string, string> = { '\u0085': '\\N', '\u2028': '\\L', '\u2029': '\\P' };
/**
 * What the yaml package leaves unescaped inside double quotes and PyYAML does not take there: those
 * line breaks, and the characters its reader refuses anywhere in the file (DEL, C1 controls, U+FFFE,
 * U+FFFF: "unacceptable character", the whole config.yaml unloadable). Written raw until 2026-12-07.
 */
const ESCAPE_IN_QUOTES = /[\u007f-\u009f\u2028\u2029\ufffe\uffff]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return QUOTED_BREAKS[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`);
}

/**
 * PyYAML reads a plain `=` as a "value", which safe_load cannot build: `x: =` makes the whole file
 * fail to load in Hermes. The yaml package has no such type and writes it plain; quoted it is a
 * string. (`<<`, a merge, is quoted by the schema: yaml-schema.ts.)
 */
const PYYAML_VALUE = '=';

/**
 * Plain in a flow collection for the yaml package (YAML 1.2), not for PyYAML (1.1): there its plain
 * scalar ends at any `?` and cannot start with `:` (`{v: a?0}`, `{v: :x}` make the file unloadable).
 */
const NOT_PLAIN_IN_FLOW = /^:|\?/;

/**
 * A document for new text in which every string is on one line: a string with a line break or a
 * control character is double-quoted (escaped), so rendered values never span lines by themselves.
 */
function newDoc(value: unknown, inFlow = false): Document {
  const doc = new Document(value, HERMES_YAML_OPTIONS);
  visit(doc, {
    Scalar(_k, node) {
      if (typeof node.value !== 'string') return;
      if (NOT_PLAIN.test(node.value) || node.value === PYYAML_VALUE || (inFlow && NOT_PLAIN_IN_FLOW.test(node.value))) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc;
}

/** The document's text; such characters can only be inside the double-quoted scalars NOT_PLAIN made. */
function render(doc: Document, options: Parameters<Document['toString']>[0]): string {
  return doc.toString(options).replace(ESCAPE_IN_QUOTES, escapeChar);
}

/** Flow text on one line: between flow tokens a line break is just a space. */
function flowText(doc: Document): string {
  return render(doc, { ...RENDER, collectionStyle: 'flow' }).trim().replace(/\n\s*/g, ' ');
}

/** `key: value` (and the value's block lines) at column 0, ending in a newline. */
export function blockPair(key: string, value: unknown, style: Style): string {
  return render(newDoc({ [key]: value }), { ...RENDER, indent: style.indent, indentSeq: style.indentSeq });
}

/** `key: value` in flow style, for insertion into a `{…}` map. */
export function flowPair(key: string, value: unknown): string {
  return flowText(newDoc({ [key]: value }, true)).slice(1, -1);
}

/** A value on one line; strings keep the quote style of the scalar they replace. */
export function inlineValue(value: unknown, old: unknown, inFlow: boolean): string {
  // In a flow collection the value goes through a one-item list, so `a,b` or `x: y` get quoted as flow needs.
  if (inFlow) return flowText(newDoc([value], true)).slice(1, -1);
  const doc = newDoc(value);
  const node = doc.contents;
  const oldType = isScalar(old) ? (old as Scalar).type : undefined;
  if (typeof value === 'string' && isScalar(node) && node.type !== 'QUOTE_DOUBLE' && (oldType === 'QUOTE_SINGLE' || oldType === 'QUOTE_DOUBLE')) node.type = oldType;
  return flowText(doc);
}

export function fitsOnOneLine(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  if (value && typeof value === 'object') return Object.keys(value).length === 0;
  return true;
}
