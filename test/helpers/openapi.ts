/**
 * Reading the app's OpenAPI document in tests: the operation a request lands on, and whether a real
 * response is what the document says for its status (or its `default`), content type and schema.
 */
import { schemaErrors } from './json-schema';

export type Doc = { paths: Record<string, any>; components: any; [k: string]: any };
/** What is read of an answer (a fetch Response of any of the runtime's typings). */
type Answer = { status: number; headers: { get(name: string): string | null }; text(): Promise<string> };

/** `{id}` and the `*` of `/v1/*` as patterns; a static path wins over a parameterised one, as in the router. */
export function operationFor(doc: Doc, method: string, pathname: string): { template: string; op: any } | null {
  const m = method.toLowerCase();
  const exact = doc.paths[pathname]?.[m];
  if (exact) return { template: pathname, op: exact };
  for (const [template, ops] of Object.entries<any>(doc.paths)) {
    const pattern = template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+').replace(/\*/g, '.*');
    if (ops[m] && new RegExp(`^${pattern}$`).test(pathname)) return { template, op: ops[m] };
  }
  return null;
}

/**
 * What in the document disagrees with this response (empty when nothing): an operation, a response
 * for its status or `default`, its content type, and the body against that media type's schema.
 */
export async function undocumented(doc: Doc, method: string, path: string, res: Answer): Promise<string[]> {
  const where = `${method} ${path} → ${res.status}`;
  const found = operationFor(doc, method, new URL(path, 'http://x').pathname);
  if (!found) return [`${where}: no operation`];
  const response = found.op.responses?.[String(res.status)] ?? found.op.responses?.default;
  if (!response) return [`${where}: status not documented`];
  const text = await res.text();
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  // A HEAD answer has the headers of a GET and never a body.
  if ((!text && !type) || method === 'HEAD') return [];
  const media = response.content?.[type];
  if (!media) return [`${where}: content type ${type} not documented (has ${Object.keys(response.content ?? {}).join(', ') || 'none'})`];
  if (!media.schema) return [];
  let body: unknown = text;
  if (type.endsWith('json')) {
    try {
      body = JSON.parse(text);
    } catch {
      return [`${where}: body is not JSON: ${text.slice(0, 80)}`];
    }
  }
  const errors = schemaErrors(media.schema, body, doc);
  // Error bodies are open (some add fields of their own): each field sent must still be named somewhere.
  if (res.status >= 400 && body && typeof body === 'object') {
    const named = declared(doc, media.schema);
    for (const key of Object.keys(body)) if (!named.has(key)) errors.push(`$: "${key}" is sent but not documented`);
  }
  return errors.map((e) => `${where}: ${e}`);
}

/** The property names a schema declares at its top level, through `$ref` and `allOf`. */
function declared(doc: Doc, schema: any, names = new Set<string>()): Set<string> {
  if (schema?.$ref) declared(doc, schema.$ref.slice(2).split('/').reduce((at: any, k: string) => at?.[k], doc), names);
  for (const key of Object.keys(schema?.properties ?? {})) names.add(key);
  for (const part of schema?.allOf ?? []) declared(doc, part, names);
  return names;
}

/**
 * Fields a value carries that its schema does not name (the document's schemas are open, so a
 * validator lets them through): one line per field, at any depth. A schema with no `properties`
 * (a free-form map) names everything; `anyOf`/`oneOf` are read through the branch the value fits.
 */
export function unnamedFields(doc: Doc, schema: any, value: unknown, at = '$'): string[] {
  const s = schema?.$ref ? schema.$ref.slice(2).split('/').reduce((o: any, k: string) => o?.[k], doc) : schema;
  if (!s || typeof s !== 'object' || value === null || typeof value !== 'object') return [];
  const branches: any[] = s.anyOf ?? s.oneOf ?? [];
  const branch = branches.find((b) => schemaErrors(b, value, doc).length === 0);
  if (branch) return unnamedFields(doc, branch, value, at);
  if (Array.isArray(value)) return s.items ? value.flatMap((v, i) => unnamedFields(doc, s.items, v, `${at}[${i}]`)) : [];
  const parts = [s, ...(s.allOf ?? []).map((p: any) => (p?.$ref ? p.$ref.slice(2).split('/').reduce((o: any, k: string) => o?.[k], doc) : p))];
  const props: Record<string, any> = Object.assign({}, ...parts.map((p) => p?.properties ?? {}));
  const extra = parts.find((p) => p?.additionalProperties !== undefined)?.additionalProperties;
  if (!Object.keys(props).length && extra === undefined) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    if (k in props) return unnamedFields(doc, props[k], v, `${at}.${k}`);
    if (extra !== undefined && extra !== false) return unnamedFields(doc, extra, v, `${at}.${k}`);
    return [`${at}.${k} is sent but not documented`];
  });
}

/** Every operation of the document with its path and method. */
export function operations(doc: Doc): { path: string; method: string; op: any }[] {
  return Object.entries<any>(doc.paths).flatMap(([path, ops]) => Object.entries<any>(ops).map(([method, op]) => ({ path, method, op })));
}
