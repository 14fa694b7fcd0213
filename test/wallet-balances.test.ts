import { afterAll, afterEach, beforeEach, describe, expect, setSystemTime, spyOn, test } from 'bun:test';
import { getAddressDecoder } from '@solana/kit';
import { ConfigError } from '../src/config';
import { startFakeEvmRpc } from './fakes/evm-rpc';
import { startFakeSolanaRpc, TOKEN_2022_PROGRAM, TOKEN_PROGRAM } from './fakes/solana-rpc';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { BalanceService } from '../src/modules/wallet/balances';
import { closedUrl, makeTestApp, type TestApp } from './helpers/app';
import { until } from './helpers/sse-events';

const solAddress = (seed: number) => getAddressDecoder().decode(Uint8Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) % 256));

const OWNER = solAddress(1);
const OPTX_MINT = solAddress(2);
const JTX_MINT = solAddress(3);
const T22_MINT = solAddress(4);
const NONE_MINT = solAddress(5);
const EVM_OWNER = '0x1111111111111111111111111111111111111111';
const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const DAI = '0x6B175474E89094C44Da98b954EedeAC495271d0F';
const PATH_USD = '0x20c0000000000000000000000000000000000000';

const sol = startFakeSolanaRpc();
const devnet = startFakeSolanaRpc();
const evm = startFakeEvmRpc({ chainId: 1 });
const tempo = startFakeTempoRpc();
const fakes = [sol, devnet, evm, tempo];
afterAll(() => Promise.all(fakes.map((f) => f.stop())));

function seed() {
  for (const f of fakes) f.reset();
  sol.lamports.clear();
  sol.accounts.length = 0;
  devnet.lamports.clear();
  devnet.accounts.length = 0;
  sol.lamports.set(OWNER, 1_500_000_000n);
  devnet.lamports.set(OWNER, 2n ** 60n); // past 2^53: must stay exact
  sol.addTokenAccount({ owner: OWNER, mint: JTX_MINT, program: TOKEN_PROGRAM, amount: 123_456_789n, decimals: 6 });
  sol.addTokenAccount({ owner: OWNER, mint: JTX_MINT, program: TOKEN_PROGRAM, amount: 1n, decimals: 6 });
  sol.addTokenAccount({ owner: OWNER, mint: T22_MINT, program: TOKEN_2022_PROGRAM, amount: 5_000_000_000n, decimals: 9 });
  sol.addTokenAccount({ owner: solAddress(9), mint: JTX_MINT, program: TOKEN_PROGRAM, amount: 999n, decimals: 6 });
  devnet.addTokenAccount({ owner: OWNER, mint: OPTX_MINT, program: TOKEN_2022_PROGRAM, amount: 42_000_000n, decimals: 6 });
  evm.setNative(EVM_OWNER, 1_234_567_890_123_456_789n);
  evm.setToken(USDC, EVM_OWNER, 12_345_678n, 6);
  evm.setToken(DAI, EVM_OWNER, 10n ** 18n + 1n, 18);
  tempo.setToken(PATH_USD, EVM_OWNER, 7_000_001n, 6);
}

function walletEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    SOLANA_ADDRESS: OWNER,
    SOLANA_RPC_URL: sol.url,
    SOLANA_DEVNET_RPC_URL: devnet.url,
    SOLANA_TOKENS: `OPTX:${OPTX_MINT}@devnet,JTX:${JTX_MINT},T22:${T22_MINT},NONE:${NONE_MINT}`,
    EVM_ADDRESS: EVM_OWNER,
    EVM_RPC_URLS: `mainnet=${evm.url},tempoModerato=${tempo.url}`,
    EVM_TOKENS: `mainnet:USDC:${USDC}:6,mainnet:DAI:${DAI},tempoModerato:pathUSD:${PATH_USD}`,
    RPC_TIMEOUT_S: '0.5',
    ...extra,
  };
}

