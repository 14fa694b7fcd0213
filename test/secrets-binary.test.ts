/**
 * No secret of the configuration reaches a response or the log, end to end: the built executable,
 * every outside service a fake reached through a URL that carries a key (userinfo, a query value, a
 * path segment), the client sending its own credentials, and every route asked once while the fakes
 * answer, fail with 500 and refuse connections — so that the error paths (details, SSE error events,
 * wallet entries, log lines) are walked too.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeAaron } from './fakes/aaron';
import { startFakeEvmRpc } from './fakes/evm-rpc';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { startFakeSolanaRpc } from './fakes/solana-rpc';
import { startFakeSpacetime } from './fakes/spacetimedb';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { closedUrl, tempDir } from './helpers/app';
import { ensureBinary, startBinary } from './helpers/binary';

/** Every secret of the fixture; the names say where each one sits. */
const S = {
  hermesKey: 'sk-hermes-9f1c2b7d4e6a8c0b',
  hermesUrlPassword: 'hermes-pw-51d8e2a7',
  hedgehogKey: 'sk-hedge-3b9d7f1e5c2a4d6f',
  hedgehogUrlPassword: 'hedge-pw-8c4e1a9b',
  spacetimeUrlPassword: 'stdb-pw-2e7b9c4d',
  spacetimeToken: 'stdb-token-6a1f8e3c9b2d',
  aaronUrlPassword: 'aaron-pw-7d3a1c9e',
  solanaQueryKey: 'helius0key0c4f7a2e9b1d6',
  solanaPathKey: 'alchemySol0key8b2e5d1f9a3c7e4b',
  evmPathKey: 'alchemyEvm0key4e9c1b7a3d8f2e6c',
  tempoUrlPassword: 'tempo-pw-9b4c2e7a',
  tempoPathKey: '0a1b2c3d4e5f60718293a4b5c6d7e8f9',
  apiKey: 'client-api-key-5e8b1d4a7c',
  mppSecret: 'mpp-secret-2c7e9a4b1d6f8e3a5c0b7d9e1f4a6c8b',
  configUrlKey: 'openrouterPath0key3f8a1c6e9b2d',
  envPathKey: '4f7a2c9e1b6d8a3f5c0e7b9d2a4c6e8f',
  envQueryKey: 'envQueryKey-7b3e9a1c',
  envValue: 'sk-or-v1-envvalue-0d5c8b2e',
};
/** The client's own credentials: they authenticate it to the sidecar and must never travel further. */
const CLIENT = { cookie: 'sid=cookie-6f2a9d4c1e', proxy: 'Basic cHJveHk6cHJveHktcHc=', xApiKey: 'x-api-key-3c8e1b7a' };

const OWNER = '11111111111111111111111111111112';
const EVM_OWNER = '0x1111111111111111111111111111111111111111';

let binary = '';
let hermes: FakeHermes;
let hedgehog: FakeHermes;
const sol = startFakeSolanaRpc();
const devnet = startFakeSolanaRpc();
const evm = startFakeEvmRpc({ chainId: 1 });
const tempo = startFakeTempoRpc();
const spacetime = startFakeSpacetime();
const aaron = startFakeAaron();
const rpcs = [sol, devnet, evm, tempo];

beforeAll(async () => {
  [binary, hermes, hedgehog] = await Promise.all([ensureBinary(), startFakeHermes({ apiKey: S.hermesKey }), startFakeHermes({ apiKey: S.hedgehogKey })]);
}, 120_000);
afterAll(async () => {
  await Promise.all([...rpcs.map((f) => f.stop()), spacetime.stop(), aaron.stop(), hermes.stop(), hedgehog.stop()]);
});

const withUser = (url: string, user: string, password: string) => url.replace('http://', `http://${user}:${password}@`);

/** The sidecar's environment, every URL pointing at `at(fake's URL)` (the fake, or a closed port). */
function sidecarEnv(home: string, dir: string, at: (url: string) => string): Record<string, string> {
  return {
    HERMES_HOME: home,
    OPTX_DATA_DIR: join(dir, 'data'),
    HERMES_AGENT_URL: withUser(at(hermes.url), 'hermes', S.hermesUrlPassword),
    HERMES_API_KEY: S.hermesKey,
    HEDGEHOG_URL: withUser(at(hedgehog.url), 'hedge', S.hedgehogUrlPassword),
    HEDGEHOG_API_KEY: S.hedgehogKey,
    MEMORY_BACKEND: 'spacetimedb',
    TASKS_BACKEND: 'spacetimedb',
    MEMORY_DB_URL: withUser(at(spacetime.url), 'stdb', S.spacetimeUrlPassword),
    SPACETIMEDB_DB: spacetime.db,
    SPACETIMEDB_TOKEN: S.spacetimeToken,
    AARON_URL: withUser(at(aaron.url), 'aaron', S.aaronUrlPassword),
    SOLANA_ADDRESS: OWNER,
    SOLANA_RPC_URL: `${at(sol.url)}/?api-key=${S.solanaQueryKey}`,
    SOLANA_DEVNET_RPC_URL: `${at(devnet.url)}/v2/${S.solanaPathKey}`,
    EVM_ADDRESS: EVM_OWNER,
    EVM_RPC_URLS: `mainnet=${at(evm.url)}/v2/${S.evmPathKey}`,
    TEMPO_RPC_URL: `${withUser(at(tempo.url), 'tempo', S.tempoUrlPassword)}/v3/${S.tempoPathKey}`,
    API_KEY: S.apiKey,
    MPP_SECRET_KEY: S.mppSecret,
    RPC_TIMEOUT_S: '2',
    SPACETIMEDB_TIMEOUT_S: '2',
    AARON_TIMEOUT_S: '2',
    UPSTREAM_TIMEOUT_S: '2',
    HEDGEHOG_TIMEOUT_S: '2',
    LOG_LEVEL: 'debug',
    LOG_FORMAT: 'json',
  };
}

