/**
 * A push-mode payment whose receipt the Tempo node cannot give (none yet, rate-limited, down) is a 503
 * "retry the same credential": told to every request that presents it, also two at once (a client's
 * retry while its first try is still being checked: viem shared one in-flight eth_getTransactionReceipt
 * among a client's callers, and the transport reports to the request that started the call), and
 * bounded by the challenge's expiry.
 */
import { expect, setSystemTime, test } from 'bun:test';
import { credentialFor, paid, payer, useMppApps } from './helpers/mpp';

type Json = Record<string, any>;
const { chain, open } = await useMppApps();

/** Sends `cred` twice at once while the node holds its answers, then lets it answer: both statuses and codes. */
async function twiceAtOnce(app: Awaited<ReturnType<typeof open>>, cred: string): Promise<unknown[]> {
  let answer!: () => void;
  chain.behavior.holdUntil = new Promise<void>((resolve) => (answer = resolve));
  const before = chain.requests.length;
  const sent = [paid(app, cred), paid(app, cred)];
  // Both receipt reads are under way: two calls at the node, or (shared) one and time for the second to join it.
  await Promise.race([chain.waitForRequests(before + 2), Bun.sleep(1000)]);
  answer();
  const out = [];
  for (const res of await Promise.all(sent)) out.push(res.status, ((await res.json()) as Json).code);
  chain.behavior.holdUntil = null;
  return out;
}

test('push mode, the same credential twice at once while the node has no receipt yet: both 503, never a 402 that pays again', async () => {
  // Before: one 503 and one 402 verification_failed ("the payment transaction was rejected"), and the
  // same credential then passed: mppx's fetch answers that 402 by paying a second time.
  const app = await open();
  const { client } = payer(app, chain, 1_000_000n, 'push');
  const cred = await credentialFor(app, client);
  const kept = new Map(chain.receipts);
  chain.receipts.clear();
  const unavailable = [503, 'payment_verification_unavailable', 503, 'payment_verification_unavailable'];
  expect(await twiceAtOnce(app, cred)).toEqual(unavailable);
  // The node rate-limiting the read, or down (HTTP 502), is told to both as well.
  for (const [hash, receipt] of kept) chain.receipts.set(hash, receipt);
  chain.behavior.errors = { eth_getTransactionReceipt: { code: -32005, message: 'limit exceeded' } };
  expect(await twiceAtOnce(app, cred)).toEqual(unavailable);
  chain.behavior.errors = {};
  chain.behavior.httpStatus = 502;
  expect(await twiceAtOnce(app, cred)).toEqual(unavailable);
  chain.behavior.httpStatus = null;
  expect((await paid(app, cred)).status).toBe(200);
  expect((await paid(app, cred)).status).toBe(402);
});

test('push mode, a hash the node never saw: 503 with one receipt read per try, until the challenge expires (402 payment_expired)', async () => {
  // The bound of "retry the same credential": a bogus hash costs the node one read per request, as a 402 did.
  const app = await open();
  const { client } = payer(app, chain, 1_000_000n, 'push');
  const real = JSON.parse(Buffer.from((await credentialFor(app, client)).slice('Payment '.length), 'base64url').toString()) as Json;
  const bogus = `Payment ${Buffer.from(JSON.stringify({ ...real, payload: { ...real.payload, hash: `0x${'ab'.repeat(32)}` } })).toString('base64url')}`;
  chain.reset();
  const res = await paid(app, bogus);
  expect([res.status, ((await res.json()) as Json).code, chain.methods()]).toEqual([503, 'payment_verification_unavailable', ['eth_getTransactionReceipt']]);
  setSystemTime(new Date(Date.parse(real.challenge.expires as string) + 1000));
  try {
    const late = await paid(app, bogus);
    expect([late.status, ((await late.json()) as Json).code, chain.methods()]).toEqual([402, 'payment_expired', ['eth_getTransactionReceipt']]);
  } finally {
    setSystemTime();
  }
});
