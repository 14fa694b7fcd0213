/** The OpenAPI document covers every route with its schemas and errors; the docs page works offline. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { jsonOf, makeTestApp, type TestApp } from './helpers/app';
import { operations, type Doc } from './helpers/openapi';

/** SPEC §5, and the docs page (it holds no route). */
const PUBLIC = new Set(['/health', '/api/gateway-status', '/openapi']);
const envelopeOf = (path: string) => (path.startsWith('/v1/') || path === '/api/chat/completions/stream' ? 'OpenAIError' : 'ApiError');
const ref = (name: string) => `#/components/schemas/${name}`;

let t: TestApp;
let doc: Doc;
beforeAll(async () => {
  t = await makeTestApp({ env: { API_KEY: 'k1' } });
  doc = await jsonOf(await t.fetch('/openapi/json', { headers: { authorization: 'Bearer k1' } }));
});
afterAll(() => t.close());

/** The route behind a document operation, for its hooks (body, query, params). */
function routeOf(path: string, method: string) {
  return t.app.routes.find((r) => r.path.replace(/:([^/]+)/g, '{$1}') === path && (r.method.toLowerCase() === method || r.method === 'ALL'));
}

test('every route of the app is in /openapi/json, with request body schemas where it takes a body', async () => {
  expect(doc.openapi).toBe('3.1.2');
  expect(doc.info.title).toBe('hermes-optx-api');
  for (const r of t.app.routes) {
    const path = r.path.replace(/:([^/]+)/g, '{$1}');
    const methods = r.method === 'ALL' ? ['get', 'post'] : [r.method.toLowerCase()];
    for (const m of methods) {
      const op = doc.paths[path]?.[m];
      expect([r.method, path, op !== undefined]).toEqual([r.method, path, true]);
      expect(op.summary?.length ?? 0).toBeGreaterThan(0);
      if (r.hooks?.body) expect(Object.keys(op.requestBody.content)).toEqual(['application/json']);
    }
  }
});

describe('errors of every operation', () => {
  test('non-public: 401 and default; 422 where it takes input; 400, 413 where it takes a body. Public: security [] and no 401', () => {
    const missing: string[] = [];
    const want = (cond: boolean, op: any, status: string, where: string) => {
      if (cond && !op.responses?.[status]) missing.push(`${where} lacks ${status}`);
    };
    for (const { path, method, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      const hooks = routeOf(path, method)?.hooks ?? {};
      const input = Boolean(hooks.body || hooks.query || hooks.params);
      want(true, op, 'default', where);
      want(input, op, '422', where);
      want(Boolean(hooks.body), op, '400', where);
      want(Boolean(hooks.body) || (path === '/v1/*' && ['post', 'put', 'patch', 'delete'].includes(method)), op, '413', where);
      if (PUBLIC.has(path)) {
        if (!Array.isArray(op.security) || op.security.length) missing.push(`${where} is public but its security is ${JSON.stringify(op.security)}`);
        if (op.responses['401']) missing.push(`${where} is public but documents 401`);
      } else want(true, op, '401', where);
    }
    expect(missing).toEqual([]);
    expect(doc.security).toEqual([{ bearer: [] }]);
  });

  test('each error response refers to the shared envelope of its path family (a component, not a copy)', () => {
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['ApiError', 'OpenAIError']));
    expect(doc.components.schemas.ApiError.required).toEqual(['detail', 'code']);
    expect(Object.keys(doc.components.schemas.ApiError.properties)).toEqual(['detail', 'code', 'errors']);
    const wrong: string[] = [];
    for (const { path, method, op } of operations(doc)) {
      for (const [status, res] of Object.entries<any>(op.responses)) {
        if (status !== 'default' && Number(status) < 400) continue;
        const schema = res.content?.['application/json']?.schema;
        const target = schema?.$ref ?? schema?.allOf?.[0]?.$ref;
        if (target !== ref(envelopeOf(path))) wrong.push(`${method.toUpperCase()} ${path} ${status}: ${JSON.stringify(schema)?.slice(0, 80)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('fields an error adds to the envelope are documented with it (escrow and task status)', () => {
    const added = (path: string, method: string, status: string) => doc.paths[path][method].responses[status].content['application/json'].schema.allOf?.[1];
    for (const [path, method] of [['/api/wallet/escrow/release', 'post'], ['/api/wallet/escrow/{id}/refund', 'post']] as const) {
      expect(added(path, method, '409')).toMatchObject({ properties: { status: { enum: ['locked', 'released', 'refunded', 'expired'] } }, required: ['status'] });
    }
    expect(Object.keys(added('/api/tasks/{id}/claim', 'post', '409').properties)).toEqual(['status', 'agent', 'assigned_agent', 'blocked_by']);
    expect(doc.paths['/api/memory/{id}'].delete.responses['404']).toBeDefined();
    expect(doc.paths['/api/memory'].get.responses['503'].description).toContain('SpacetimeDB');
  });

  test('a status several refusals share names each code the server sends (the CSRF 403 beside the route\'s own)', () => {
    const description = (path: string, status: string) => doc.paths[path].post.responses[status].description as string;
    const names = (path: string, status: string, codes: string[]) => {
      for (const code of codes) expect([path, status, description(path, status)]).toEqual([path, status, expect.stringContaining(`\`${code}\``)]);
    };
    names('/api/wallet/tempo/call', '402', ['budget_exceeded']);
    names('/api/wallet/tempo/call', '429', ['budget_held']);
    expect(description('/api/wallet/tempo/call', '429')).toContain('Retry-After');
    names('/api/wallet/escrow/release', '403', ['recipient_mismatch', 'gaze_required', 'gaze_not_verified', 'gaze_stale', 'origin_not_allowed']);
    names('/api/tasks/{id}/claim', '403', ['gaze_required', 'gaze_not_verified', 'gaze_stale', 'origin_not_allowed']);
    names('/api/tasks/{id}/complete', '403', ['task_claimed_by_other', 'origin_not_allowed']);
    names('/api/tasks/{id}/claim', '409', ['task_not_open', 'task_assigned', 'task_blocked', 'task_conflict']);
    names('/api/tasks/{id}/complete', '409', ['task_not_in_progress', 'task_conflict']);
    expect(doc.paths['/api/tasks/{id}'].delete.responses['409'].description).toContain('`task_finished`');
  });

  test('event-stream routes document their 200 as text/event-stream, and their JSON refusals', () => {
    for (const path of ['/api/chat/completions/stream', '/api/sessions/{id}/chat/stream', '/api/sessions/new/chat/stream']) {
      const responses = doc.paths[path].post.responses;
      expect([path, responses['200']?.content?.['text/event-stream']?.schema?.type]).toEqual([path, 'string']);
      expect(responses['200'].description.length).toBeGreaterThan(40);
    }
    expect(doc.paths['/api/sessions/{id}/chat/stream'].post.responses['404']).toBeDefined();
    expect(doc.paths['/api/sessions/new/chat/stream'].post.responses['409']).toBeDefined();
    for (const status of ['502', '504']) {
      expect(doc.paths['/v1/*'].get.responses[status].content['application/json'].schema).toEqual({ $ref: ref('OpenAIError') });
    }
  });
});