type Json = Record<string, any>;
let t: TestApp | null = null;
beforeEach(seed);
afterEach(() => {
  t?.close();
  t = null;
});

describe('GET /api/wallet/balances', () => {
  test('every chain and token, exact, from the JSON-RPC the libraries really send', async () => {
    t = await makeTestApp({ env: walletEnv() });
    const r = await t.json<Json>('GET', '/api/wallet/balances');
    expect(r.status).toBe(200);
    const w = r.body.wallets;
    expect(w.solana).toEqual({
      address: OWNER, network: 'mainnet-beta', explorer: `https://explorer.solana.com/address/${OWNER}`, balance_sol: '1.5',
      tokens: {
        JTX: { mint: JTX_MINT, balance: '123.45679', decimals: 6 },
        T22: { mint: T22_MINT, balance: '5', decimals: 9 },
        NONE: { mint: NONE_MINT, balance: '0', decimals: null },
      },
    });
    expect(w.solana_devnet.balance_sol).toBe('1152921504.606846976');
    expect(w.solana_devnet.explorer).toEndWith('?cluster=devnet');
    expect(w.solana_devnet.tokens).toEqual({ OPTX: { mint: OPTX_MINT, balance: '42', decimals: 6 } });
    const [main, tmp] = w.evm.chains;
    expect(main).toEqual({
      chain: 'mainnet', chain_id: 1, name: 'Ethereum', native_symbol: 'ETH', native_balance: '1.234567890123456789',
      tokens: { USDC: { contract: USDC, balance: '12.345678', decimals: 6 }, DAI: { contract: DAI, balance: '1.000000000000000001', decimals: 18 } },
    });
    // Tempo has no native token: no balance and no error, only TIP-20s (6 decimals without a call).
    expect(tmp).toEqual({ chain: 'tempoModerato', chain_id: 42431, name: 'Tempo Testnet (Moderato)', native_symbol: null, native_balance: null, tokens: { pathUSD: { contract: PATH_USD, balance: '7.000001', decimals: 6 } } });
    expect(tempo.methods().sort()).toEqual(['eth_call', 'eth_chainId']);
    expect(typeof r.body.fetched_at).toBe('string');
  });

  test('one round trip per chain: EVM calls go as one batch, Solana calls leave together, all chains at once', async () => {
    t = await makeTestApp({ env: walletEnv() });
    // Every fake holds its answers until all expected requests of all chains are in flight: a client
    // that waited for one answer before sending the next request would never get any (timeouts).
    const all = Promise.all([sol.waitForRequests(3), devnet.waitForRequests(3), evm.waitForRequests(1), tempo.waitForRequests(1)]);
    for (const f of fakes) f.behavior.holdUntil = all;
    const r = await t.json<Json>('GET', '/api/wallet/balances');
    expect(r.body.wallets.solana.error).toBeUndefined();
    expect(r.body.wallets.evm.chains.map((c: Json) => c.error ?? null)).toEqual([null, null]);
    expect(evm.requests).toHaveLength(1);
    expect(evm.requests[0]?.batch).toBe(true);
    expect(evm.methods().sort()).toEqual(['eth_call', 'eth_call', 'eth_call', 'eth_chainId', 'eth_getBalance']);
    expect(tempo.requests).toHaveLength(1);
    expect(sol.methods().sort()).toEqual(['getBalance', 'getTokenAccountsByOwner', 'getTokenAccountsByOwner']);
    expect(sol.requests.flatMap((q) => q.calls.map((c) => (c.params as Json[])[1]?.programId)).filter(Boolean).sort()).toEqual([TOKEN_PROGRAM, TOKEN_2022_PROGRAM].sort());
  });

  test('a failing chain has its own error; the others keep their values (never a silent zero)', async () => {
    t = await makeTestApp({ env: walletEnv() });
    sol.behavior.httpStatus = 503;
    devnet.behavior.errors.getTokenAccountsByOwner = { code: -32005, message: 'Node is behind' };
    evm.behavior.garbage = true;
    tempo.behavior.hang = true;
    const w = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets;
    expect(w.solana.balance_sol).toBeNull();
    expect(w.solana.error).toBe('the Solana RPC answered HTTP 503');
    expect(w.solana.tokens.JTX).toEqual({ mint: JTX_MINT, balance: null, decimals: null, error: 'the Solana RPC answered HTTP 503' });
    expect(w.solana_devnet.balance_sol).toBe('1152921504.606846976');
    expect(w.solana_devnet.tokens.OPTX.error).toBe('Solana RPC error -32005: Node is behind');
    expect(w.evm.chains[0].native_balance).toBeNull();
    expect(w.evm.chains[0].error).toContain('not JSON');
    expect(w.evm.chains[0].tokens.USDC.balance).toBeNull();
    expect(w.evm.chains[0].tokens.USDC.error).toContain('not JSON');
    expect(w.evm.chains[1].tokens.pathUSD.error).toBe('timeout: the RPC did not answer within 0.5 s');
  });

  test('RPC errors, reverts, non-tokens, timeouts and unreachable nodes are each reported', async () => {
    t = await makeTestApp({ env: walletEnv({ SOLANA_RPC_URL: await closedUrl(), EVM_TOKENS: `mainnet:USDC:${USDC}:6,mainnet:NOPE:0x000000000000000000000000000000000000dEaD,mainnet:DAI:${DAI}` }) });
    evm.tokens.get(DAI.toLowerCase())!.decimals = null; // decimals() reverts
    devnet.behavior.hang = true;
    const w = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets;
    expect(w.solana.error).toBe('the Solana RPC is unreachable');
    expect(w.solana_devnet.error).toBe('timeout: the Solana RPC did not answer within 0.5 s');
    const c = w.evm.chains[0];
    expect(c.native_balance).toBe('1.234567890123456789');
    expect(c.tokens.USDC.balance).toBe('12.345678');
    expect(c.tokens.NOPE.error).toBe('the contract returned no data (is it a token on this chain?)');
    expect(c.tokens.DAI).toMatchObject({ balance: null, decimals: null });
    expect(c.tokens.DAI.error).toBe('RPC error -32000: execution reverted');
    evm.behavior.errors.eth_getBalance = { code: -32000, message: 'header not found' };
    const again = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.evm.chains[0];
    expect(again.error).toBe('RPC error -32000: header not found');
    expect(again.tokens.USDC.balance).toBe('12.345678');
  });

  test('error messages never carry the RPC URL (it may hold an API key)', async () => {
    t = await makeTestApp({ env: walletEnv({ EVM_RPC_URLS: `mainnet=${evm.url}/v2/secret-key-123,tempoModerato=${tempo.url}` }) });
    evm.behavior.httpStatus = 401;
    const text = JSON.stringify((await t.json<Json>('GET', '/api/wallet/balances')).body);
    expect(text).toContain('HTTP 401');
    expect(text).not.toContain('secret-key-123');
  });

  test('a failing RPC leaves one warn line naming the network, the host (no credentials, no path) and the error; repeats are folded', async () => {
    const { createLogger } = await import('../src/lib/log');
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    const closed = new URL(await closedUrl());
    t = await makeTestApp({ log, env: walletEnv({ SOLANA_RPC_URL: `http://user:pa55@${closed.host}/v2/key-in-path` }) });
    evm.behavior.httpStatus = 503;
    try {
      for (let i = 0; i < 3; i++) expect((await t.json('GET', '/api/wallet/balances')).status).toBe(200);
    } finally {
      evm.behavior.httpStatus = null;
    }
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'wallet RPC failed', network: 'mainnet-beta', host: closed.host, error: 'the Solana RPC is unreachable' }),
      expect.objectContaining({ level: 'warn', msg: 'wallet RPC failed', network: 'mainnet', host: new URL(evm.url).host, error: expect.stringContaining('503') }),
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/pa55|key-in-path/);
  });

  test("a node's error text that quotes the keyed RPC URL reaches neither the answer nor the log with the key", async () => {
    const { createLogger } = await import('../src/lib/log');
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) });
    // Alchemy-style key in the path, Helius-style key in the query; the node quotes the URL it was called at.
    const evmUrl = `${evm.url}/v2/alchemyKey0123456789abcdef`;
    const solUrl = `${sol.url}/?api-key=heliusKey-5b0c-4e1d-9a7f`;
    t = await makeTestApp({ log, env: walletEnv({ SOLANA_RPC_URL: solUrl, EVM_RPC_URLS: `mainnet=${evmUrl},tempoModerato=${tempo.url}` }) });
    evm.behavior.errors.eth_getBalance = { code: -32000, message: `rate limited at ${evmUrl}` };
    sol.behavior.errors.getBalance = { code: -32401, message: `invalid api key heliusKey-5b0c-4e1d-9a7f for ${solUrl}` };
    try {
      const r = await t.json<Json>('GET', '/api/wallet/balances');
      expect(r.status).toBe(200);
      expect(r.body.wallets.solana.error).toBe(`Solana RPC error -32401: invalid api key *** for ${sol.url}/?api-key=***`);
      expect(r.body.wallets.evm.chains[0].error).toBe(`RPC error -32000: rate limited at ${evm.url}/v2/***`);
      expect(lines.length).toBeGreaterThan(0);
      expect(JSON.stringify(r.body) + lines.join('\n')).not.toMatch(/alchemyKey|heliusKey/);
    } finally {
      delete evm.behavior.errors.eth_getBalance;
      delete sol.behavior.errors.getBalance;
    }
  });

  test("a node's quoted key cut by the 200-character limit on its words is hidden whole, not its head left", async () => {
    // Cut first, the key's first characters ended the text, no longer matched it and were shown.
    const key = 'alchemyKey0123456789abcdef';
    const evmUrl = `${evm.url}/v2/${key}`;
    const solUrl = `${sol.url}/?api-key=${key}`;
    t = await makeTestApp({ env: walletEnv({ SOLANA_RPC_URL: solUrl, EVM_RPC_URLS: `mainnet=${evmUrl},tempoModerato=${tempo.url}` }) });
    // Each message puts the key's first 10 characters at the cut.
    const cutAt = (url: string) => 'x'.repeat(200 - url.length + key.length - 10) + url;
    evm.behavior.errors.eth_getBalance = { code: -32000, message: cutAt(evmUrl) };
    sol.behavior.errors.getBalance = { code: -32401, message: cutAt(solUrl) };
    try {
      const r = await t.json<Json>('GET', '/api/wallet/balances');
      expect(r.status).toBe(200);
      expect(r.body.wallets.evm.chains[0].error).toEndWith(`${evm.url}/v2/***`);
      expect(r.body.wallets.solana.error).toEndWith(`${sol.url}/?api-key=***`);
      expect(JSON.stringify(r.body)).not.toContain(key.slice(0, 10));
    } finally {
      delete evm.behavior.errors.eth_getBalance;
      delete sol.behavior.errors.getBalance;
    }
  });

  test('a token symbol named like what every object has (__proto__, constructor) is shown with its balance', async () => {
    // Balances were gathered by assignment (`tokens[symbol] = …`), and the answer's schema (z.record)
    // rebuilt them the same way: a token "__proto__" became a prototype and was missing from the answer.
    t = await makeTestApp({ env: walletEnv({ SOLANA_TOKENS: `__proto__:${JTX_MINT},constructor:${T22_MINT}`, EVM_TOKENS: `mainnet:__proto__:${USDC}:6,mainnet:toString:${DAI}` }) });
    const w = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets;
    expect(Object.keys(w.solana.tokens)).toEqual(['__proto__', 'constructor']);
    expect(w.solana.tokens.__proto__).toEqual({ mint: JTX_MINT, balance: '123.45679', decimals: 6 });
    const mainnet = w.evm.chains.find((c: Json) => c.chain === 'mainnet');
    expect(Object.keys(mainnet.tokens)).toEqual(['__proto__', 'toString']);
    expect(mainnet.tokens.__proto__).toEqual({ contract: USDC, balance: '12.345678', decimals: 6 });
    // The overview serves the same snapshot from its cache.
    expect(Object.keys((await t.json<Json>('GET', '/api/wallet')).body.wallets.solana.tokens)).toEqual(['__proto__', 'constructor']);
    expect(({} as Json).mint).toBeUndefined();
  });

  test('concurrent live fetches share one set of RPC calls', async () => {
    const app = (t = await makeTestApp({ env: walletEnv() }));
    const results = await Promise.all(Array.from({ length: 5 }, () => app.json<Json>('GET', '/api/wallet/balances')));
    expect(new Set(results.map((r) => r.body.fetched_at)).size).toBe(1);
    expect(evm.requests).toHaveLength(1);
    expect(sol.requests).toHaveLength(3);
  });
});

