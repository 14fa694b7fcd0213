/**
 * For every route of the OpenAPI document, generated malformed and hostile inputs: never a 5xx,
 * never a hang, always a JSON error, and nothing changed by a rejected request.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { startFakeHermes, type FakeHermes } from '../fakes/hermes';
import { jsonOf, makeTestApp, type TestApp } from '../helpers/app';
import { fingerprint } from './fingerprint';
import { encodeSegment, hostileBody, hostileQuery, hostileSegment, rawGarbage, type JsonSchema, type RawBody } from './hostile';

const RUNS = Number(process.env.ROBUSTNESS_RUNS ?? 40);
const REQUEST_DEADLINE_MS = 5000;

let fake: FakeHermes;
let t: TestApp;
let ops: { method: string; path: string; body?: JsonSchema; query: string[] }[] = [];

beforeAll(async () => {
  fake = await startFakeHermes();
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '', UPSTREAM_TIMEOUT_S: '2', UPSTREAM_IDLE_TIMEOUT_S: '2' } });
  const doc = await jsonOf(await t.fetch('/openapi/json'));
  for (const [path, item] of Object.entries<Record<string, { requestBody?: { content?: Record<string, { schema: JsonSchema }> }; parameters?: { in: string; name: string }[] }>>(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      ops.push({
        method: method.toUpperCase(),
        path,
        body: op.requestBody?.content?.['application/json']?.schema,
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      });
    }
  }
});
afterAll(async () => {
  t.close();
  await fake.stop();
});

function changes(): string {
  return fingerprint(t.deps.db.sqlite, [t.home]);
}

async function send(method: string, path: string, body: RawBody | null): Promise<Response> {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json' } };
  if (body && method !== 'GET' && method !== 'HEAD') {
    init.body = body.kind === 'json' ? JSON.stringify(body.value) : body.value;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${method} ${path} did not answer within ${REQUEST_DEADLINE_MS} ms`)), REQUEST_DEADLINE_MS);
  });
  try {
    return await Promise.race([t.fetch(path, init), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function check(method: string, path: string, body: RawBody | null): Promise<void> {
  const before = changes();
  const res = await send(method, path, body);
  const text = await res.text();
  const where = `${method} ${path.slice(0, 120)} → ${res.status} ${text.slice(0, 200)}`;
  expect(res.status < 500 ? 'no 5xx' : where).toBe('no 5xx');
  if (res.status >= 400 && method !== 'HEAD' && !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    expect((res.headers.get('content-type') ?? '').includes('application/json') ? 'json' : where).toBe('json');
    const parsed = JSON.parse(text) as { detail?: unknown; code?: unknown; error?: { message?: unknown } };
    expect(typeof parsed.detail === 'string' || typeof parsed.error?.message === 'string' ? 'readable' : where).toBe('readable');
    expect(changes() === before ? 'unchanged' : `${where} changed data`).toBe('unchanged');
  }
}

function fillPath(path: string, segs: string[]): string {
  let i = 0;
  return path.replace(/\{[^}]+\}|\*/g, () => encodeSegment(segs[i++] ?? 'x'));
}

describe('bad input on every route', () => {
  test('the document lists routes to attack', () => {
    expect(ops.length).toBeGreaterThan(5);
  });

  test('hostile bodies, path parameters and query strings', async () => {
    for (const op of ops) {
      const params = (op.path.match(/\{[^}]+\}|\*/g) ?? []).length;
      await fc.assert(
        fc.asyncProperty(
          fc.array(hostileSegment, { minLength: params, maxLength: params }),
          hostileQuery(op.query),
          fc.oneof(
            { weight: 4, arbitrary: hostileBody(op.body).map((value): RawBody => ({ kind: 'json', value })) },
            { weight: 1, arbitrary: rawGarbage },
          ),
          async (segs, query, body) => {
            const path = fillPath(op.path, segs) + (query ? `?${query}` : '');
            await check(op.method, path, body);
          },
        ),
        { numRuns: RUNS },
      );
    }
  }, 600_000);
});
