/**
 * /openapi/json as client generators read it (openapi-typescript, orval, @hey-api/openapi-ts,
 * Redocly's recommended rules), checked without them by walking the JSON: unique operationIds that
 * are identifiers, path parameters that match the path, `$ref`s that resolve, no OpenAPI 3.0 spellings.
 * For every credential setup, since each changes the operations' responses and the security schemes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { buildOpenApiDocument } from '../src/modules/docs/service';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { makeTestApp, type TestApp } from './helpers/app';
import { mppOnlyEnv } from './helpers/mpp';
import { operations, type Doc } from './helpers/openapi';

const chain = startFakeTempoRpc();
afterAll(() => chain.stop());

const MPP_ENV = mppOnlyEnv(chain);

const SETUPS = {
  'nothing configured': {},
  'API keys': { API_KEY: 'k1' },
  'API keys and MPP': { API_KEY: 'k1', ...MPP_ENV },
  'MPP only': MPP_ENV,
} as const;

/** Every value in the document with its JSON pointer, keys included, for the structural checks. */
function* walk(value: unknown, at = '#'): Generator<{ at: string; key: string; value: unknown; parent: Record<string, unknown> }> {
  if (!value || typeof value !== 'object') return;
  for (const [key, v] of Object.entries(value)) {
    yield { at, key, value: v, parent: value as Record<string, unknown> };
    yield* walk(v, `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
  }
}

const resolve = (doc: Doc, ref: string): unknown =>
  ref
    .slice(2)
    .split('/')
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((at, k) => (at && typeof at === 'object' ? (at as Record<string, unknown>)[k] : undefined), doc);

for (const [name, env] of Object.entries(SETUPS)) {
  describe(`/openapi/json for client generators — ${name}`, () => {
    let t: TestApp;
    let doc: Doc;
    beforeAll(async () => {
      t = await makeTestApp({ env });
      // The document itself is paid for when MPP is the only credential: build it as the route does.
      doc = (await buildOpenApiDocument(t.app, '0.0.0-test', { apiKeys: 'API_KEY' in env, mpp: 'MPP_ENABLED' in env, hosts: !('API_KEY' in env) })) as Doc;
    });
    afterAll(() => t.close());

    test('every operation has an operationId, unique in the document and usable as an identifier', () => {
      const ids = operations(doc).map(({ path, method, op }) => ({ where: `${method.toUpperCase()} ${path}`, id: op.operationId as string | undefined }));
      const bad = ids.filter(({ id }) => !id || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(id));
      const seen = new Map<string, string>();
      const dup: string[] = [];
      for (const { where, id } of ids) {
        if (id && seen.has(id)) dup.push(`${id}: ${seen.get(id)} and ${where}`);
        if (id) seen.set(id, where);
      }
      expect(bad).toEqual([]);
      expect(dup).toEqual([]);
      // The scheme (docs/ARCHITECTURE.md): the generator's method + path name, one per proxied method.
      expect(doc.paths['/api/gateway-status'].get.operationId).toBe('getApiGatewayStatus');
      expect(doc.paths['/api/tasks/{id}/claim'].post.operationId).toBe('postApiTasksByIdClaim');
      expect(doc.paths['/v1/*'].post.operationId).toBe('postV1Proxy');
    });

    test('path parameters: each `{name}` of a path is declared `in: path`, required, and no other is', () => {
      const wrong: string[] = [];
      for (const { path, method, op } of operations(doc)) {
        const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
        const params = [...(doc.paths[path].parameters ?? []), ...(op.parameters ?? [])].filter((p: { in: string }) => p.in === 'path');
        const declared = params.map((p: { name: string }) => p.name).sort();
        if (inPath.join() !== declared.join()) wrong.push(`${method} ${path}: path has ${inPath}, declared ${declared}`);
        for (const p of params) if (p.required !== true) wrong.push(`${method} ${path}: ${p.name} is not required`);
      }
      expect(wrong).toEqual([]);
    });

    test('every $ref resolves, and every security requirement names a defined scheme', () => {
      const unresolved: string[] = [];
      for (const { at, key, value } of walk(doc)) if (key === '$ref' && resolve(doc, String(value)) === undefined) unresolved.push(`${at}: ${value}`);
      expect(unresolved).toEqual([]);
      const schemes = Object.keys(doc.components.securitySchemes ?? {});
      const requirements = [...(doc.security ?? []), ...operations(doc).flatMap(({ op }) => op.security ?? [])];
      expect(requirements.flatMap((r: Record<string, unknown>) => Object.keys(r)).filter((s: string) => !schemes.includes(s))).toEqual([]);
    });

    test('no OpenAPI 3.0 spellings in a 3.1 document (nullable, boolean exclusiveMinimum/Maximum)', () => {
      const old: string[] = [];
      for (const { at, key, value } of walk(doc)) {
        if (key === 'nullable' || key === 'x-nullable') old.push(`${at}: ${key}`);
        if ((key === 'exclusiveMinimum' || key === 'exclusiveMaximum') && typeof value === 'boolean') old.push(`${at}: ${key}: ${value}`);
      }
      expect(old).toEqual([]);
    });
  });
}

test("Redocly's recommended rules: servers given, and a security requirement even when the server is open", async () => {
  const t = await makeTestApp();
  const doc = (await (await t.fetch('/openapi/json')).json()) as Doc;
  expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }]);
  expect(doc.security).toEqual([]);
  t.close();
});
