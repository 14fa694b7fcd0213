import { afterAll, afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../src/config';
import { startFakeHermes } from './fakes/hermes';
import { closedUrl, makeTestApp, tempDir, type TestApp } from './helpers/app';
import { capturePlans } from './helpers/query-plans';

type Json = Record<string, any>;
const hermes = await startFakeHermes();
afterAll(() => hermes.stop());

let t: TestApp | null = null;
beforeEach(() => hermes.reset());
afterEach(() => {
  t?.close();
  t = null;
});

async function open(env: Record<string, string> = {}): Promise<TestApp> {
  t = await makeTestApp({ env: { HERMES_AGENT_URL: hermes.url, HERMES_API_KEY: 'test-upstream-key', HEDGEHOG_TIMEOUT_S: '0.5', ...env } });
  return t;
}

function pricingFile(text: string, ext = 'yaml'): string {
  const path = join(tempDir('pricing-'), `pricing.${ext}`);
  writeFileSync(path, text);
  return path;
}

const completions = () => hermes.requests.filter((r) => r.path === '/v1/chat/completions');

/** Exact micro-USD cost of a call as the ledger must compute it (each part rounded up). */
function expectedMicro(inTok: number, outTok: number, inPer1k: bigint, outPer1k: bigint, margin: bigint): bigint {
  const up = (n: number, p: bigint) => (BigInt(n) * p + 999n) / 1000n;
  return up(inTok, inPer1k) + up(outTok, outPer1k) + margin;
}
const usd = (micro: bigint) => {
  const s = micro.toString().padStart(7, '0');
  const frac = s.slice(-6).replace(/0+$/, '');
  return `${s.slice(0, -6)}${frac ? `.${frac}` : ''}`;
};

describe('POST /api/wallet/tempo/call', () => {
  test('forwards to HEDGEHOG, prices the call and records it', async () => {
    const app = await open();
    hermes.behavior.usage = { input_tokens: 1200, output_tokens: 345 };
    const r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'agent-7', prompt: 'hello there' });
    expect(r.status).toBe(200);
    expect(r.body.result).toEqual({ role: 'assistant', content: 'You said: hello there', tool_calls: null, finish_reason: 'stop' });
    expect(r.body.usage).toEqual({ prompt_tokens: 1200, completion_tokens: 345, total_tokens: 1545, reported: true });
    // Built-in table: 0.003 / 0.015 USD per 1k tokens, 0.001 per call.
    expect(r.body.billing).toEqual({ input_cost_usd: '0.0036', output_cost_usd: '0.005175', cost_usd: '0.008775', margin_usd: '0.001', total_usd: '0.009775', token: 'USDC' });
    expect(r.body.call_id).toMatch(/^call_/);
    expect(r.body.caller_id).toBe('agent-7');
    expect(typeof r.body.latency_ms).toBe('number');
    const sent = completions()[0]!;
    expect(JSON.parse(sent.body)).toEqual({ messages: [{ role: 'user', content: 'hello there' }], stream: false });
    const usage = await app.json<Json>('GET', '/api/wallet/tempo/usage');
    const { result: _result, ...record } = r.body;
    expect(usage.body.calls).toEqual([record]);
    expect(usage.body.totals).toEqual({ total_calls: 1, total_tokens: 1545, total_cost_usd: '0.008775', total_margin_usd: '0.001', total_billed_usd: '0.009775' });
  });

  test('messages, model, max_tokens, temperature and tools are passed through; HEDGEHOG_URL may end in /v1', async () => {
    const app = await open({ HEDGEHOG_URL: `${hermes.url}/v1`, HEDGEHOG_API_KEY: 'test-upstream-key' });
    const tools = [{ type: 'function', function: { name: 'f', parameters: {} } }];
    const body = { caller_id: 'c1', model: 'hermes-agent', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], max_tokens: 50, temperature: 0.2, tools };
    const r = await app.json<Json>('POST', '/api/wallet/tempo/call', body);
    expect(r.status).toBe(200);
    expect(r.body.model).toBe('hermes-agent');
    expect(JSON.parse(completions()[0]!.body)).toEqual({ model: 'hermes-agent', messages: body.messages, max_tokens: 50, temperature: 0.2, tools, stream: false });
  });

  test('messages and tools reach HEDGEHOG as sent, a key named __proto__ included', async () => {
    // Their schema (z.looseObject) rebuilt each message and tool by assignment, dropping such a key.
    const app = await open();
    const body = '{"caller_id":"c","messages":[{"role":"user","content":"hi","__proto__":{"name":"x"}}],"tools":[{"type":"function","__proto__":{"f":1},"function":{"name":"f","parameters":{}}}]}';
    const r = await app.fetch('/api/wallet/tempo/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(r.status).toBe(200);
    const { caller_id: _caller, ...forwarded } = JSON.parse(body);
    expect(JSON.parse(completions()[0]!.body)).toEqual({ ...forwarded, stream: false });
    expect(Object.keys(JSON.parse(completions()[0]!.body).messages[0])).toEqual(['role', 'content', '__proto__']);
  });

  test("the client's credentials never reach HEDGEHOG; the sidecar's key does", async () => {
    const app = await open({ API_KEY: 'client-key', HEDGEHOG_API_KEY: 'test-upstream-key' });
    const r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' }, {
      authorization: 'Bearer client-key', cookie: 'session=abc', payment: 'token', 'payment-receipt': 'r', 'x-api-key': 'k',
    });
    expect(r.status).toBe(200);
    const h = completions()[0]!.headers;
    expect(h.authorization).toBe('Bearer test-upstream-key');
    for (const k of ['cookie', 'payment', 'payment-receipt', 'x-api-key']) expect(h[k]).toBeUndefined();
  });

  test('the Hermes key is the default HEDGEHOG key only for the Hermes origin: another host never receives it', async () => {
    const seen: (string | null)[] = [];
    const other = Bun.serve({ port: 0, fetch: (req) => {
      seen.push(req.headers.get('authorization'));
      return Response.json({ model: 'm', choices: [{ message: { role: 'assistant', content: 'ok' } }] });
    } });
    try {
      // open() sets HERMES_API_KEY; a provider elsewhere, with no HEDGEHOG_API_KEY of its own.
      const app = await open({ HEDGEHOG_URL: `http://localhost:${other.port}/v1` });
      expect((await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' })).status).toBe(200);
      expect(seen).toEqual([null]);
      t?.close();
      // The Hermes gateway named again (with /v1) still gets its key.
      const same = await open({ HEDGEHOG_URL: `${hermes.url}/v1` });
      expect((await same.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' })).status).toBe(200);
      expect(completions()[0]!.headers.authorization).toBe('Bearer test-upstream-key');
    } finally {
      await other.stop(true);
    }
  });

  test('bad input is refused with 422 and nothing is called or billed', async () => {
    const app = await open();
    const bad = [
      { caller_id: 'c' },
      { caller_id: 'c', prompt: 'x', messages: [{ role: 'user', content: 'y' }] },
      { caller_id: 'bad id!', prompt: 'x' },
      { caller_id: 'c', prompt: '' },
      { caller_id: 'c', messages: [] },
      { caller_id: 'c', prompt: 'x', temperature: 5 },
      { prompt: 'x' },
      // Half an emoji (a lone surrogate): the ledger row (SQLite, UTF-8) named the model with U+FFFD.
      { caller_id: 'c', prompt: 'x', model: 'gpt\ud83d' },
    ];
    for (const b of bad) {
      const r = await app.json<Json>('POST', '/api/wallet/tempo/call', b);
      expect([r.status, r.body.code]).toEqual([422, 'validation_error']);
    }
    expect((await app.fetch('/api/wallet/tempo/call', { method: 'POST', body: '{"caller_id":' })).status).toBe(400);
    expect(completions()).toHaveLength(0);
    expect((await app.json<Json>('GET', '/api/wallet/tempo/usage')).body.totals.total_calls).toBe(0);
  });

  test('messages HEDGEHOG refuses (400/422) are the client\'s to fix: 422 hedgehog_rejected, nothing billed', async () => {
    const app = await open();
    // Well-formed for the sidecar, but no user message for the model to answer (found by the bad-input suite).
    const r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', messages: [{ role: ' ' }] });
    expect([r.status, r.body.code, r.body.upstream_status]).toEqual([422, 'hedgehog_rejected', 400]);
    expect(r.body.detail).toContain('No user message found');
    expect((await app.json<Json>('GET', '/api/wallet/tempo/usage')).body.totals.total_calls).toBe(0);
  });

  test('an upstream failure bills nothing: non-2xx → 502, timeout → 504, unreachable → 502', async () => {
    const app = await open();
    hermes.behavior.statusOverride['/v1/chat/completions'] = 500;
    let r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
    expect([r.status, r.body.code, r.body.upstream_status]).toEqual([502, 'hedgehog_error', 500]);
    hermes.behavior.statusOverride = {};
    hermes.behavior.hang['/v1/chat/completions'] = true;
    r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
    expect([r.status, r.body.code]).toEqual([504, 'hedgehog_timeout']);
    hermes.behavior.hang = {};
    expect((await app.json<Json>('GET', '/api/wallet/tempo/usage')).body.totals.total_calls).toBe(0);

    const down = await makeTestApp({ env: { HEDGEHOG_URL: await closedUrl() } });
    try {
      r = await down.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
      expect([r.status, r.body.code]).toEqual([502, 'hedgehog_unreachable']);
      expect((await down.json<Json>('GET', '/api/wallet/tempo/usage')).body.total).toBe(0);
    } finally {
      down.close();
    }
  });

  test('a client that goes away cancels the HEDGEHOG call at once and is not billed', async () => {
    const app = await open({ HEDGEHOG_TIMEOUT_S: '60' });
    hermes.behavior.hang['/v1/chat/completions'] = true;
    const ac = new AbortController();
    const pending = app.fetch('/api/wallet/tempo/call', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ caller_id: 'c', prompt: 'x' }), signal: ac.signal,
    }).then((r) => r.status, () => 'aborted');
    while (completions().length === 0) await Bun.sleep(5);
    ac.abort();
    await pending;
    while (!hermes.aborted.includes('/v1/chat/completions')) await Bun.sleep(5);
    expect((await app.json<Json>('GET', '/api/wallet/tempo/usage')).body.total).toBe(0);
  });

  test('an answer that is not a chat completion bills nothing (502); one without usage bills the margin only', async () => {
    let answer: unknown = '<html>oops</html>';
    const odd = Bun.serve({ port: 0, fetch: () => (typeof answer === 'string' ? new Response(answer) : Response.json(answer)) });
    try {
      const app = await open({ HEDGEHOG_URL: `http://127.0.0.1:${odd.port}` });
      let r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
      expect([r.status, r.body.code]).toEqual([502, 'hedgehog_invalid_response']);
      answer = { choices: [] };
      r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
      expect([r.status, r.body.code]).toEqual([502, 'hedgehog_invalid_response']);
      expect((await app.json<Json>('GET', '/api/wallet/tempo/usage')).body.total).toBe(0);
      answer = { model: 'm', choices: [{ message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] };
      r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
      expect(r.status).toBe(200);
      expect(r.body.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, reported: false });
      expect(r.body.billing.total_usd).toBe('0.001');
      expect(r.body.model).toBe('m');
      // Half a usage block: the answer is kept and the count that came is billed (0.003/1k input).
      for (const usage of [{ prompt_tokens: 1000 }, { prompt_tokens: 1000, completion_tokens: null }]) {
        answer = { model: 'm', choices: [{ message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage };
        r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
        expect([r.status, r.body.result?.content]).toEqual([200, 'ok']);
        expect(r.body.usage).toEqual({ prompt_tokens: 1000, completion_tokens: 0, total_tokens: 1000, reported: false });
        expect(r.body.billing.total_usd).toBe('0.004');
      }
    } finally {
      odd.stop(true);
    }
  });

  test('an answer whose content is a list of parts is billed and answered with its text parts joined', async () => {
    let content: unknown = [{ type: 'thinking', thinking: 'hmm' }, { type: 'text', text: 'Hello, ' }, { type: 'text', text: 'world' }];
    const odd = Bun.serve({ port: 0, fetch: () => Response.json({ model: 'm', choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 1000, completion_tokens: 0 } }) });
    try {
      const app = await open({ HEDGEHOG_URL: `http://127.0.0.1:${odd.port}` });
      let r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
      expect([r.status, r.body.result?.content, r.body.billing?.total_usd]).toEqual([200, 'Hello, world', '0.004']);
      // Only a refusal or an image, no text: the content is null, the call is billed all the same.
      content = [{ type: 'refusal', refusal: 'no' }];
      r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
      expect([r.status, r.body.result?.content]).toEqual([200, null]);
      expect((await app.json<Json>('GET', '/api/wallet/tempo/usage')).body.total).toBe(2);
    } finally {
      odd.stop(true);
    }
  });

  test('a usage too large to bill exactly is refused (502), nothing billed, and the ledger stays readable', async () => {
    let usage: unknown = null;
    const odd = Bun.serve({ port: 0, fetch: () => Response.json({ model: 'm', choices: [{ message: { role: 'assistant', content: 'ok' } }], usage }) });
    try {
      const app = await open({ HEDGEHOG_URL: `http://127.0.0.1:${odd.port}` });
      // Built-in 0.003 USD/1k input: 1e15 tokens cost 3e9 USD = 3e15 micro, still exact. Beyond 2^53 micro
      // (or 2^53 tokens) SQLite would hold a float: the row failed its CHECK (500) or was stored
      // inexactly and every later usage request failed.
      for (const u of [{ prompt_tokens: 9007199254740991, completion_tokens: 9007199254740991 }, { prompt_tokens: 4e15, completion_tokens: 0 }]) {
        usage = u;
        const r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
        expect([r.status, r.body.code]).toEqual([502, 'hedgehog_invalid_response']);
      }
      usage = { prompt_tokens: 1e15, completion_tokens: 0 };
      const r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
      expect([r.status, r.body.billing?.total_usd]).toEqual([200, '3000000000.001']);
      const ledger = await app.json<Json>('GET', '/api/wallet/tempo/usage');
      expect([ledger.status, ledger.body.total, ledger.body.totals?.total_billed_usd]).toEqual([200, 1, '3000000000.001']);
    } finally {
      odd.stop(true);
    }
  });

  test('a call that names no model is priced as the model that answered, the one its ledger row names', async () => {
    const path = pricingFile(`token: USDC
margin_per_call_usd: 0
default: { input_per_1k_usd: 0.001, output_per_1k_usd: 0.001 }
models:
  hermes-agent: { input_per_1k_usd: 1, output_per_1k_usd: 2 }
`);
    const app = await open({ TEMPO_PRICING: path });
    hermes.behavior.usage = { input_tokens: 1000, output_tokens: 1000 };
    const unnamed = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
    const named = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', model: 'hermes-agent', prompt: 'x' });
    expect([unnamed.body.model, named.body.model]).toEqual(['hermes-agent', 'hermes-agent']);
    expect([unnamed.body.billing.total_usd, named.body.billing.total_usd]).toEqual(['3', '3']);
  });
});

