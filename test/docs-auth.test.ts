/**
 * The docs under authentication: the page is public (it holds no route), the document is not (it
 * reveals the routes); the document's security and 401/402 follow what the server is configured with.
 */
import { afterAll, expect, test } from 'bun:test';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { makeTestApp } from './helpers/app';
import { mppOnlyEnv } from './helpers/mpp';
import { operations, type Doc } from './helpers/openapi';

const chain = startFakeTempoRpc();
afterAll(() => chain.stop());

const MPP_ENV = mppOnlyEnv(chain);
const PUBLIC = new Set(['/health', '/api/gateway-status', '/openapi']);
const nonPublic = (doc: Doc) => operations(doc).filter((o) => !PUBLIC.has(o.path));
/** The payment gate's 402 (POST /api/wallet/tempo/call has a 402 of its own: a caller's budget used up). */
const mpp402 = (op: any) => Boolean(op.responses['402']?.content?.['application/problem+json']);

test('API_KEY set: the page answers 200 without a key, the document 401 (with a key 200)', async () => {
  const t = await makeTestApp({ env: { API_KEY: 'k1' } });
  for (const page of ['/openapi', '/openapi/']) {
    const res = await t.fetch(page);
    expect([page, res.status, res.headers.get('content-type')]).toEqual([page, 200, 'text/html; charset=utf-8']);
  }
  for (const path of ['/openapi/json', '/openapi/json/']) expect([path, (await t.fetch(path)).status]).toEqual([path, 401]);
  const res = await t.fetch('/openapi/json', { headers: { authorization: 'Bearer k1' } });
  expect(res.status).toBe(200);
  const doc = (await res.json()) as Doc;
  expect(doc.security).toEqual([{ bearer: [] }]);
  expect(Object.keys(doc.components.securitySchemes)).toEqual(['bearer']);
  expect(nonPublic(doc).filter((o) => !o.op.responses['401'] || mpp402(o.op)).map((o) => o.path)).toEqual([]);
  expect(doc.paths['/api/tasks'].get.responses['401'].headers['WWW-Authenticate']).toBeDefined();
  t.close();
});

test('MPP enabled: the page is free, the document is paid (402 problem+json); Payment is an alternative scheme', async () => {
  const t = await makeTestApp({ env: { API_KEY: 'k1', ...MPP_ENV } });
  expect((await t.fetch('/openapi')).status).toBe(200);
  const refused = await t.fetch('/openapi/json');
  expect([refused.status, refused.headers.get('content-type')]).toEqual([402, 'application/problem+json']);
  const doc = (await (await t.fetch('/openapi/json', { headers: { authorization: 'Bearer k1' } })).json()) as Doc;
  expect(doc.security).toEqual([{ bearer: [] }, { payment: [] }]);
  expect(doc.components.securitySchemes.payment).toMatchObject({ type: 'http', scheme: 'Payment' });
  // With MPP on, a request without a valid key is answered by the payment gate: 402, never 401.
  const wrong = nonPublic(doc).filter((o) => o.op.responses['401'] || !mpp402(o.op));
  expect(wrong.map((o) => `${o.method} ${o.path}`)).toEqual([]);
  for (const path of PUBLIC) {
    const op = doc.paths[path].get;
    expect([path, op.security, op.responses['402']]).toEqual([path, [], undefined]);
  }
  t.close();
});

test('nothing configured: the document asks for no credentials and documents no 401 or 402', async () => {
  const t = await makeTestApp();
  const doc = (await (await t.fetch('/openapi/json')).json()) as Doc;
  expect(doc.security).toEqual([]);
  expect(doc.components.securitySchemes).toBeUndefined();
  expect(operations(doc).filter((o) => o.op.responses['401'] || mpp402(o.op)).map((o) => o.path)).toEqual([]);
  t.close();
});
