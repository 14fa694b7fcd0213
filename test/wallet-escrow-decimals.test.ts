/**
 * The decimals an escrow is locked with: a token EVM_TOKENS lists without decimals has them on chain
 * only (`decimals()`, read by the balances), so the ledger cannot know them and must not guess 6.
 */
import { afterEach, expect, test } from 'bun:test';
import { makeTestApp, type TestApp } from './helpers/app';

type Json = Record<string, any>;
const DAI = '0x6B175474E89094C44Da98b954EedeAC495271d0F';
const USDC_BASE = '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913';

let t: TestApp | null = null;
afterEach(() => {
  t?.close();
  t = null;
});

test('a token listed without decimals is refused (422 token_decimals_unknown), never locked at a guessed 6', async () => {
  // Before: DAI (18 decimals on chain) was locked with decimals 6, "1" as 1000000 base units (10^-12 DAI),
  // and 1 wei of it refused as "DAI has 6 decimals".
  t = await makeTestApp({ env: { EVM_RPC_URLS: 'mainnet=http://127.0.0.1:9,base=http://127.0.0.1:9', EVM_TOKENS: `mainnet:DAI:${DAI},base:USDC:${USDC_BASE}:6` } });
  const r = await t.json<Json>('POST', '/api/wallet/escrow', { task_id: 't', token: 'DAI', amount: '1' });
  expect([r.status, r.body.code, r.body.errors]).toEqual([422, 'token_decimals_unknown', [{ path: 'token', message: expect.stringContaining('EVM_TOKENS') }]]);
  expect((await t.json<Json>('GET', '/api/wallet/escrow')).body.total).toBe(0);
  // Tokens with known decimals, and symbols not configured at all (6), are locked as before.
  const usdc = await t.json<Json>('POST', '/api/wallet/escrow', { task_id: 't', token: 'USDC', amount: '1' });
  const optx = await t.json<Json>('POST', '/api/wallet/escrow', { task_id: 't', amount: '1' });
  expect([usdc.status, usdc.body.decimals, optx.status, optx.body.decimals]).toEqual([201, 6, 201, 6]);
});

test('a symbol listed on several chains takes the decimals of the first that gives them', async () => {
  t = await makeTestApp({ env: { EVM_RPC_URLS: 'mainnet=http://127.0.0.1:9,base=http://127.0.0.1:9', EVM_TOKENS: `mainnet:USDC:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48,base:USDC:${USDC_BASE}:6` } });
  const r = await t.json<Json>('POST', '/api/wallet/escrow', { task_id: 't', token: 'USDC', amount: '1.5' });
  expect([r.status, r.body.decimals, r.body.amount_base_units]).toEqual([201, 6, '1500000']);
});
