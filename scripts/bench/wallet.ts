/**
 * Wallet benchmark: `bun scripts/bench/wallet.ts [--requests N] [--escrows N] [--delay MS] [--fetches N]`
 *
 * 1. GET /api/wallet from a warm cache (in-process, app.handle), with an escrow ledger of --escrows
 *    entries (a tenth of them expired) — target: under 1 ms per request.
 * 2. A live balance fetch of four chains (Solana mainnet and devnet, Ethereum, Tempo) against fake
 *    nodes that answer every HTTP request --delay ms late: a fetch must cost about one round trip,
 *    not the sum of its requests (Solana sends 3 requests per network, EVM chains one batch).
 * 3. POST /api/wallet/escrow (in-process, one at a time, --locks of each): without an Idempotency-Key,
 *    with a new key each time, and a retry under a used key (answered without the write lock).
 */
import { report } from './lib';
import { getAddressDecoder } from '@solana/kit';
import { makeTestApp } from '../../test/helpers/app';
import { startFakeEvmRpc } from '../../test/fakes/evm-rpc';
import { startFakeSolanaRpc, TOKEN_2022_PROGRAM, TOKEN_PROGRAM } from '../../test/fakes/solana-rpc';
import { startFakeTempoRpc } from '../../test/fakes/tempo-rpc';

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const REQUESTS = flag('requests', 20_000);
const ESCROWS = flag('escrows', 10_000);
const DELAY_MS = flag('delay', 50);
const FETCHES = flag('fetches', 20);
const LOCKS = flag('locks', 1000);

const sol = (seed: number) => getAddressDecoder().decode(Uint8Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) % 256));
const owner = sol(1);
const evmOwner = '0x1111111111111111111111111111111111111111';
const usdc = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const pathUsd = '0x20c0000000000000000000000000000000000000';

const mainnet = startFakeSolanaRpc();
const devnet = startFakeSolanaRpc();
const evm = startFakeEvmRpc({ chainId: 1 });
const tempo = startFakeTempoRpc();
const fakes = [mainnet, devnet, evm, tempo];
mainnet.lamports.set(owner, 1_500_000_000n);
mainnet.addTokenAccount({ owner, mint: sol(3), program: TOKEN_PROGRAM, amount: 5n, decimals: 6 });
devnet.addTokenAccount({ owner, mint: sol(2), program: TOKEN_2022_PROGRAM, amount: 7n, decimals: 6 });
evm.setNative(evmOwner, 10n ** 18n);
evm.setToken(usdc, evmOwner, 1_000_000n, 6);
tempo.setToken(pathUsd, evmOwner, 1_000_000n, 6);

const t = await makeTestApp({
  env: {
    SOLANA_ADDRESS: owner, SOLANA_RPC_URL: mainnet.url, SOLANA_DEVNET_RPC_URL: devnet.url,
    SOLANA_TOKENS: `OPTX:${sol(2)}@devnet,JTX:${sol(3)}`,
    EVM_ADDRESS: evmOwner, EVM_RPC_URLS: `mainnet=${evm.url},tempoModerato=${tempo.url}`,
    EVM_TOKENS: `mainnet:USDC:${usdc}:6,tempoModerato:pathUSD:${pathUsd}`,
    BALANCE_CACHE_S: '3600', RPC_TIMEOUT_S: '10',
  },
});

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `mean ${mean.toFixed(3)} ms, p50 ${at(0.5).toFixed(3)} ms, p99 ${at(0.99).toFixed(3)} ms, max ${at(1).toFixed(3)} ms`;
}

