/** /health, /api/gateway-status and the upstream probe against the fake Hermes of both versions. */
import { afterAll, beforeAll, describe, expect, setSystemTime, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { makeTestApp, type TestApp } from './helpers/app';
import { until } from './helpers/sse-events';
import { publicUrl } from '../src/lib/public-url';

let v17: FakeHermes;
let v12: FakeHermes;
beforeAll(async () => {
  v17 = await startFakeHermes({ version: '0.17', model: 'hermes-4-405b' });
  v12 = await startFakeHermes({ version: '0.12' });
});
afterAll(async () => {
  await v17.stop();
  await v12.stop();
});

async function appFor(fake: FakeHermes, env: Record<string, string> = {}): Promise<TestApp> {
  return makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '', ...env } });
}

describe('probe modes', () => {
  test('Hermes 0.17 (session API, capabilities, detailed health) → enhanced-hermes with every upstream feature', async () => {
    const t = await appFor(v17);
    await t.deps.probe.probeNow();
    const { status, body } = await t.json<Record<string, any>>('GET', '/api/gateway-status');
    expect(status).toBe(200);
    expect(body.status).toBe('connected');
    expect(body.mode).toBe('enhanced-hermes');
    expect(body.model).toBe('hermes-4-405b');
    expect(body.upstream_version).toBe('0.18.2');
    expect(body.upstream_url).toBe(v17.url);
    expect(body.features).toMatchObject({ sessions_api_upstream: true, runs_api_upstream: true, capabilities_endpoint: true, health_detailed: true, streaming: true, chat_stream: true, memory: true, tasks: true, sessions: true });
    expect(Date.parse(body.checked_at)).toBeGreaterThan(Date.now() - 10_000);
    t.close();
  });

  test('Hermes 0.12 (capabilities only) → enhanced-hermes without the session API', async () => {
    const t = await appFor(v12);
    await t.deps.probe.probeNow();
    const { body } = await t.json<Record<string, any>>('GET', '/api/gateway-status');
    expect(body.mode).toBe('enhanced-hermes');
    expect(body.upstream_version).toBe('0.12.0');
    expect(body.features).toMatchObject({ sessions_api_upstream: false, runs_api_upstream: false, capabilities_endpoint: true, health_detailed: false });
    t.close();
  });

  test('an OpenAI-compatible upstream with neither session API nor capabilities → portable, model from /v1/models', async () => {
    v12.behavior.statusOverride = { '/v1/capabilities': 404 };
    const t = await appFor(v12);
    await t.deps.probe.probeNow();
    const { body } = await t.json<Record<string, any>>('GET', '/api/gateway-status');
    expect(body.mode).toBe('portable');
    expect(body.model).toBe('hermes-agent');
    v12.reset();
    t.close();
  });

  test('the probe sends the sidecar key; a wrong key is reported', async () => {
    v17.requests.length = 0;
    const t = await appFor(v17);
    await t.deps.probe.probeNow();
    const probed = v17.requests.filter((r) => r.path !== '/health');
    expect(probed.map((r) => r.path).sort()).toEqual(['/api/sessions', '/health/detailed', '/v1/capabilities', '/v1/models']);
    for (const r of probed) expect(r.headers.authorization).toBe(`Bearer ${v17.apiKey}`);
    t.close();
    const wrong = await appFor(v17, { HERMES_API_KEY: 'not-the-key' });
    await wrong.deps.probe.probeNow();
    const { body } = await wrong.json<Record<string, any>>('GET', '/api/gateway-status');
    expect(body.upstream_error).toContain('401');
    // It answers, but no chat can work with a refused key, and nothing behind the key is seen: the
    // gateway asks for it on every route but /health (SPEC §14), /health/detailed included.
    expect(body.features).toMatchObject({ sessions_api_upstream: false, streaming: false, chat_stream: false, capabilities_endpoint: false, health_detailed: false });
    expect([body.status, body.mode]).toEqual(['connected', 'portable']);
    wrong.close();
  });

  test('a gateway that asks for a key the sidecar does not have says so, rather than that a key was refused', async () => {
    // No HERMES_API_KEY and no API_SERVER_KEY in $HERMES_HOME/.env: nothing is sent (SPEC §14: Hermes ≥ 0.15 always wants one).
    const none = await appFor(v17, { HERMES_API_KEY: '' });
    await none.deps.probe.probeNow();
    const { body } = await none.json<Record<string, any>>('GET', '/api/gateway-status');
    expect(body.upstream_error).toBe('the upstream asks for a key (401) and the sidecar has none: set HERMES_API_KEY, or API_SERVER_KEY in $HERMES_HOME/.env');
    expect(body.features).toMatchObject({ streaming: false, chat_stream: false });
    none.close();
  });

  test('upstream down then up: the mode changes without a restart', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    const t = await appFor(fake, { PROBE_INTERVAL_S: '0.05' });
    await t.deps.probe.probeNow();
    expect(t.deps.probe.state.mode).toBe('enhanced-hermes');
    await fake.pause();
    await t.deps.probe.probeNow();
    expect((await t.json<Record<string, any>>('GET', '/api/gateway-status')).body).toMatchObject({ status: 'disconnected', mode: 'disconnected' });
    t.deps.probe.start(); // periodic probing, as main.ts runs it
    await fake.resume();
    await until(() => t.deps.probe.state.mode === 'enhanced-hermes');
    expect(t.deps.probe.state.mode).toBe('enhanced-hermes');
    t.close();
    await fake.stop();
  });

  test('a failed upstream call triggers a fresh probe (no waiting for the interval)', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    const t = await appFor(fake, { PROBE_INTERVAL_S: '3600' });
    await t.deps.probe.probeNow();
    await fake.pause();
    expect((await t.fetch('/v1/models')).status).toBe(502);
    await until(() => !t.deps.probe.state.connected);
    expect(t.deps.probe.state.mode).toBe('disconnected');
    t.close();
    await fake.stop();
  });

  test('a failed upstream call is probed at once after the wall clock was set back (NTP), not an hour later', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    const t = await appFor(fake, { PROBE_INTERVAL_S: '3600' });
    await t.deps.probe.probeNow();
    setSystemTime(new Date(Date.now() - 3_600_000));
    try {
      await fake.pause();
      expect((await t.fetch('/v1/models')).status).toBe(502);
      await until(() => !t.deps.probe.state.connected);
      expect(t.deps.probe.state.mode).toBe('disconnected');
    } finally {
      setSystemTime();
      t.close();
      await fake.stop();
    }
  });

  test('a trigger that comes while a probe runs is probed again after it, once', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    // The running probe got its /health answer before the trigger; it cannot tell what changed after.
    fake.behavior.hang = { '/health/detailed': true };
    const t = await appFor(fake, { PROBE_INTERVAL_S: '3600', PROBE_TIMEOUT_S: '0.3' });
    const healthProbes = () => fake.requests.filter((r) => r.path === '/health').length;
    const running = t.deps.probe.probeNow();
    while (healthProbes() < 1) await Bun.sleep(5);
    t.deps.probe.probeSoon();
    await running;
    await until(() => healthProbes() >= 2);
    expect(healthProbes()).toBe(2);
    await Bun.sleep(1500);
    expect(healthProbes()).toBe(2);
    t.close();
    await fake.stop();
  });

  test('a probe never blocks a request: /health answers while the upstream hangs', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    fake.behavior.hang = { '/health': true, '/v1/models': true };
    // A probe deadline past the test's own limit: a request that waited for the probe would not answer.
    const t = await appFor(fake, { PROBE_TIMEOUT_S: '600' });
    const probing = t.deps.probe.probeNow();
    expect((await t.fetch('/health')).status).toBe(200);
    expect((await t.fetch('/api/gateway-status')).status).toBe(200);
    t.deps.probe.stop();
    await fake.stop();
    await probing;
    t.close();
  });
});