describe('inputs as the server reads them', () => {
  test('query integers are documented as integers with the bounds and default the server applies', async () => {
    const param = (path: string, name: string) => doc.paths[path].get.parameters.find((p: { name: string }) => p.name === name).schema;
    expect(param('/api/tasks', 'limit')).toEqual({ type: 'integer', minimum: 1, maximum: 500, default: 50 });
    expect(param('/api/tasks', 'offset')).toMatchObject({ type: 'integer', minimum: 0, default: 0 });
    expect(param('/api/sessions/{id}/messages', 'limit')).toEqual({ type: 'integer', minimum: 1, maximum: 1000, default: 100 });
    expect(param('/api/skills', 'limit')).toEqual({ type: 'integer', minimum: 1, maximum: 10_000 });
    const key = { authorization: 'Bearer k1' };
    for (const [value, status] of [['0', 422], ['501', 422], ['500', 200], ['1', 200]] as const) {
      expect([value, (await t.fetch(`/api/tasks?limit=${value}`, { headers: key })).status]).toEqual([value, status]);
    }
  });

  test('a body that may be left out is not required; one that may not is', async () => {
    const required = (path: string) => doc.paths[path].post.requestBody.required;
    expect(required('/api/sessions')).toBe(false);
    expect(required('/api/config/model')).toBe(false);
    expect(required('/api/wallet/escrow/{id}/refund')).toBe(false);
    expect(required('/api/tasks')).toBe(true);
    const headers = { authorization: 'Bearer k1' };
    expect((await t.fetch('/api/sessions', { method: 'POST', headers })).status).toBe(201);
    expect((await t.fetch('/api/tasks', { method: 'POST', headers })).status).toBe(422);
  });
});

describe('the docs page', () => {
  test('is self-contained: no external script or stylesheet', async () => {
    const res = await t.fetch('/openapi');
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);
    expect(html).toContain('openapi/json');
  });

  test('links to the document from /openapi and from /openapi/', async () => {
    const open = await makeTestApp();
    for (const page of ['/openapi', '/openapi/']) {
      const html = await (await open.fetch(page)).text();
      const href = /<a id="spec" href="([^"]+)"/.exec(html)?.[1] ?? '';
      const target = new URL(href, `http://localhost${page}`).pathname;
      expect([page, target, (await open.fetch(target)).status]).toEqual([page, '/openapi/json', 200]);
    }
    open.close();
  });
});

describe('descriptions', () => {
  test('a nullable field keeps its own description, not the one of the type it makes nullable (ui_balance, call_max_usd)', () => {
    const wallet = doc.paths['/api/wallet'].get.responses['200'].content['application/json'].schema;
    const token = wallet.properties.wallets.properties.solana.properties.tokens.additionalProperties.properties;
    expect(token.ui_balance).toEqual({ type: ['string', 'null'], description: expect.stringContaining('ScaledUiAmount') });
    expect(token.balance.description).toContain('exact decimal amount');
    const refusal = doc.paths['/api/wallet/tempo/call'].post.responses['402'].content['application/json'].schema.allOf[1].properties;
    expect(refusal.call_max_usd.description).toContain("this call's maximum cost");
  });
});