// ---- 1. cached overview --------------------------------------------------------------------
{
  const { sqlite } = t.deps.db;
  const lock = (i: number) => t.deps.wallet.escrow.lock({ task_id: `t${i}`, amount: `${i + 1}.25`, token: i % 2 ? 'OPTX' : 'USDC', gaze_required: false, ttl_seconds: 3600 });
  const ids: string[] = [];
  for (let i = 0; i < ESCROWS; i++) ids.push((await lock(i)).escrow.escrow_id);
  const past = Date.now() - 1000;
  sqlite.transaction(() => {
    for (let i = 0; i < ids.length; i += 10) sqlite.run('UPDATE escrows SET expires_at_ms = ?1 WHERE id = ?2', [past, ids[i] as string]);
  })();
  await t.fetch('/api/wallet'); // warms the balance cache
  for (let i = 0; i < 500; i++) await t.fetch('/api/wallet');
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const res = await t.fetch('/api/wallet');
    await res.arrayBuffer();
    times.push(performance.now() - t0);
  }
  console.log(`GET /api/wallet from cache, ${ESCROWS} escrows (${Math.ceil(ESCROWS / 10)} expired), ${REQUESTS} requests:`);
  console.log(`  ${stats(times)}`);
  const p50 = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
  report({ area: 'wallet', metric: `GET /api/wallet from cache (${ESCROWS} escrows), p50`, value: `${p50.toFixed(3)} ms`, target: '< 1 ms', ok: p50 < 1 });
}

// ---- 2. live fetch latency -----------------------------------------------------------------
{
  for (const f of fakes) f.behavior.delayMs = DELAY_MS;
  await t.deps.wallet.balances.live(); // connections warm
  const times: number[] = [];
  for (const f of fakes) f.requests.length = 0;
  for (let i = 0; i < FETCHES; i++) {
    const t0 = performance.now();
    const s = await t.deps.wallet.balances.live();
    times.push(performance.now() - t0);
    if (s.wallets.solana?.error || s.wallets.evm?.chains.some((c) => c.error)) throw new Error('a balance fetch failed during the benchmark');
  }
  const perFetch = (n: number) => (n / FETCHES).toFixed(1);
  const requests = fakes.reduce((n, f) => n + f.requests.length, 0) / FETCHES;
  console.log(`live balance fetch, 4 chains, every RPC answer ${DELAY_MS} ms late, ${FETCHES} fetches:`);
  console.log(`  ${stats(times)}`);
  console.log(`  HTTP requests per fetch: solana ${perFetch(mainnet.requests.length)}, solana devnet ${perFetch(devnet.requests.length)}, ethereum ${perFetch(evm.requests.length)} (batched), tempo ${perFetch(tempo.requests.length)} (batched)`);
  console.log(`  one round trip = ${DELAY_MS} ms; ${requests} requests one after the other would be ${requests * DELAY_MS} ms`);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  report({ area: 'wallet', metric: `live balances, 4 chains, each RPC ${DELAY_MS} ms away (mean)`, value: `${mean.toFixed(1)} ms`, target: `one round trip (< ${2 * DELAY_MS} ms), not the sum (${requests * DELAY_MS} ms)`, ok: mean < 2 * DELAY_MS });
}

// ---- 3. escrow lock, with and without an Idempotency-Key ----------------------------------
{
  const body = JSON.stringify({ task_id: 'bench-lock', amount: '1.25', gaze_required: false, ttl_seconds: 3600 });
  const lock = async (key: string | null) => {
    const t0 = performance.now();
    const res = await t.fetch('/api/wallet/escrow', { method: 'POST', headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'idempotency-key': key }) }, body });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`lock answered ${res.status}`);
    return performance.now() - t0;
  };
  const p50 = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)] as number;
  for (let i = 0; i < 200; i++) await lock(i % 2 ? null : `warm-${i}`);
  const runs: [string, (i: number) => string | null][] = [['no key', () => null], ['new key', (i) => `bench-${i}`], ['retry, used key', (i) => `bench-${i}`]];
  console.log(`POST /api/wallet/escrow, ${LOCKS} of each, on ${ESCROWS + 200} escrows and growing:`);
  for (const [what, key] of runs) {
    const times: number[] = [];
    for (let i = 0; i < LOCKS; i++) times.push(await lock(key(i)));
    console.log(`  ${what}: ${stats(times)}`);
    report({ area: 'wallet', metric: `POST /api/wallet/escrow, ${what}, p50`, value: `${p50(times).toFixed(3)} ms` });
  }
}

t.close();
await Promise.all(fakes.map((f) => f.stop()));