describe('usage ledger', () => {
  test('sums past 2^63 micro-USD stay exact integers: a caller\'s total that would pass it is refused, totals over callers are read exactly', async () => {
    const odd = Bun.serve({ port: 0, fetch: () => Response.json({ model: 'm', choices: [{ message: { role: 'assistant', content: 'ok' } }], usage: { prompt_tokens: 1e15, completion_tokens: 0 } }) });
    try {
      const app = await open({ HEDGEHOG_URL: `http://127.0.0.1:${odd.port}` });
      const call = (caller: string) => app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: caller, prompt: 'x' });
      const db = app.deps.db.sqlite;
      for (const caller of ['a', 'b']) expect((await call(caller)).body.billing.total_usd).toBe('3000000000.001');
      // Each call bills 3e15 micro-USD, within the per-call bound; ~3,074 of them reach 2^63 - 1. The
      // running totals are set to where those calls would have taken them.
      const near = 2n ** 63n - 1_000_000n;
      db.run('UPDATE tempo_totals SET billed_micro = ?1, cost_micro = ?1', [near]);
      // Added by SQLite, the caller's total became a float (9.226e18, inexact), and every later usage read was a 500.
      const over = await call('a');
      expect([over.status, over.body.code]).toEqual([502, 'hedgehog_invalid_response']);
      expect(db.query("SELECT typeof(billed_micro) AS t, COUNT(*) AS n FROM tempo_totals GROUP BY t").all()).toEqual([{ t: 'integer', n: 2 }]);
      expect(db.query("SELECT COUNT(*) AS n FROM tempo_calls WHERE caller_id = 'a'").get()).toEqual({ n: 1 });
      const usd = (micro: bigint) => `${micro / 1_000_000n}.${(micro % 1_000_000n).toString().padStart(6, '0')}`.replace(/\.?0+$/, '');
      const one = await app.json<Json>('GET', '/api/wallet/tempo/usage?caller_id=a');
      expect([one.status, one.body.totals?.total_billed_usd]).toEqual([200, usd(near)]);
      // Over both callers, and over their ledger rows (`since`): SUM of 64-bit integers overflowed (500).
      const all = await app.json<Json>('GET', '/api/wallet/tempo/usage');
      expect([all.status, all.body.totals?.total_billed_usd, all.body.totals?.total_cost_usd]).toEqual([200, usd(2n * near), usd(2n * near)]);
      db.run('UPDATE tempo_calls SET total_micro = ?1, input_cost_micro = ?1, output_cost_micro = 0, margin_micro = 0', [near]);
      const since = await app.json<Json>('GET', '/api/wallet/tempo/usage?since=2000-01-01');
      expect([since.status, since.body.totals?.total_billed_usd, since.body.totals?.total_cost_usd]).toEqual([200, usd(2n * near), usd(2n * near)]);
    } finally {
      odd.stop(true);
    }
  });

  test('exact totals over many calls (prices that do not divide evenly), filters, paging', async () => {
    const path = pricingFile(`token: pathUSD
margin_per_call_usd: 0.000007
default: { input_per_1k_usd: "0.000123", output_per_1k_usd: 0.000457 }
models:
  big: { input_per_1k_usd: 1.5, output_per_1k_usd: "2.000001", margin_per_call_usd: 0.25 }
`);
    const app = await open({ TEMPO_PRICING: path });
    const expected = { a: 0n, b: 0n, tokens: 0, cost: 0n, margin: 0n };
    // The fake counts words: prompts of varied lengths give varied token counts. In parallel: the
    // ledger must record every call exactly once.
    const results = await Promise.all(Array.from({ length: 60 }, async (_, i) => {
      const caller = i % 3 === 0 ? 'a' : 'b';
      const model = i % 5 === 0 ? 'big' : undefined;
      const words = ((i * 7919) % 2000) + 1;
      return { caller, model, r: await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: caller, ...(model ? { model } : {}), prompt: 'w '.repeat(words).trim() }) };
    }));
    for (const { r, caller, model } of results) {
      expect(r.status).toBe(200);
      const u = r.body.usage;
      const big = model === 'big';
      const total = expectedMicro(u.prompt_tokens, u.completion_tokens, big ? 1_500_000n : 123n, big ? 2_000_001n : 457n, big ? 250_000n : 7n);
      expect(r.body.billing.total_usd).toBe(usd(total));
      expected[caller as 'a' | 'b'] += total;
      expected.tokens += u.total_tokens;
      expected.margin += big ? 250_000n : 7n;
      expected.cost += total - (big ? 250_000n : 7n);
    }
    const all = await app.json<Json>('GET', '/api/wallet/tempo/usage?limit=500');
    expect(all.body.totals).toEqual({
      total_calls: 60, total_tokens: expected.tokens, total_cost_usd: usd(expected.cost), total_margin_usd: usd(expected.margin), total_billed_usd: usd(expected.a + expected.b),
    });
    expect(all.body.calls).toHaveLength(60);
    expect(all.body.calls.every((c: Json) => c.billing.token === 'pathUSD')).toBe(true);
    const a = await app.json<Json>('GET', '/api/wallet/tempo/usage?caller_id=a&limit=5&offset=5');
    expect(a.body.total).toBe(20);
    expect(a.body.calls).toHaveLength(5);
    expect(a.body.caller_id).toBe('a');
    expect(a.body.totals.total_billed_usd).toBe(usd(expected.a));
    const created = all.body.calls.map((c: Json) => c.created_at);
    expect(created).toEqual([...created].sort().reverse());
    const future = await app.json<Json>('GET', `/api/wallet/tempo/usage?since=${new Date(Date.now() + 60_000).toISOString()}`);
    expect(future.body.totals.total_calls).toBe(0);
    const since = await app.json<Json>('GET', '/api/wallet/tempo/usage?since=2000-01-01');
    expect([since.body.total, since.body.since]).toEqual([60, '2000-01-01T00:00:00.000Z']);
    const goZero = await app.json<Json>('GET', '/api/wallet/tempo/usage?since=0001-01-01T00:00:00Z');
    expect([goZero.status, goZero.body.total]).toEqual([200, 60]);
    // With `since` the ledger itself is summed; without it the running totals answer: they agree.
    expect(since.body.totals).toEqual(all.body.totals);
    const aSince = await app.json<Json>('GET', '/api/wallet/tempo/usage?caller_id=a&since=2000-01-01');
    expect(aSince.body.totals).toEqual(a.body.totals);
  });

  test('bad usage queries are 422', async () => {
    const app = await open();
    for (const q of ['since=yesterday', 'since=2026-02-30', 'since=2026-12-06T25:00Z', 'limit=0', 'limit=501', 'offset=-1', 'caller_id=a%20b']) {
      expect([q, (await app.json<Json>('GET', `/api/wallet/tempo/usage?${q}`)).status]).toEqual([q, 422]);
    }
    const bad = await app.json<Json>('GET', '/api/wallet/tempo/usage?since=2026-02-30');
    expect(bad.body.errors[0].message).toContain('expected an ISO 8601 date or date-time');
    const zoneless = await app.json<Json>('GET', '/api/wallet/tempo/usage?since=2026-02-28T10:00');
    expect([zoneless.status, zoneless.body.since]).toEqual([200, '2026-02-28T10:00:00.000Z']);
  });

  test('the calls and their totals are read in one snapshot: a call another process records meanwhile shows in both or in neither', async () => {
    // Two sidecars on one data dir: usage read on one while the other billed calls listed 41 calls
    // beside a total of 42 (12 of 150 in review).
    const app = await open();
    expect((await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'x', prompt: 'hello' })).status).toBe(200);
    const other = new Database(join(app.dir, 'data', 'optx-api.db'));
    const billing = app.deps.wallet.billing as unknown as { keptTotalsStmt: { get: (...args: unknown[]) => unknown } };
    const stmt = billing.keptTotalsStmt;
    const readTotals = stmt.get.bind(stmt);
    stmt.get = (...args) => {
      stmt.get = readTotals;
      other.transaction(() => {
        other.run(`INSERT INTO tempo_calls (id, caller_id, model, input_tokens, output_tokens, usage_reported, input_cost_micro, output_cost_micro, margin_micro, total_micro, token, latency_ms, created_at)
          VALUES ('call_elsewhere', 'x', 'm', 1, 1, 1, 0, 0, 1000, 1000, 'USDC', 1, ?1)`, [new Date().toISOString()]);
        other.run('UPDATE tempo_totals SET calls = calls + 1, tokens = tokens + 2, margin_micro = margin_micro + 1000, billed_micro = billed_micro + 1000 WHERE caller_id = ?1', ['x']);
      }).immediate();
      return readTotals(...args);
    };
    const u = (await app.json<Json>('GET', '/api/wallet/tempo/usage?caller_id=x')).body;
    other.close();
    expect(stmt.get).toBe(readTotals);
    expect([u.calls.length, u.total, u.totals.total_calls]).toEqual([1, 1, 1]);
    const after = (await app.json<Json>('GET', '/api/wallet/tempo/usage?caller_id=x')).body;
    expect([after.calls.length, after.total]).toEqual([2, 2]);
  });
});

