/**
 * Balances against answers real nodes and RPC providers send that the happy-path fakes do not:
 * JSON-RPC error codes outside the Solana node's own table, code-less errors, rate limits as JSON,
 * and an EVM URL that serves another chain than the one it is configured for.
 */
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { getAddressDecoder } from '@solana/kit';
import { startFakeEvmRpc } from './fakes/evm-rpc';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { startFakeSolanaRpc, TOKEN_2022_PROGRAM, TOKEN_PROGRAM } from './fakes/solana-rpc';
import { makeTestApp, type TestApp } from './helpers/app';

const solAddress = (seed: number) => getAddressDecoder().decode(Uint8Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) % 256));
const OWNER = solAddress(1);
const MINT = solAddress(2);

const EVM_OWNER = '0x1111111111111111111111111111111111111111';
const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const PATH_USD = '0x20c0000000000000000000000000000000000000';

const sol = startFakeSolanaRpc();
const devnet = startFakeSolanaRpc();
const ethereum = startFakeEvmRpc({ chainId: 1 });
const tempo = startFakeTempoRpc();
afterAll(() => Promise.all([sol.stop(), devnet.stop(), ethereum.stop(), tempo.stop()]));

type Json = Record<string, any>;
// No test here is about the RPC timeout: it only bounds a hang. 1 s ran out under load (a fake's first
// answers took longer with the suite beside busy loops on two cores: "the RPC did not answer within 1 s").
const RPC_TIMEOUT_S = '30';
let t: TestApp | null = null;
beforeEach(() => {
  sol.reset();
  sol.lamports.set(OWNER, 2_000_000_000n);
  sol.accounts.length = 0;
  sol.addTokenAccount({ owner: OWNER, mint: MINT, program: TOKEN_PROGRAM, amount: 1_500n, decimals: 3 });
});
afterEach(() => {
  t?.close();
  t = null;
});

