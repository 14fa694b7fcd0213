/**
 * SIGTERM while a payer's transaction is with the Tempo node (after its broadcast): the broadcast is
 * let finish past the stop (the payer's money may move with it), but not past the stop's grace.
 * Reproduced with the executable: a node slower than the grace (~6 s; RPC_TIMEOUT_S is 8 s by
 * default) had the request's connection cut with no answer at all, its credential used. The calls
 * after the broadcast now give up just inside the grace, and the payer gets the JSON 502
 * payment_outcome_unknown an RPC failure after a broadcast gets.
 */
import { afterAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { Mppx as ClientMppx, tempo as clientTempo } from 'mppx/client';
import { createClient, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { tempoModerato } from 'viem/chains';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { closedUrl, tempDir } from './helpers/app';
import { readListeningUrl } from './helpers/binary';
import { PATH_USD, RECIPIENT, SECRET } from './helpers/mpp';

const chain = startFakeTempoRpc();
afterAll(() => chain.stop());

test('a broadcast the node holds past the stop\'s grace: a JSON 502 payment_outcome_unknown before the exit, not a cut connection', async () => {
  const proc = Bun.spawn(['bun', join(import.meta.dir, '../src/main.ts'), '--port', '0', '--host', '127.0.0.1'], {
    env: {
      PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', OPTX_DATA_DIR: tempDir('optx-broadcast-'), HERMES_HOME: join(tempDir(), 'hermes-home'),
      HERMES_AGENT_URL: await closedUrl(), MPP_ENABLED: 'true', MPP_RECIPIENT: RECIPIENT, MPP_SECRET_KEY: SECRET, MPP_AMOUNT: '0.10',
      MPP_NETWORK: 'testnet', TEMPO_RPC_URL: chain.url, RPC_TIMEOUT_S: '60',
    },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  try {
    const base = await readListeningUrl(proc.stdout);
    const account = privateKeyToAccount(generatePrivateKey());
    chain.setToken(PATH_USD, account.address, 1_000_000n, 6);
    const client = ClientMppx.create({
      methods: [clientTempo.charge({ account, getClient: () => createClient({ chain: tempoModerato, transport: http(chain.url, { retryCount: 0 }) }) })],
      polyfill: false,
    });
    const credential = await client.createCredential(await fetch(`${base}/api/wallet/tempo/pricing`));
    // The calls before the broadcast are answered; the broadcast is held until the process has exited.
    let release = (): void => {};
    let n = chain.requests.length;
    const paid = fetch(`${base}/api/wallet/tempo/pricing`, { headers: { authorization: credential } }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as { code?: unknown }, receipt: r.headers.get('payment-receipt') }),
      (err: unknown) => ({ cut: String(err) }),
    );
    for (;;) {
      chain.behavior.holdUntil = new Promise<void>((r) => (release = r));
      await chain.waitForRequests(n + 1);
      const methods = (chain.requests[n++] as { calls: { method: string }[] }).calls.map((c) => c.method);
      if (methods.some((m) => m.startsWith('eth_sendRawTransaction'))) break;
      const open = release;
      chain.behavior.holdUntil = null;
      open();
    }
    proc.kill('SIGTERM');
    const answer = await paid;
    expect(await proc.exited).toBe(0);
    chain.behavior.holdUntil = null;
    release();
    expect(answer).toMatchObject({ status: 502, body: { code: 'payment_outcome_unknown' }, receipt: null });
  } finally {
    proc.kill('SIGKILL');
  }
}, 60_000);
