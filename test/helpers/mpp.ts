/** An mppx client paying the in-process app against the fake Tempo node (test/mpp*.test.ts). */
import { afterAll, afterEach, beforeEach, expect } from 'bun:test';
import { Mppx as ClientMppx, tempo as clientTempo } from 'mppx/client';
import { createClient, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { tempoModerato } from 'viem/chains';
import type { OpenOptions } from '../../src/deps';
import { startFakeHermes, type FakeHermes } from '../fakes/hermes';
import { startFakeTempoRpc, type FakeTempoRpc } from '../fakes/tempo-rpc';
import { makeTestApp, type TestApp } from './app';

export const PATH_USD = '0x20c0000000000000000000000000000000000000';
export const RECIPIENT = '0x742d35Cc6634c0532925a3b844bC9e7595F8fE00';
export const SECRET = 'mpp-test-secret-0123456789abcdef-xyz';

/**
 * The environment of an app with MPP as its only credential, verifying against `chain`. The RPC
 * timeout is generous: at 0.5 s every verification of a busy CI box answered 503. A test of a hanging
 * node sets a short one for itself.
 */
export const mppOnlyEnv = (chain: Pick<FakeTempoRpc, 'url'>): Record<string, string> => ({
  MPP_ENABLED: 'true', MPP_RECIPIENT: RECIPIENT, MPP_SECRET_KEY: SECRET, MPP_AMOUNT: '0.10', MPP_NETWORK: 'testnet',
  TEMPO_RPC_URL: chain.url, RPC_TIMEOUT_S: '30',
});

/** The environment of an app with MPP on and the API key `good-key`, verifying against `chain`. */
export const mppEnv = (chain: Pick<FakeTempoRpc, 'url'>): Record<string, string> => ({ ...mppOnlyEnv(chain), API_KEY: 'good-key' });

/** A funded payer and an mppx client whose requests go to the in-process app. */
export function payer(app: TestApp, chain: FakeTempoRpc, funds = 1_000_000n, mode?: 'push' | 'pull') {
  const account = privateKeyToAccount(generatePrivateKey());
  if (funds > 0n) chain.setToken(PATH_USD, account.address, funds, 6);
  const client = ClientMppx.create({
    methods: [clientTempo.charge({ account, ...(mode ? { mode } : {}), getClient: () => createClient({ chain: tempoModerato, transport: http(chain.url, { retryCount: 0 }) }) })],
    polyfill: false,
    // Requests go to the app in-process. (Cast: Bun's `typeof fetch` also has `preconnect`.)
    fetch: ((input: string | URL | Request, init?: RequestInit) => app.app.handle(input instanceof Request ? new Request(input, init) : new Request(String(input), init))) as typeof fetch,
  });
  return { account, client };
}

/** Asks for a resource, takes the 402, and has the client pay it: the `Authorization: Payment …` value. */
export async function credentialFor(app: TestApp, client: ReturnType<typeof payer>['client'], path = '/api/wallet/tempo/pricing'): Promise<string> {
  const challenge = await app.fetch(path);
  expect(challenge.status).toBe(402);
  return client.createCredential(challenge);
}

export const paid = (app: TestApp, credential: string, path = '/api/wallet/tempo/pricing') => app.fetch(path, { headers: { authorization: credential } });

/** Sends `path` with `auth` as its Authorization (a Payment credential or a Bearer key), JSON-typed when it has a body. */
export const sendWithAuth = (app: TestApp, auth: string, method: string, path: string, body?: string) =>
  app.fetch(path, { method, headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body });

/** A credential of a new payer with the default funds. */
export const newCredential = (app: TestApp, chain: FakeTempoRpc) => credentialFor(app, payer(app, chain).client);

/** Sends `path` paid with `cred`: its status, code (of either error envelope) and whether it kept the receipt. */
export async function paidOutcome(app: TestApp, cred: string, method: string, path: string, body?: string): Promise<[number, unknown, boolean]> {
  const res = await sendWithAuth(app, cred, method, path, body);
  const json = (await res.json().catch(() => ({}))) as { code?: unknown; error?: { code?: unknown } };
  return [res.status, json.code ?? json.error?.code, res.headers.get('payment-receipt') !== null];
}

/**
 * The fakes of an MPP test file and the apps its tests open: a Tempo node (and, with `hermes`, a Hermes
 * gateway the apps use with their own key), reset before each test; apps closed after each (or by
 * `close`, which forgets them). `open` builds an app with MPP on and the API key `good-key`.
 */
export async function useMppApps(opts: { hermes?: boolean; open?: OpenOptions } = {}) {
  const chain = startFakeTempoRpc();
  const hermes: FakeHermes | null = opts.hermes === false ? null : await startFakeHermes();
  afterAll(() => Promise.all([chain.stop(), hermes?.stop()]));
  let apps: TestApp[] = [];
  beforeEach(() => {
    chain.reset();
    chain.tokens.clear();
    chain.transactions.length = 0;
    hermes?.reset();
  });
  afterEach(() => {
    for (const a of apps.splice(0)) a.close();
  });
  const upstream = hermes ? { HERMES_AGENT_URL: hermes.url, HERMES_API_KEY: 'test-upstream-key' } : {};
  return {
    chain,
    /** The Hermes gateway; only when `hermes` was not false. */
    hermes: hermes as FakeHermes,
    async open(env: Record<string, string> = {}): Promise<TestApp> {
      const app = await makeTestApp({ env: { ...mppEnv(chain), ...upstream, ...env }, ...(opts.open ? { open: opts.open } : {}) });
      apps.push(app);
      return app;
    },
    close(app: TestApp): void {
      app.close();
      apps = apps.filter((a) => a !== app);
    },
  };
}