async function solana(): Promise<Json> {
  t ??= await makeTestApp({ env: { SOLANA_ADDRESS: OWNER, SOLANA_RPC_URL: sol.url, SOLANA_DEVNET_RPC_URL: devnet.url, SOLANA_TOKENS: `X:${MINT}`, RPC_TIMEOUT_S } });
  return (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.solana;
}

describe('Solana RPC errors are reported with the node’s own code and words', () => {
  test('codes @solana/kit has no message for (providers’ -32000, 429, -32401) are not "unreachable"', async () => {
    sol.behavior.errors.getBalance = { code: -32000, message: 'Server error: upstream node unavailable' };
    sol.behavior.errors.getTokenAccountsByOwner = { code: 429, message: 'Too many requests for a specific RPC call' };
    const w = await solana();
    expect(w.balance_sol).toBeNull();
    expect(w.error).toBe('Solana RPC error -32000: Server error: upstream node unavailable');
    expect(w.tokens.X).toEqual({ mint: MINT, balance: null, decimals: null, error: 'Solana RPC error 429: Too many requests for a specific RPC call' });
  });

  test('an error object without a code (seen from load balancers) is still the node’s answer', async () => {
    sol.behavior.errors.getBalance = { message: 'No RPC endpoints available' };
    expect((await solana()).error).toBe('Solana RPC error: No RPC endpoints available');
  });

  test('a rate limit answered 429 with a JSON body, as the public RPC does', async () => {
    sol.behavior.httpStatus = 429;
    sol.behavior.httpBody = 'json';
    const w = await solana();
    expect(w.error).toBe('the Solana RPC answered HTTP 429');
    expect(w.tokens.X.error).toBe('the Solana RPC answered HTTP 429');
  });
});

describe('token accounts as the node parses them', () => {
  test('a frozen account still holds its tokens, and Token-2022 accounts with extensions are read', async () => {
    const T22 = solAddress(3);
    sol.addTokenAccount({ owner: OWNER, mint: MINT, program: TOKEN_PROGRAM, amount: 500n, decimals: 3, state: 'frozen' });
    sol.addTokenAccount({ owner: OWNER, mint: T22, program: TOKEN_2022_PROGRAM, amount: 25n, decimals: 1 });
    t = await makeTestApp({ env: { SOLANA_ADDRESS: OWNER, SOLANA_RPC_URL: sol.url, SOLANA_DEVNET_RPC_URL: devnet.url, SOLANA_TOKENS: `X:${MINT},T:${T22}`, RPC_TIMEOUT_S } });
    const w = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.solana;
    expect(w.tokens).toEqual({ X: { mint: MINT, balance: '2', decimals: 3 }, T: { mint: T22, balance: '2.5', decimals: 1 } });
  });
});

describe('an answer that contradicts itself is an error entry, never a balance', () => {
  // Before: the raw amounts were summed under the last account's decimals (1.5 at 3 decimals plus
  // 0.001 at 6 showed "0.0025"), and another wallet's account was added to this one's balance.
  test('accounts of one mint with different decimals', async () => {
    sol.addTokenAccount({ owner: OWNER, mint: MINT, program: TOKEN_PROGRAM, amount: 1_000n, decimals: 6 });
    expect((await solana()).tokens.X).toEqual({ mint: MINT, balance: null, decimals: null, error: 'the Solana RPC sent an answer of an unexpected shape (the accounts of the mint disagree on its decimals, or belong to another wallet)' });
  });

  test('an account of another wallet in the answer for this one', async () => {
    sol.addTokenAccount({ owner: solAddress(9), listedUnder: OWNER, mint: MINT, program: TOKEN_PROGRAM, amount: 999n, decimals: 3 });
    expect((await solana()).tokens.X).toMatchObject({ balance: null, error: expect.stringContaining('another wallet') });
  });
});

describe('Token-2022 mints whose wallets show another figure (ScaledUiAmount, InterestBearing)', () => {
  // The node keeps `amount` raw and writes the multiplied figure into uiAmountString (agave
  // account-decoder parse_token.rs, token_amount_to_ui_amount_v3).
  test('the balance stays the exact raw amount; ui_balance adds the node’s figure, summed exactly over the accounts', async () => {
    const SCALED = solAddress(3);
    sol.addTokenAccount({ owner: OWNER, mint: SCALED, program: TOKEN_2022_PROGRAM, amount: 1_500_000n, decimals: 6, multiplier: 2.5 });
    sol.addTokenAccount({ owner: OWNER, mint: SCALED, program: TOKEN_2022_PROGRAM, amount: 1n, decimals: 6, multiplier: 2.5 });
    t = await makeTestApp({ env: { SOLANA_ADDRESS: OWNER, SOLANA_RPC_URL: sol.url, SOLANA_DEVNET_RPC_URL: devnet.url, SOLANA_TOKENS: `X:${MINT},S:${SCALED}`, RPC_TIMEOUT_S } });
    const w = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.solana;
    // Per account the node truncates: 3.75 and 0.000002 (2.5 base units, truncated to 2).
    expect(w.tokens.S).toEqual({ mint: SCALED, balance: '1.500001', decimals: 6, ui_balance: '3.750002' });
    // A mint without such an extension has no second figure.
    expect(w.tokens.X).toEqual({ mint: MINT, balance: '1.5', decimals: 3 });
  });

  test('a figure the node could not compute ("inf", or empty) leaves ui_balance null, the balance still exact', async () => {
    const SCALED = solAddress(3);
    sol.addTokenAccount({ owner: OWNER, mint: SCALED, program: TOKEN_2022_PROGRAM, amount: 7n, decimals: 0, multiplier: 2 });
    sol.addTokenAccount({ owner: OWNER, mint: SCALED, program: TOKEN_2022_PROGRAM, amount: 3n, decimals: 0, uiAmountString: 'inf' });
    sol.addTokenAccount({ owner: OWNER, mint: SCALED, program: TOKEN_2022_PROGRAM, amount: 1n, decimals: 0, uiAmountString: '' });
    t = await makeTestApp({ env: { SOLANA_ADDRESS: OWNER, SOLANA_RPC_URL: sol.url, SOLANA_DEVNET_RPC_URL: devnet.url, SOLANA_TOKENS: `S:${SCALED}`, RPC_TIMEOUT_S } });
    const w = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.solana;
    expect(w.tokens.S).toEqual({ mint: SCALED, balance: '11', decimals: 0, ui_balance: null });
  });
});

describe('numbers outside the on-chain integer ranges are malformed answers, not balances', () => {
  test('token decimals that are not a u8 (negative, or huge) are an error entry, not a 500 or a frozen event loop', async () => {
    for (const decimals of [-3, 256]) {
      t?.close();
      t = null;
      sol.accounts.length = 0;
      sol.addTokenAccount({ owner: OWNER, mint: MINT, program: TOKEN_PROGRAM, amount: 1_500n, decimals });
      const w = await solana();
      expect(w.balance_sol).toBe('2');
      expect(w.tokens.X).toEqual({ mint: MINT, balance: null, decimals: null, error: 'the Solana RPC sent an answer of an unexpected shape' });
    }
  });

  test('lamports past a u64 and an EVM native balance past a uint256 are errors', async () => {
    sol.lamports.set(OWNER, 2n ** 64n);
    expect(await solana()).toMatchObject({ balance_sol: null, error: 'the Solana RPC sent an answer of an unexpected shape' });
    ethereum.reset();
    ethereum.setNative(EVM_OWNER, 2n ** 256n);
    t?.close();
    // (A token's balanceOf is ABI-decoded as a uint256: it cannot be larger.)
    t = await makeTestApp({ env: { EVM_ADDRESS: EVM_OWNER, EVM_RPC_URLS: `mainnet=${ethereum.url}`, RPC_TIMEOUT_S } });
    const [chain] = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.evm.chains;
    expect(chain).toMatchObject({ native_balance: null, error: 'the RPC sent a value of an unexpected shape' });
  });
});

describe('an EVM native balance that is no hex quantity', () => {
  test('an empty string, a JSON number or a hex with stray spelling is an error entry, never a balance (viem read "" as 0)', async () => {
    let answer: unknown = '';
    const odd = startFakeEvmRpc({ chainId: 1, extraMethods: () => ({ eth_getBalance: () => answer }) });
    try {
      for (const a of ['', 5, '0X10', ' 0x10', '0x']) {
        answer = a;
        t?.close();
        t = await makeTestApp({ env: { EVM_ADDRESS: EVM_OWNER, EVM_RPC_URLS: `mainnet=${odd.url}`, RPC_TIMEOUT_S } });
        const [chain] = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.evm.chains;
        expect([a, chain.native_balance, chain.error]).toEqual([a, null, 'the RPC sent a value of an unexpected shape']);
      }
      answer = '0x10';
      t?.close();
      t = await makeTestApp({ env: { EVM_ADDRESS: EVM_OWNER, EVM_RPC_URLS: `mainnet=${odd.url}`, RPC_TIMEOUT_S } });
      const [chain] = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.evm.chains;
      expect([chain.native_balance, chain.error]).toEqual(['0.000000000000000016', undefined]);
    } finally {
      await odd.stop();
    }
  });
});

describe('an EVM RPC URL that serves another chain', () => {
  test('its balances are not shown as the configured chain’s: the chain says which chain the node serves', async () => {
    ethereum.reset();
    ethereum.setNative(EVM_OWNER, 3n * 10n ** 18n);
    ethereum.setToken(USDC, EVM_OWNER, 7_000_000n, 6);
    tempo.reset();
    tempo.setToken(PATH_USD, EVM_OWNER, 5_000_000n, 6);
    // A mainnet URL pasted for base, a mainnet URL for Tempo, and one right entry.
    const env = { EVM_ADDRESS: EVM_OWNER, EVM_RPC_URLS: `base=${ethereum.url},tempo=${ethereum.url},tempoModerato=${tempo.url}`, EVM_TOKENS: `base:USDC:${USDC}:6,tempo:pathUSD:${PATH_USD},tempoModerato:pathUSD:${PATH_USD}`, RPC_TIMEOUT_S };
    t = await makeTestApp({ env });
    const [base, tempoMainnet, moderato] = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.evm.chains;
    const wrong = 'the RPC serves chain id 1, not base (8453): check EVM_RPC_URLS';
    expect(base).toMatchObject({ chain: 'base', chain_id: 8453, native_balance: null, error: wrong });
    expect(base.tokens.USDC).toEqual({ contract: USDC, balance: null, decimals: 6, error: wrong });
    expect(tempoMainnet.error).toBe('the RPC serves chain id 1, not tempo (4217): check EVM_RPC_URLS');
    expect(tempoMainnet.tokens.pathUSD.balance).toBeNull();
    expect(moderato.error).toBeUndefined();
    expect(moderato.tokens.pathUSD.balance).toBe('5');
    // The check rides in the chain's one batch: no extra round trip.
    expect(tempo.requests).toHaveLength(1);
  });

  test('a chain id that does not come (an error in the batch) leaves the values unconfirmed: errors, not balances', async () => {
    ethereum.reset();
    ethereum.setNative(EVM_OWNER, 3n * 10n ** 18n);
    ethereum.setToken(USDC, EVM_OWNER, 7_000_000n, 6);
    ethereum.behavior.errors.eth_chainId = { code: -32601, message: 'the method eth_chainId is not available' };
    t = await makeTestApp({ env: { EVM_ADDRESS: EVM_OWNER, EVM_RPC_URLS: `base=${ethereum.url}`, EVM_TOKENS: `base:USDC:${USDC}:6`, RPC_TIMEOUT_S } });
    const [base] = (await t.json<Json>('GET', '/api/wallet/balances')).body.wallets.evm.chains;
    const unconfirmed = 'could not confirm the chain the RPC serves (RPC error -32601: the method eth_chainId is not available)';
    expect(base).toMatchObject({ chain: 'base', native_balance: null, error: unconfirmed });
    expect(base.tokens.USDC).toEqual({ contract: USDC, balance: null, decimals: 6, error: unconfirmed });
  });
});