describe('/health', () => {
  test('always 200 with the documented fields, also with no upstream', async () => {
    const t = await makeTestApp();
    const { status, body } = await t.json<Record<string, any>>('GET', '/health');
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', platform: 'hermes-optx-api', mode: 'disconnected', memory_backend: 'holographic', tasks_backend: 'sqlite', mpp_enabled: false });
    expect(body.upstream).toEqual({ url: t.config.hermes.url, connected: false, latency_ms: null, error: null });
    expect(typeof body.version).toBe('string');
    expect(typeof body.uptime_s).toBe('number');
    // A wall clock set back (NTP) does not make the uptime negative.
    setSystemTime(new Date(Date.now() - 86_400_000));
    try {
      expect((await t.json<Record<string, number>>('GET', '/health')).body.uptime_s).toBeGreaterThanOrEqual(0);
    } finally {
      setSystemTime();
    }
    expect(Object.keys(body.capabilities)).toContain('memory');
    t.close();
  });

  test('an upstream URL with credentials or the OpenAI-style /v1 suffix: the gateway is found, no secret is shown', async () => {
    const u = new URL(v17.url);
    const t = await appFor(v17, { HERMES_AGENT_URL: `http://proxyuser:pr0xy-pa55@${u.host}/v1/` });
    await t.deps.probe.probeNow();
    const health = await t.fetch('/health');
    const status = await t.json<{ mode: string; upstream_url: string }>('GET', '/api/gateway-status');
    const raw = (await health.text()) + JSON.stringify(status.body);
    for (const secret of ['proxyuser', 'pr0xy-pa55']) expect(raw).not.toContain(secret);
    expect(status.body).toMatchObject({ mode: 'enhanced-hermes', upstream_url: `http://${u.host}` });
    t.close();
  });

  test('a key in the path of the upstream URL is not shown by /health or /api/gateway-status', async () => {
    const t = await appFor(v17, { HERMES_AGENT_URL: `http://127.0.0.1:9/gw/0123456789abcdef0123456789abcdef` });
    const raw = (await (await t.fetch('/health')).text()) + (await (await t.fetch('/api/gateway-status')).text());
    expect(raw).not.toContain('0123456789abcdef0123456789abcdef');
    expect(raw).toContain('"upstream_url":"http://127.0.0.1:9/gw/***"');
    t.close();
  });

  test('a URL is shown without user, password or credential-looking query values', () => {
    expect(publicUrl('https://u:p@rpc.example/x?api-key=K1&apikey=K2&token=T&sig=S&region=eu&page=2')).toBe('https://rpc.example/x?api-key=***&apikey=***&token=***&sig=***&region=eu&page=2');
    expect(publicUrl('http://h:8642')).toBe('http://h:8642');
    // Keys in the path, as RPC providers put them; route names and versions stay.
    expect(publicUrl('https://eth-mainnet.g.alchemy.com/v2/alchemyKey_0123456789-abcdefXYZ')).toBe('https://eth-mainnet.g.alchemy.com/v2/***');
    expect(publicUrl('https://x.quiknode.pro/fedcba9876543210fedcba9876543210fedcba98/')).toBe('https://x.quiknode.pro/***');
    expect(publicUrl('https://gw.example/api/v1/chat-completions/2024-10-21')).toBe('https://gw.example/api/v1/chat-completions/2024-10-21');
    expect(publicUrl('not a url')).toBe('invalid URL');
  });

  test('a model or deployment name in the path of a URL is shown; keys, UUIDs included, are not', () => {
    // Made of words and short numbers, names are as long as keys: masked, the URL no longer said where it points.
    for (const url of ['https://api-inference.huggingface.co/models/meta-llama/Meta-Llama-3-8B-Instruct', 'https://gw.example/openai/deployments/gpt-4o-mini-2024-07-18', 'https://llm.example/models/Mixtral-8x7B-Instruct-v0.1']) expect(publicUrl(url)).toBe(url);
    expect(publicUrl('https://eth-mainnet.blastapi.io/550e8400-e29b-41d4-a716-446655440000')).toBe('https://eth-mainnet.blastapi.io/***');
    expect(publicUrl('https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef')).toBe('https://mainnet.infura.io/v3/***');
    expect(publicUrl('https://eth-mainnet.g.alchemy.com/v2/J038e3gaccJC6Ue0BrvmpjzxsdfGly9n')).toBe('https://eth-mainnet.g.alchemy.com/v2/***');
  });

  test('latency is measured when connected', async () => {
    const t = await appFor(v17);
    await t.deps.probe.probeNow();
    const { body } = await t.json<Record<string, any>>('GET', '/health');
    expect(body.upstream.connected).toBe(true);
    expect(body.upstream.latency_ms).toBeGreaterThanOrEqual(0);
    t.close();
  });
});

