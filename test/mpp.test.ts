/**
 * MPP end to end, offline: the real mppx client builds and signs a Tempo payment transaction against
 * the fake Tempo node, the sidecar's gate verifies it with the real mppx server method (HMAC, expiry,
 * transfer calls and memo, simulation, broadcast, receipt logs, replay store) against the same node.
 */
import { describe, expect, setSystemTime, spyOn, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Challenge, Receipt } from 'mppx';
import { Mppx as ServerMppx, tempo as serverTempo } from 'mppx/server';
import { tempDir, type TestApp } from './helpers/app';
import { credentialFor, paid, PATH_USD, payer as payerOn, RECIPIENT, SECRET, useMppApps } from './helpers/mpp';

type Json = Record<string, any>;
const body = async (res: Response): Promise<Json> => (await res.json()) as Json;

const { chain, hermes, open, close } = await useMppApps();

const payer = (app: TestApp, funds?: bigint, mode?: 'push' | 'pull') => payerOn(app, chain, funds, mode);
const broadcasts = () => chain.methods().filter((m) => m.startsWith('eth_sendRawTransaction')).length;

describe('MPP challenge', () => {
  test('no credential: 402 with a Tempo charge challenge and a problem-details body', async () => {
    const app = await open();
    const res = await app.fetch('/api/wallet/escrow');
    expect(res.status).toBe(402);
    const header = res.headers.get('www-authenticate') ?? '';
    expect(header).toStartWith('Payment ');
    const c = Challenge.deserialize(header);
    expect(c).toMatchObject({ realm: 'hermes-optx-api', method: 'tempo', intent: 'charge' });
    expect(c.request).toMatchObject({ amount: '100000', currency: PATH_USD, recipient: RECIPIENT, methodDetails: { chainId: 42431 } });
    expect(Date.parse(c.expires as string)).toBeGreaterThan(Date.now());
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = await body(res);
    expect(problem).toMatchObject({ type: 'https://paymentauth.org/problems/payment-required', title: 'Payment Required', status: 402, code: 'payment_required', challengeId: c.id });
    expect(problem.detail).toStartWith('Payment is required');
    expect(chain.requests).toHaveLength(0);
  });

  test('an API key still passes; a wrong key is asked to pay; public routes stay open', async () => {
    const app = await open();
    const ok = await app.fetch('/api/wallet/tempo/pricing', { headers: { authorization: 'Bearer good-key' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('payment-receipt')).toBeNull();
    expect((await app.fetch('/api/wallet', { headers: { authorization: 'Bearer bad-key' } })).status).toBe(402);
    const health = await app.json<Json>('GET', '/health');
    expect([health.status, health.body.mpp_enabled]).toEqual([200, true]);
  });

  test('garbage, tampered and foreign credentials are refused with 402 and a fresh challenge', async () => {
    const app = await open();
    let res = await app.fetch('/api/wallet', { headers: { authorization: 'Payment not-a-credential' } });
    expect(res.status).toBe(402);
    expect((await body(res)).code).toBe('malformed_credential');
    expect(res.headers.get('www-authenticate')).toStartWith('Payment ');

    const { client } = payer(app);
    const good = await credentialFor(app, client);
    // The same payload presented with a challenge this server did not sign (amount lowered).
    const decoded = JSON.parse(Buffer.from(good.slice('Payment '.length), 'base64url').toString()) as Json;
    decoded.challenge.request = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(decoded.challenge.request, 'base64url').toString()), amount: '1' })).toString('base64url');
    res = await paid(app, `Payment ${Buffer.from(JSON.stringify(decoded)).toString('base64url')}`);
    expect([res.status, (await body(res)).code]).toEqual([402, 'invalid_challenge']);

    const other = ServerMppx.create({ methods: [serverTempo.charge({ recipient: RECIPIENT, chainId: 42431, testnet: true })], secretKey: 'another-secret-of-at-least-32-bytes!!', realm: 'hermes-optx-api' });
    const foreign = await other.challenge.tempo.charge({ amount: '0.10' });
    const cred = await client.createCredential(new Response(null, { status: 402, headers: { 'www-authenticate': Challenge.serialize(foreign) } }));
    res = await paid(app, cred);
    expect([res.status, (await body(res)).code]).toEqual([402, 'invalid_challenge']);
    expect(broadcasts()).toBe(0);
  });

  test('an expired challenge is refused', async () => {
    const app = await open();
    const { client } = payer(app);
    const same = ServerMppx.create({ methods: [serverTempo.charge({ recipient: RECIPIENT, chainId: 42431, testnet: true })], secretKey: SECRET, realm: 'hermes-optx-api' });
    // The client refuses to pay an expired challenge, so it pays one that expires later; the clock is
    // then moved past it (a real wait of 0.5 s was too short for a busy machine to sign in).
    const old = await same.challenge.tempo.charge({ amount: '0.10', expires: new Date(Date.now() + 60_000) });
    const cred = await client.createCredential(new Response(null, { status: 402, headers: { 'www-authenticate': Challenge.serialize(old) } }));
    setSystemTime(new Date(Date.parse(old.expires as string) + 1000));
    try {
      const res = await paid(app, cred);
      expect(res.status).toBe(402);
      expect((await body(res)).code).toBe('payment_expired');
    } finally {
      setSystemTime();
    }
    expect(broadcasts()).toBe(0);
  });
});