describe('GET /api/wallet', () => {
  test('overview: cached balances, configured tokens, escrow totals', async () => {
    t = await makeTestApp({ env: walletEnv({ WALLET_AGENT: 'jett' }) });
    const first = await t.json<Json>('GET', '/api/wallet');
    expect(first.status).toBe(200);
    expect(first.body.agent).toBe('jett');
    expect(first.body.cached).toBe(false);
    expect(first.body.wallets.solana.balance_sol).toBe('1.5');
    expect(first.body.tokens.solana).toContainEqual({ symbol: 'OPTX', mint: OPTX_MINT, network: 'devnet' });
    expect(first.body.tokens.evm).toContainEqual({ chain: 'tempoModerato', chain_id: 42431, symbol: 'pathUSD', contract: PATH_USD, decimals: 6 });
    expect(first.body.tokens.evm).toContainEqual({ chain: 'mainnet', chain_id: 1, symbol: 'DAI', contract: DAI, decimals: null });
    expect(first.body.escrow).toEqual({ token: 'OPTX', locked: '0', released: '0', refunded: '0', expired: '0', count: 0, by_token: {} });
    const calls = evm.requests.length;
    sol.lamports.set(OWNER, 3_000_000_000n);
    const second = await t.json<Json>('GET', '/api/wallet');
    expect(second.body.cached).toBe(true);
    expect(second.body.wallets.solana.balance_sol).toBe('1.5');
    expect(evm.requests.length).toBe(calls);
    // A live fetch refreshes the cache.
    expect((await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.solana.balance_sol).toBe('3');
    expect((await t.json<Json>('GET', '/api/wallet')).body.wallets.solana.balance_sol).toBe('3');
  });

  test('a stale cache is served at once while one refresh runs in the background', async () => {
    t = await makeTestApp({ env: walletEnv({ BALANCE_CACHE_S: '0.001' }) });
    expect((await t.json<Json>('GET', '/api/wallet')).body.wallets.solana.balance_sol).toBe('1.5');
    sol.lamports.set(OWNER, 2_000_000_000n);
    await Bun.sleep(5);
    const before = sol.requests.length;
    const stale = await t.json<Json>('GET', '/api/wallet');
    expect(stale.body.cached).toBe(true);
    expect(stale.body.wallets.solana.balance_sol).toBe('1.5');
    // The refresh the stale read started is in flight; joining it (fetches are shared) waits for it.
    await t.deps.wallet.balances.live();
    expect(sol.requests.length).toBe(before + 3);
    const fresh = await t.json<Json>('GET', '/api/wallet');
    expect(fresh.body.wallets.solana.balance_sol).toBe('2');
  });

  test('a wall clock set back (NTP) does not keep the cache from going stale', async () => {
    t = await makeTestApp({ env: walletEnv({ BALANCE_CACHE_S: '0.05' }) });
    try {
      expect((await t.json<Json>('GET', '/api/wallet')).body.wallets.solana.balance_sol).toBe('1.5');
      setSystemTime(new Date(Date.now() - 86_400_000));
      sol.lamports.set(OWNER, 2_000_000_000n);
      await Bun.sleep(100);
      const before = sol.requests.length;
      expect((await t.json<Json>('GET', '/api/wallet')).body.cached).toBe(true);
      // The stale read starts a refresh (before: none until the clock had caught up a day later).
      await until(() => sol.requests.length > before);
      expect(sol.requests.length).toBeGreaterThan(before);
    } finally {
      setSystemTime();
    }
  });

  test('a snapshot with an error is retried after 5 s, not kept the whole BALANCE_CACHE_S like one without', async () => {
    t = await makeTestApp({ env: walletEnv({ BALANCE_CACHE_S: '30', EVM_ADDRESS: '' }) });
    let clock = 0;
    const balances = new BalanceService(t.config.wallet, [], () => clock);
    sol.behavior.httpStatus = 503;
    expect((await balances.cached()).snapshot.wallets.solana?.error).toBe('the Solana RPC answered HTTP 503');
    sol.behavior.httpStatus = null;
    // cached() starts a refresh through live(): counting its calls says whether a read refreshed.
    const refreshes = spyOn(balances, 'live');
    clock = 4_999;
    expect((await balances.cached()).snapshot.wallets.solana?.balance_sol).toBeNull();
    expect(refreshes).toHaveBeenCalledTimes(0);
    clock = 5_000;
    const stale = await balances.cached();
    expect(stale.cached).toBe(true);
    expect(stale.snapshot.wallets.solana?.error).toBe('the Solana RPC answered HTTP 503');
    expect(refreshes).toHaveBeenCalledTimes(1);
    expect((await balances.live()).wallets.solana?.balance_sol).toBe('1.5');
    // A snapshot without errors is kept the whole BALANCE_CACHE_S.
    refreshes.mockClear();
    clock = 5_000 + 29_999;
    expect((await balances.cached()).snapshot.wallets.solana?.balance_sol).toBe('1.5');
    expect(refreshes).toHaveBeenCalledTimes(0);
  });

  test('nothing configured: no wallets, no RPC calls', async () => {
    t = await makeTestApp();
    const r = await t.json<Json>('GET', '/api/wallet');
    expect(r.status).toBe(200);
    expect(r.body.wallets).toEqual({ solana: null, solana_devnet: null, evm: null });
    expect(r.body.tokens).toEqual({ solana: [], evm: [] });
    expect(fakes.every((f) => f.requests.length === 0)).toBe(true);
  });

  test('nothing configured: the overview does not load the chain libraries (~280 ms and 13 MB)', async () => {
    // In a fresh process: this file has loaded viem and @solana/kit already.
    const script = `
      import { makeTestApp } from ${JSON.stringify(`${import.meta.dir}/helpers/app`)};
      const t = await makeTestApp();
      const status = (await t.json('GET', '/api/wallet')).status;
      t.close();
      const loaded = Object.keys(require.cache).filter((k) => k.includes('node_modules/viem/') || k.includes('node_modules/@solana/')).length;
      console.log(JSON.stringify({ status, loaded }));
    `;
    const proc = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' });
    const out = (await new Response(proc.stdout).text()).trim().split('\n').pop() ?? '';
    expect(await proc.exited).toBe(0);
    expect(JSON.parse(out)).toEqual({ status: 200, loaded: 0 });
  });
});

describe('wallet configuration', () => {
  async function startFails(env: Record<string, string>): Promise<string> {
    try {
      t = await makeTestApp({ env });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError');
  }

  test('an unknown chain, a token without an RPC, a duplicate chain or a bad address stop start-up', async () => {
    expect(await startFails({ EVM_RPC_URLS: 'notachain=http://x.example' })).toContain('unknown chain "notachain"');
    expect(await startFails({ EVM_RPC_URLS: '98765432109=http://x.example' })).toContain('EVM_RPC_URLS');
    expect(await startFails({ EVM_RPC_URLS: 'base=http://x.example', EVM_TOKENS: `mainnet:USDC:${USDC}` })).toContain('no RPC in EVM_RPC_URLS');
    expect(await startFails({ EVM_RPC_URLS: 'base=http://x.example,8453=http://y.example' })).toContain('listed twice');
    expect(await startFails({ SOLANA_ADDRESS: 'z'.repeat(44) })).toContain('SOLANA_ADDRESS');
    // One symbol for two mints on one network would show one of them, the other hidden.
    expect(await startFails({ SOLANA_TOKENS: `USDC:${JTX_MINT},USDC:${T22_MINT}` })).toContain('USDC is listed twice on mainnet');
    expect(await startFails({ SOLANA_TOKENS: `OPTX:${OPTX_MINT}@devnet,OPTX:${JTX_MINT}@devnet` })).toContain('listed twice on devnet');
  });

  test('a dev chain named by its id 1337 (which tempoLocalnet shares) is a plain EVM chain: native balance, token decimals read', async () => {
    const local = startFakeEvmRpc({ chainId: 1337 });
    try {
      local.setNative(EVM_OWNER, 5n * 10n ** 18n);
      local.setToken(DAI, EVM_OWNER, 3n * 10n ** 18n, 18);
      for (const chain of ['1337', 'localhost']) {
        t?.close();
        t = await makeTestApp({ env: walletEnv({ EVM_RPC_URLS: `${chain}=${local.url}`, EVM_TOKENS: `${chain}:DAI:${DAI}` }) });
        const body = (await t.json<Json>('GET', '/api/wallet/balances')).body;
        const entry = body.wallets.evm.chains[0];
        expect([chain, entry.native_balance, entry.tokens.DAI.balance, entry.tokens.DAI.decimals]).toEqual([chain, '5', '3', 18]);
      }
    } finally {
      await local.stop();
    }
  });

  test('every wallet route is in the OpenAPI document with its schemas', async () => {
    t = await makeTestApp();
    const doc = (await t.json<Json>('GET', '/openapi/json')).body;
    const routes: [string, string][] = [
      ['get', '/api/wallet'], ['get', '/api/wallet/balances'], ['post', '/api/wallet/tempo/call'], ['get', '/api/wallet/tempo/usage'],
      ['get', '/api/wallet/tempo/pricing'], ['post', '/api/wallet/escrow'], ['get', '/api/wallet/escrow'], ['post', '/api/wallet/escrow/release'],
      ['get', '/api/wallet/escrow/{id}'], ['post', '/api/wallet/escrow/{id}/refund'],
    ];
    for (const [method, path] of routes) {
      const op = doc.paths[path]?.[method];
      expect([path, op?.tags]).toEqual([path, ['wallet']]);
      expect(Object.keys(op.responses).length).toBeGreaterThan(0);
    }
    expect(doc.paths['/api/wallet/escrow'].post.requestBody).toBeDefined();
  });

  test('a numeric chain id resolves to the viem chain and matches tokens named by name', async () => {
    t = await makeTestApp({ env: walletEnv({ EVM_RPC_URLS: `1=${evm.url}`, EVM_TOKENS: `mainnet:USDC:${USDC}:6` }) });
    const c = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.evm.chains[0];
    expect(c).toMatchObject({ chain: '1', chain_id: 1, tokens: { USDC: { balance: '12.345678' } } });
  });
});