describe('feature flags tell the truth', () => {
  test('wallet only with an address; mcp_servers only when config.yaml has some; model from config.yaml when disconnected', async () => {
    const plain = await makeTestApp();
    expect((await plain.json<Record<string, any>>('GET', '/api/gateway-status')).body.features).toMatchObject({ wallet: false, mcp_servers: false });
    plain.close();

    const t = await makeTestApp({ env: { EVM_ADDRESS: '0x' + 'ab'.repeat(20) } });
    mkdirSync(t.home, { recursive: true });
    writeFileSync(join(t.home, 'config.yaml'), 'model:\n  default: local-llama\nmcp_servers:\n  fs:\n    command: npx\n');
    const { body } = await t.json<Record<string, any>>('GET', '/api/gateway-status');
    expect(body.features).toMatchObject({ wallet: true, mcp_servers: true, streaming: false });
    expect(body.model).toBe('local-llama');
    t.close();
  });

  test('a secret a YAML alias repeats into model.default is masked in the open gateway status, as GET /api/config masks it', async () => {
    const t = await makeTestApp();
    mkdirSync(t.home, { recursive: true });
    writeFileSync(join(t.home, 'config.yaml'), 'providers:\n  x:\n    api_key: &k sk-live-SECRET0123456789\nmodel:\n  default: *k\n');
    const res = await t.fetch('/api/gateway-status');
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain('SECRET');
    expect((JSON.parse(text) as { model: unknown }).model).toBe('***6789');
    // The upstream is still asked for the model by its name: only what the route shows is masked.
    expect(t.deps.home.configuredModel()).toBe('sk-live-SECRET0123456789');
    t.close();
  });
});