function writeHome(home: string): void {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'config.yaml'), `model:\n  default: m\n  provider: custom\n  base_url: https://openrouter.example/api/v1/${S.configUrlKey}\n  api_key: \${OPENROUTER_API_KEY}\n`);
  writeFileSync(join(home, '.env'), `OPENROUTER_API_KEY=${S.envValue}\nETH_RPC_URL=https://eth-mainnet.g.alchemy.com/v2/${S.envPathKey}\nSOL_RPC=https://rpc.example/?api-key=${S.envQueryKey}\n`);
}

const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
const CALLS: [string, string, unknown?][] = [
  ['GET', '/health'], ['GET', '/api/gateway-status'], ['GET', '/api/wallet'], ['GET', '/api/wallet/balances'],
  ['GET', '/api/memory/stats'], ['GET', '/api/memory'], ['POST', '/api/memory/search', { query: 'x' }],
  ['GET', '/api/config'], ['GET', '/api/config/model'], ['GET', '/api/sessions'], ['POST', '/api/sessions', {}],
  ['POST', '/api/sessions/new/chat/stream', { message: 'hi' }], ['POST', '/api/chat/completions/stream', chat],
  ['GET', '/v1/models'], ['POST', '/v1/chat/completions', chat], ['GET', '/api/tasks'], ['GET', '/api/tasks/stats'],
  ['POST', '/api/tasks/swarm', { goal: 'plan a launch' }],
  ['POST', '/api/wallet/tempo/call', { caller_id: 'c', prompt: 'hi' }], ['GET', '/api/wallet/escrow'], ['GET', '/openapi/json'],
];

/** Runs the binary against the fakes as `setup` left them; returns every leak found, by place. */
async function leaksOf(at: (url: string) => string): Promise<string[]> {
  const dir = tempDir();
  const home = join(dir, 'home');
  writeHome(home);
  for (const f of [hermes, hedgehog]) f.requests.length = 0;
  spacetime.requests.length = 0;
  aaron.requests.length = 0;
  const app = await startBinary(binary, sidecarEnv(home, dir, at));
  let stderr = '';
  const done = app.proc.stderr.pipeTo(new WritableStream({ write: (c) => void (stderr += new TextDecoder().decode(c)) }));
  const leaks: string[] = [];
  const find = (where: string, text: string, secrets: Record<string, string>) => {
    for (const [name, secret] of Object.entries(secrets)) if (text.includes(secret)) leaks.push(`${name} in ${where}`);
  };
  try {
    const headers = { authorization: `Bearer ${S.apiKey}`, cookie: CLIENT.cookie, 'proxy-authorization': CLIENT.proxy, 'x-api-key': CLIENT.xApiKey, 'x-optx-gaze-session': 'g1', 'content-type': 'application/json' };
    for (const [method, path, body] of CALLS) {
      const res = await fetch(app.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      find(`${method} ${path}`, await res.text(), S);
    }
    // A claim of a task that needs a gaze check asks AARON (when SpacetimeDB holds the task).
    const task = await fetch(`${app.base}/api/tasks`, { method: 'POST', headers, body: JSON.stringify({ title: 'gazed', gaze_required: true }) });
    const id = task.ok ? ((await task.json()) as { task_id: string }).task_id : 'task_missing';
    const claim = await fetch(`${app.base}/api/tasks/${id}/claim`, { method: 'POST', headers, body: JSON.stringify({ agent_name: 'a', gaze_session_id: 'g1' }) });
    find('a gazed claim', await claim.text(), S);
  } finally {
    app.proc.kill('SIGTERM');
    await app.proc.exited;
    await done;
  }
  find('the log', app.output() + stderr, S);
  const outside = [...hermes.requests, ...hedgehog.requests, ...spacetime.requests].map((r) => JSON.stringify(r.headers)).join('\n');
  find('a request to an outside service', outside, { ...CLIENT, apiKey: S.apiKey });
  reached = { hermes: hermes.requests.length, hedgehog: hedgehog.requests.length, spacetime: spacetime.requests.length, aaron: aaron.requests.length, rpc: rpcs.map((f) => f.requests.length) };
  return leaks;
}

/** How many requests each fake got in the last run: the error paths were walked, not skipped. */
let reached: Record<string, number | number[]> = {};

describe('no secret in any response or log line, or client credential upstream (the built executable)', () => {
  test('every service answering', async () => {
    expect(await leaksOf((u) => u)).toEqual([]);
    expect(Object.values(reached).flat().filter((n) => n === 0)).toEqual([0]); // all but the Tempo RPC, which only MPP asks
  }, 60_000);

  test('every service failing with 500', async () => {
    for (const f of rpcs) f.behavior.httpStatus = 500;
    for (const f of [hermes, hedgehog]) f.behavior.statusOverride = { '/v1/chat/completions': 500, '/v1/models': 500, '/api/sessions': 500 };
    spacetime.behavior.statusOverride = { [`/v1/database/${spacetime.db}/sql`]: 500, [`/v1/database/${spacetime.db}/call/store_memory`]: 500 };
    aaron.behavior.status = 500;
    try {
      expect(await leaksOf((u) => u)).toEqual([]);
    } finally {
      for (const f of rpcs) f.reset();
      for (const f of [hermes, hedgehog]) f.behavior.statusOverride = {};
      spacetime.behavior.statusOverride = {};
      aaron.behavior.status = null;
    }
  }, 60_000);

  test('every service refusing connections', async () => {
    const closed = await closedUrl();
    expect(await leaksOf(() => closed)).toEqual([]);
  }, 60_000);
});
