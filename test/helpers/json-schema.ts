/**
 * A small JSON Schema 2020-12 validator for tests: the keywords zod's `toJSONSchema` and the docs
 * module write ($ref within the document, type, const, enum, bounds, lengths, pattern, items,
 * properties, required, additionalProperties, allOf/anyOf/oneOf/not). Other keywords are
 * annotations here (`format`, `description`, `default`). Returns one line per violation.
 */
type Schema = boolean | { [k: string]: any };

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const hasType = (v: unknown, t: string) => (t === 'integer' ? Number.isInteger(v) : t === typeOf(v));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Follows a local `#/a/b` reference from the root document. */
function resolve(root: unknown, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
  let at: any = root;
  for (const part of ref.slice(2).split('/')) {
    at = at?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (at === undefined) throw new Error(`unresolved reference ${ref}`);
  }
  return at as Schema;
}

export function schemaErrors(schema: Schema, value: unknown, root: unknown = schema, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: no value is allowed here`];
  const s = schema;
  const errors: string[] = [];
  const sub = (x: Schema, v: unknown, where = at) => schemaErrors(x, v, root, where);
  if (s.$ref) errors.push(...sub(resolve(root, s.$ref), value));
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => hasType(value, t))) return [...errors, `${at}: expected ${types.join(' or ')}, got ${typeOf(value)}`];
  }
  if ('const' in s && !same(s.const, value)) errors.push(`${at}: expected ${JSON.stringify(s.const)}`);
  if (s.enum && !s.enum.some((e: unknown) => same(e, value))) errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) errors.push(`${at}: below the minimum ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) errors.push(`${at}: above the maximum ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) errors.push(`${at}: not above ${s.exclusiveMinimum}`);
    if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) errors.push(`${at}: not below ${s.exclusiveMaximum}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) errors.push(`${at}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && length > s.maxLength) errors.push(`${at}: longer than ${s.maxLength}`);
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(value)) errors.push(`${at}: does not match ${s.pattern}`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) errors.push(`${at}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) errors.push(`${at}: more than ${s.maxItems} items`);
    const prefix: Schema[] = s.prefixItems ?? [];
    value.forEach((item, i) => {
      const itemSchema = i < prefix.length ? prefix[i] : s.items;
      if (itemSchema !== undefined) errors.push(...sub(itemSchema, item, `${at}[${i}]`));
    });
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of s.required ?? []) if (!(key in obj)) errors.push(`${at}: "${key}" is missing`);
    for (const [key, v] of Object.entries(obj)) {
      const where = `${at}.${key}`;
      let known = false;
      if (s.properties && key in s.properties) {
        known = true;
        errors.push(...sub(s.properties[key], v, where));
      }
      for (const [pattern, ps] of Object.entries<Schema>(s.patternProperties ?? {})) {
        if (new RegExp(pattern, 'u').test(key)) {
          known = true;
          errors.push(...sub(ps, v, where));
        }
      }
      if (!known && s.additionalProperties !== undefined) errors.push(...sub(s.additionalProperties, v, where));
      if (s.propertyNames !== undefined) errors.push(...sub(s.propertyNames, key, `${where} (name)`));
    }
  }
  for (const part of s.allOf ?? []) errors.push(...sub(part, value));
  if (s.anyOf && !s.anyOf.some((x: Schema) => sub(x, value).length === 0)) errors.push(`${at}: matches none of anyOf`);
  if (s.oneOf && s.oneOf.filter((x: Schema) => sub(x, value).length === 0).length !== 1) errors.push(`${at}: does not match exactly one of oneOf`);
  if (s.not !== undefined && sub(s.not, value).length === 0) errors.push(`${at}: matches a "not" schema`);
  return errors;
}