describe('MPP payment', () => {
  test('the mppx client pays, the request passes and carries Payment-Receipt; the money moved once', async () => {
    const app = await open();
    const { account, client } = payer(app);
    const res = await client.fetch('http://localhost/api/wallet/tempo/pricing');
    expect(res.status).toBe(200);
    expect((await body(res)).token).toBe('USDC');
    const receipt = Receipt.deserialize(res.headers.get('payment-receipt') ?? '');
    expect(receipt).toMatchObject({ method: 'tempo', status: 'success' });
    expect(chain.transactions).toHaveLength(1);
    expect(receipt.reference).toBe(chain.transactions[0]!.hash);
    expect(chain.balanceOf(PATH_USD, RECIPIENT)).toBe(100_000n);
    expect(chain.balanceOf(PATH_USD, account.address)).toBe(900_000n);
    const row = app.deps.db.sqlite.query('SELECT * FROM mpp_payments').get() as Json;
    expect(row).toMatchObject({ reference: receipt.reference, method: 'tempo', intent: 'charge', amount: '100000', currency: PATH_USD, path: '/api/wallet/tempo/pricing' });
    expect(row.source).toContain(account.address);
  });

  test('push mode: the payer broadcasts, the gate checks the receipt on chain, and the hash is accepted once', async () => {
    const app = await open();
    const { client } = payer(app, 1_000_000n, 'push');
    const cred = await credentialFor(app, client);
    expect(chain.transactions).toHaveLength(1);
    chain.reset();
    const res = await paid(app, cred);
    expect(res.status).toBe(200);
    expect(Receipt.deserialize(res.headers.get('payment-receipt') ?? '').reference).toBe(chain.transactions[0]!.hash);
    expect(chain.methods()).toContain('eth_getTransactionReceipt');
    expect(chain.balanceOf(PATH_USD, RECIPIENT)).toBe(100_000n);
    expect((await paid(app, cred)).status).toBe(402);
  });

  test('a path no route serves is never charged: 404/405 without a challenge, so an auto-paying client keeps its money; nor is OPTIONS', async () => {
    const app = await open();
    const { account, client } = payer(app);
    const cases = [['GET', '/api/walet', 404], ['GET', '/API/wallet', 404], ['GET', '//api/wallet', 404], ['PUT', '/api/config', 405], ['GET', '/api/tasks/x/claim', 405], ['OPTIONS', '/api/config', 204], ['OPTIONS', '/v1/models', 204],
      // The proxy's `/v1/*` takes no bare `/v1` (it was charged, then answered 404 "No such route").
      ['GET', '/v1', 404], ['POST', '/v1?x=1', 404]] as const;
    for (const [method, path, status] of cases) {
      const res = await client.fetch(`http://localhost${path}`, { method });
      expect([path, res.status, res.headers.get('www-authenticate')]).toEqual([path, status, null]);
    }
    expect(chain.transactions).toHaveLength(0);
    expect(chain.balanceOf(PATH_USD, account.address)).toBe(1_000_000n);
    // Every spelling the router serves still asks for payment (a trailing slash, HEAD, the proxy).
    for (const [method, path] of [['GET', '/api/wallet/'], ['HEAD', '/api/wallet'], ['GET', '/v1/models'], ['GET', '/v1/'], ['POST', '/api/tasks/x/claim/']] as const) {
      expect([path, (await app.fetch(path, { method })).status]).toEqual([path, 402]);
    }
  });

  test('a replayed credential is refused, also when replayed concurrently', async () => {
    const app = await open();
    const { client } = payer(app);
    const cred = await credentialFor(app, client);
    const results = await Promise.all(Array.from({ length: 8 }, () => paid(app, cred)));
    // The whole tally, so a failure shows what the other answers were.
    const tally: Record<number, number> = {};
    for (const r of results) tally[r.status] = (tally[r.status] ?? 0) + 1;
    expect(tally).toEqual({ 200: 1, 402: 7 });
    const refused = await paid(app, cred);
    expect(refused.status).toBe(402);
    expect(await body(refused)).toMatchObject({ code: 'verification_failed', detail: expect.stringContaining('already been used') });
    expect(chain.transactions).toHaveLength(1);
    expect(broadcasts()).toBe(1);
  });

  test('a credential accepted once stays refused after a restart (the replay store is in the database)', async () => {
    const dataDir = join(tempDir('mpp-data-'), 'data');
    mkdirSync(dataDir, { recursive: true });
    const first = await open({ OPTX_DATA_DIR: dataDir });
    const { client } = payer(first);
    const cred = await credentialFor(first, client);
    expect((await paid(first, cred)).status).toBe(200);
    close(first);
    chain.reset();
    const second = await open({ OPTX_DATA_DIR: dataDir });
    const res = await paid(second, cred);
    expect(res.status).toBe(402);
    expect((await body(res)).detail).toContain('already been used');
    // Refused by the store, before any broadcast: not by the node.
    expect(broadcasts()).toBe(0);
  });

  test('a payer without funds is refused (simulation reverts); nothing is consumed or moved, nothing printed past the logger', async () => {
    const app = await open();
    const { client } = payer(app, 0n);
    const cred = await credentialFor(app, client);
    // mppx prints failures it does not classify with console.error (a ~90-line stack trace on stderr,
    // whatever LOG_LEVEL/LOG_FORMAT say), and any client can cause this one.
    const printed = spyOn(console, 'error');
    let prints = -1;
    const res = await paid(app, cred).finally(() => {
      prints = printed.mock.calls.length;
      printed.mockRestore();
    });
    expect(prints).toBe(0);
    expect(res.status).toBe(402);
    expect((await body(res)).code).toBe('verification_failed');
    expect(chain.transactions).toHaveLength(0);
    expect(chain.balanceOf(PATH_USD, RECIPIENT)).toBe(0n);
  });

  test('the Tempo RPC down or hanging during verification: 503, and the same credential works once it is back', async () => {
    const app = await open();
    const { client } = payer(app);
    const cred = await credentialFor(app, client);
    chain.behavior.httpStatus = 502;
    let res = await paid(app, cred);
    expect([res.status, res.headers.get('retry-after')]).toEqual([503, '5']);
    expect((await body(res)).code).toBe('payment_verification_unavailable');
    chain.behavior.httpStatus = null;
    // The hang is cut at a short RPC deadline, in an app of its own (same secret, so the same
    // credential): the app that pays keeps the generous one, which a busy machine does not reach.
    const impatient = await open({ RPC_TIMEOUT_S: '0.5' });
    chain.behavior.hang = true;
    res = await paid(impatient, cred);
    expect([res.status, (await body(res)).code]).toEqual([503, 'payment_verification_unavailable']);
    chain.behavior.hang = false;
    res = await paid(app, cred);
    expect(res.status).toBe(200);
    expect(chain.transactions).toHaveLength(1);
  });

  test('the Tempo node rate-limiting or failing inside a JSON-RPC answer (-32005, 429, -32603, -32002): 503, never a 402 that pays again', async () => {
    // Before: 402 verification_failed ("the payment transaction was rejected") for a push-mode payment
    // already on chain, whose same credential then passed once the node answered: mppx's fetch pays again on a 402.
    const app = await open();
    for (const code of [-32005, 429, -32603, -32002]) {
      const { client } = payer(app, 1_000_000n, 'push');
      const cred = await credentialFor(app, client);
      chain.behavior.errors = { eth_getTransactionReceipt: { code, message: 'limit exceeded' } };
      const res = await paid(app, cred);
      expect([code, res.status, (await body(res)).code]).toEqual([code, 503, 'payment_verification_unavailable']);
      chain.behavior.errors = {};
      expect([code, (await paid(app, cred)).status]).toEqual([code, 200]);
    }
    // A broadcast the node refused for its limit was not sent: a 402, and the payer's next payment costs once.
    const { client } = payer(app);
    const cred = await credentialFor(app, client);
    chain.behavior.errors = { eth_sendRawTransactionSync: { code: -32005, message: 'limit exceeded' } };
    expect([(await paid(app, cred)).status, chain.transactions.length]).toEqual([402, 4]);
  });

  test('push mode, the node not yet knowing the payer\'s transaction (receipt null, a lagging node): 503, never a 402 that pays again', async () => {
    // Before: 402 verification_failed while the transfer was on chain; the same credential passed a moment later.
    const app = await open();
    const { client } = payer(app, 1_000_000n, 'push');
    const cred = await credentialFor(app, client);
    const kept = new Map(chain.receipts);
    chain.receipts.clear();
    const res = await paid(app, cred);
    expect([res.status, (await body(res)).code, res.headers.get('retry-after')]).toEqual([503, 'payment_verification_unavailable', '5']);
    for (const [hash, receipt] of kept) chain.receipts.set(hash, receipt);
    expect((await paid(app, cred)).status).toBe(200);
  });

  test('a valid key sent beside a Payment credential (two Authorization headers) wins: nothing is charged', async () => {
    const app = await open();
    const { client } = payer(app);
    const cred = await credentialFor(app, client);
    const headers = new Headers();
    headers.append('authorization', 'Bearer good-key');
    headers.append('authorization', cred);
    const res = await app.fetch('/api/wallet/tempo/pricing', { headers });
    expect([res.status, res.headers.get('payment-receipt')]).toEqual([200, null]);
    expect(broadcasts()).toBe(0);
  });

  test('the node takes the transaction but its answer is lost: 502 payment_outcome_unknown, never "retry the same credential"', async () => {
    const app = await open();
    const { client } = payer(app);
    const cred = await credentialFor(app, client);
    chain.behavior.answerLost = ['eth_sendRawTransactionSync', 'eth_sendRawTransaction'];
    const res = await paid(app, cred);
    const problem = await body(res);
    expect([res.status, problem.code]).toEqual([502, 'payment_outcome_unknown']);
    expect(problem.detail).toContain('may have been charged');
    expect(res.headers.get('retry-after')).toBeNull();
    // The money did move; the credential is spent, as the answer said.
    expect(chain.balanceOf(PATH_USD, RECIPIENT)).toBeGreaterThan(0n);
    chain.behavior.answerLost = [];
    expect((await paid(app, cred)).status).toBe(402);
  });

  test('the node takes the transaction but its wait for the block runs out (EIP-7966 code 4): 502 payment_outcome_unknown, not a 402 that pays again', async () => {
    // Before: a 402 verification_failed ("the payment transaction was rejected") while the transfer
    // was in the pool and then on chain; mppx's fetch answers a 402 by paying again.
    const app = await open();
    const { client } = payer(app);
    const cred = await credentialFor(app, client);
    chain.confirmsLate = true;
    const res = await paid(app, cred);
    const problem = await body(res);
    expect([res.status, problem.code, res.headers.get('payment-receipt')]).toEqual([502, 'payment_outcome_unknown', null]);
    expect(chain.balanceOf(PATH_USD, RECIPIENT)).toBeGreaterThan(0n);
    chain.confirmsLate = false;
    expect((await paid(app, cred)).status).toBe(402);
  });

  test("the client's payment headers are never forwarded upstream by the /v1 proxy", async () => {
    const app = await open();
    const { client } = payer(app);
    const cred = await credentialFor(app, client, '/v1/models');
    const res = await app.fetch('/v1/models', { headers: { authorization: cred, 'payment-receipt': 'x', payment: 'y', cookie: 'c=1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('payment-receipt')).not.toBeNull();
    const seen = hermes.requests.find((r) => r.path === '/v1/models')!.headers;
    expect(seen.authorization).toBe('Bearer test-upstream-key');
    expect(Object.keys(seen).filter((k) => k.startsWith('payment') || k === 'cookie')).toEqual([]);
    expect(JSON.stringify(seen)).not.toContain(cred.slice(8, 40));
  });
});