describe('pricing', () => {
  test('GET /api/wallet/tempo/pricing shows the built-in table', async () => {
    const app = await open();
    const r = await app.json<Json>('GET', '/api/wallet/tempo/pricing');
    expect(r.body).toEqual({
      token: 'USDC', source: 'built-in', unit: 'usd_per_1k_tokens', rounding: 'each cost component is rounded up to 0.000001',
      default: { input_per_1k_usd: '0.003', output_per_1k_usd: '0.015', margin_per_call_usd: '0.001' }, models: {}, caller_budget_usd: null,
    });
  });

  test('a JSON table without a default refuses unlisted models before calling anyone', async () => {
    const path = pricingFile(JSON.stringify({ models: { 'hermes-agent': { input_per_1k_usd: '0.01', output_per_1k_usd: '0.02' } } }), 'json');
    const app = await open({ TEMPO_PRICING: path });
    const p = (await app.json<Json>('GET', '/api/wallet/tempo/pricing')).body;
    expect(p.default).toBeNull();
    expect(p.models['hermes-agent']).toEqual({ input_per_1k_usd: '0.01', output_per_1k_usd: '0.02', margin_per_call_usd: '0' });
    let r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', model: 'other', prompt: 'x' });
    expect([r.status, r.body.code]).toEqual([422, 'unknown_model']);
    r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'x' });
    expect([r.status, r.body.code]).toEqual([422, 'unknown_model']);
    expect(completions()).toHaveLength(0);
    hermes.behavior.usage = { input_tokens: 1000, output_tokens: 1000 };
    r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', model: 'hermes-agent', prompt: 'x' });
    expect(r.body.billing.total_usd).toBe('0.03');
  });

  test('a model is priced by its entry whatever its case or provider prefix (no cheaper default by spelling)', async () => {
    const path = pricingFile(`models:\n  gpt-4o: { input_per_1k_usd: 5, output_per_1k_usd: 15 }\n`);
    const app = await open({ TEMPO_PRICING: path });
    hermes.behavior.usage = { input_tokens: 1000, output_tokens: 1000 };
    for (const model of ['gpt-4o', 'GPT-4o', 'openai/gpt-4o', 'OpenAI/GPT-4O']) {
      const r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', model, prompt: 'x' });
      expect([model, r.status, r.body.billing?.total_usd, r.body.model]).toEqual([model, 200, '20', model]);
    }
    const r = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', model: 'gpt-4o-mini', prompt: 'x' });
    expect([r.status, r.body.code]).toEqual([422, 'unknown_model']);
    // The table is shown as written.
    expect(Object.keys((await app.json<Json>('GET', '/api/wallet/tempo/pricing')).body.models)).toEqual(['gpt-4o']);
  });

  test('a model named like what every object has (__proto__, constructor) is priced by its own entry, and shown', async () => {
    // The table's schema (z.record) rebuilt `models` by assignment: a model "__proto__" was dropped
    // without a word, then billed at the default price and missing from GET /pricing.
    for (const [text, ext] of [
      ['default: { input_per_1k_usd: 0.001, output_per_1k_usd: 0.001 }\nmodels:\n  __proto__: { input_per_1k_usd: 5, output_per_1k_usd: 15 }\n  constructor: { input_per_1k_usd: 1, output_per_1k_usd: 2 }\n', 'yaml'],
      ['{"default": {"input_per_1k_usd": 0.001, "output_per_1k_usd": 0.001}, "models": {"__proto__": {"input_per_1k_usd": 5, "output_per_1k_usd": 15}, "constructor": {"input_per_1k_usd": 1, "output_per_1k_usd": 2}}}', 'json'],
    ] as const) {
      const app = await open({ TEMPO_PRICING: pricingFile(text, ext) });
      const p = (await app.json<Json>('GET', '/api/wallet/tempo/pricing')).body;
      expect(Object.keys(p.models)).toEqual(['__proto__', 'constructor']);
      expect(p.models.__proto__).toEqual({ input_per_1k_usd: '5', output_per_1k_usd: '15', margin_per_call_usd: '0' });
      hermes.behavior.usage = { input_tokens: 1000, output_tokens: 1000 };
      const billed = async (model: string) => (await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'c', model, prompt: 'x' })).body.billing?.total_usd;
      expect([await billed('__proto__'), await billed('constructor'), await billed('other')]).toEqual(['20', '3', '0.002']);
      app.close();
      t = null;
    }
    // Such an entry is checked like any other: a bad one stops start-up, naming it.
    let err: unknown;
    try {
      await open({ TEMPO_PRICING: pricingFile('models:\n  __proto__: { input: 1 }\n') });
    } catch (e) {
      err = e;
    }
    expect((err as Error | undefined)?.message).toStartWith('Invalid TEMPO_PRICING');
    expect((err as Error | undefined)?.message).toContain('models.__proto__');
    t = null;
  });

  test('prices written as numbers are read from their digits, in YAML and JSON, never from the rounded double', async () => {
    // 12345678901234.567891 was read as 12345678901234.568, and 0.0030000000000000001 (more than 6 decimals) as 0.003.
    for (const [text, ext] of [[`default: { input_per_1k_usd: 12345678901234.567891, output_per_1k_usd: 0 }`, 'yaml'], [`{"default": {"input_per_1k_usd": 12345678901234.567891, "output_per_1k_usd": 0}}`, 'json']] as const) {
      const app = await open({ TEMPO_PRICING: pricingFile(text, ext) });
      expect((await app.json<Json>('GET', '/api/wallet/tempo/pricing')).body.default.input_per_1k_usd).toBe('12345678901234.567891');
      app.close();
      t = null;
    }
    let err: unknown;
    try {
      await open({ TEMPO_PRICING: pricingFile('default: { input_per_1k_usd: 0.0030000000000000001, output_per_1k_usd: 1 }') });
    } catch (e) {
      err = e;
    }
    expect((err as Error | undefined)?.message).toContain('default.input_per_1k_usd: at most 6 decimal places');
    t = null;
  });

  test('an unreadable or invalid pricing table stops start-up with the variable named', async () => {
    const cases = [
      '/nonexistent/pricing.yaml',
      pricingFile('default: { input_per_1k_usd: 0.0000001, output_per_1k_usd: 1 }'),
      pricingFile('default: { input_per_1k_usd: -1, output_per_1k_usd: 1 }'),
      pricingFile('models: { m: { input: 1 } }'),
      pricingFile('{{{'),
      // Two entries one model name would match: which price applies would be a guess.
      pricingFile('models: { gpt-4o: { input_per_1k_usd: 1, output_per_1k_usd: 1 }, GPT-4o: { input_per_1k_usd: 2, output_per_1k_usd: 2 } }'),
    ];
    for (const path of cases) {
      let err: unknown;
      try {
        t = await makeTestApp({ env: { TEMPO_PRICING: path } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toStartWith('Invalid TEMPO_PRICING');
      t = null;
    }
  });
});

describe('per-caller budget', () => {
  test('a caller that has used its budget gets 402; other callers are not affected', async () => {
    const app = await open({ TEMPO_CALLER_BUDGET_USD: '0.02' });
    hermes.behavior.usage = { input_tokens: 1000, output_tokens: 400 }; // 0.003 + 0.006 + 0.001 = 0.01 per call
    expect((await app.json<Json>('GET', '/api/wallet/tempo/pricing')).body.caller_budget_usd).toBe('0.02');
    for (let i = 0; i < 2; i++) expect((await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'spender', prompt: 'x' })).status).toBe(200);
    const refused = await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'spender', prompt: 'x' });
    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({ code: 'budget_exceeded', caller_id: 'spender', budget_usd: '0.02', spent_usd: '0.02' });
    expect(completions()).toHaveLength(2);
    expect((await app.json<Json>('POST', '/api/wallet/tempo/call', { caller_id: 'other', prompt: 'x' })).status).toBe(200);
  });
});

describe('usage query plans', () => {
  test('totals since a time sum an index range of the ledger, with or without caller_id (6.6 ms at 100,000 calls when every call was read)', async () => {
    const capture = capturePlans();
    try {
      const app = await open();
      for (const q of ['since=2026-01-01', 'caller_id=a&since=2026-01-01']) {
        const plans = await capture.plans(async () => expect((await app.json('GET', `/api/wallet/tempo/usage?${q}`)).status).toBe(200), /SUM\(/);
        expect(plans).toHaveLength(1);
        expect(plans[0]).toMatch(/SEARCH tempo_calls USING INDEX tempo_calls_(created|caller_created) \((caller_id=\? AND )?created_at>\?\)/);
      }
    } finally {
      capture.restore();
    }
  });
});