describe('odd upstream answers are read for what they say', () => {
  test('capabilities with a null or odd-typed field still count: mode, runs flag and model stay true', async () => {
    // A capabilities-only gateway (0.12 shape) whose answer carries nulls and an endpoint list of objects.
    v12.behavior.bodyOverride = { '/v1/capabilities': { object: 'capabilities', model: 'hermes-4-70b', default_model: null, version: null, features: null, endpoints: [{ method: 'POST', path: '/v1/runs' }] } };
    const t = await appFor(v12);
    await t.deps.probe.probeNow();
    const { body } = await t.json<Record<string, any>>('GET', '/api/gateway-status');
    expect(body.mode).toBe('enhanced-hermes');
    expect(body.model).toBe('hermes-4-70b');
    expect(body.features).toMatchObject({ capabilities_endpoint: true, runs_api_upstream: true });
    v12.reset();
    t.close();
  });

  test('/v1/models: an entry without an id or with an empty one is skipped, not the whole list', async () => {
    v12.behavior.statusOverride = { '/v1/capabilities': 404 };
    v12.behavior.bodyOverride = { '/v1/models': { object: 'list', data: [{ object: 'model' }, { id: '' }, { id: 'qwen3-32b' }] } };
    const t = await appFor(v12);
    await t.deps.probe.probeNow();
    expect((await t.json<Record<string, any>>('GET', '/api/gateway-status')).body).toMatchObject({ mode: 'portable', model: 'qwen3-32b' });
    // An empty model name from capabilities is no model either: the list's first entry is.
    v12.behavior.statusOverride = {};
    v12.behavior.bodyOverride = { '/v1/capabilities': { model: '' } };
    await t.deps.probe.probeNow();
    expect((await t.json<Record<string, any>>('GET', '/api/gateway-status')).body.model).toBe('hermes-agent');
    v12.reset();
    t.close();
  });

  test('a web page on every path is no gateway: no feature flag says otherwise', async () => {
    v17.behavior.bodyOverride = { '/*': '<html>app</html>', '/*/*': '<html>app</html>', '/*/*/*': '<html>app</html>' };
    const t = await appFor(v17);
    await t.deps.probe.probeNow();
    const { body } = await t.json<Record<string, any>>('GET', '/api/gateway-status');
    expect(body.mode).toBe('disconnected');
    expect(body.features).toMatchObject({ health_detailed: false, capabilities_endpoint: false, sessions_api_upstream: false });
    v17.reset();
    t.close();
  });

  test('a session API seen once stays seen through a probe where only it failed (timeout, 5xx); a 404 says it is gone', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    // The hung call ends at this deadline, which every call of the probe has: at 0.3 s those that were
    // answered came too late on a busy CI box as well.
    const t = await appFor(fake, { PROBE_TIMEOUT_S: '3' });
    await t.deps.probe.probeNow();
    expect(t.deps.probe.state.sessionsApiSeen).toBe(true);
    // A loaded agent answers /health but not its session list in time: its sessions are not thereby absent
    // (the list showed the sidecar's own alone, 200, instead of 502 while the agent then went down).
    fake.behavior.hang = { '/api/sessions': true };
    await t.deps.probe.probeNow();
    expect(t.deps.probe.state.sessionsApiSeen).toBe(true);
    fake.behavior.hang = {};
    fake.behavior.statusOverride = { '/api/sessions': 503 };
    await t.deps.probe.probeNow();
    expect(t.deps.probe.state.sessionsApiSeen).toBe(true);
    fake.behavior.statusOverride = { '/api/sessions': 404 };
    await t.deps.probe.probeNow();
    expect(t.deps.probe.state.sessionsApiSeen).toBe(false);
    t.close();
    await fake.stop();
  });

  test('latency is null when /health never answered, not the probe timeout', async () => {
    const fake = await startFakeHermes({ version: '0.17' });
    fake.behavior.hang = { '/health': true };
    // As above: the deadline of the hung call is that of the answered ones too.
    const t = await appFor(fake, { PROBE_TIMEOUT_S: '3' });
    await t.deps.probe.probeNow();
    const { body } = await t.json<Record<string, any>>('GET', '/health');
    expect(body.mode).toBe('enhanced-hermes');
    expect(body.upstream).toMatchObject({ connected: true, latency_ms: null });
    t.close();
    await fake.stop();
  });
});

test('mcp_servers follows config.yaml while running, and servers all `enabled: false` (Hermes skips them) are none', async () => {
  const t = await makeTestApp();
  mkdirSync(t.home, { recursive: true });
  const file = join(t.home, 'config.yaml');
  const mcp = async () => (await t.json<Record<string, any>>('GET', '/api/gateway-status')).body.features.mcp_servers;
  writeFileSync(file, 'mcp_servers:\n  fs:\n    command: npx\n    enabled: false\n  gh:\n    url: https://mcp.example/mcp\n    enabled: false\n');
  expect(await mcp()).toBe(false);
  writeFileSync(file, 'mcp_servers:\n  fs:\n    command: npx\n    enabled: false\n  gh:\n    url: https://mcp.example/mcp\n');
  expect(await mcp()).toBe(true);
  writeFileSync(file, 'model: x\n');
  expect(await mcp()).toBe(false);
  t.close();
});
