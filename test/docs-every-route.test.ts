/**
 * The success answer of every operation in /openapi/json, produced by the real routes with every
 * outside service faked (Hermes 0.17 and 0.12, SpacetimeDB, Solana/EVM/Tempo RPCs, AARON), checked
 * against the schema the document gives for it. The list is checked for completeness too: an
 * operation added without a call here fails the test.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { startFakeAaron, type FakeAaron } from './fakes/aaron';
import { startFakeEvmRpc } from './fakes/evm-rpc';
import { startFakeHermes, type FakeHermes, type HermesVersion } from './fakes/hermes';
import { startFakeSolanaRpc } from './fakes/solana-rpc';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { jsonOf, makeTestApp, type TestApp } from './helpers/app';
import { writeConfigHome, writeSkillsTree } from './helpers/hermes-home';
import { operationFor, operations, undocumented, unnamedFields, type Doc } from './helpers/openapi';

const SOL_OWNER = '7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV';
const EVM_OWNER = '0x1111111111111111111111111111111111111111';
const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';

type Call = [method: string, path: string, body?: unknown];

interface Setup {
  hermes: HermesVersion;
  backend: 'holographic' | 'sqlite' | 'spacetimedb';
}

const SETUPS: Setup[] = [
  { hermes: '0.17', backend: 'holographic' },
  { hermes: '0.12', backend: 'sqlite' },
  { hermes: '0.17', backend: 'spacetimedb' },
];

for (const setup of SETUPS) {
  describe(`every route answers what /openapi/json says — Hermes ${setup.hermes}, ${setup.backend}`, () => {
    let fake: FakeHermes;
    let aaron: FakeAaron;
    let stdb: FakeSpacetime | null = null;
    const sol = startFakeSolanaRpc();
    const evm = startFakeEvmRpc({ chainId: 1 });
    let t: TestApp;
    let doc: Doc;

    beforeAll(async () => {
      fake = await startFakeHermes({ version: setup.hermes });
      aaron = startFakeAaron();
      aaron.verify('gz1');
      sol.lamports.set(SOL_OWNER, 1_500_000_000n);
      evm.setNative(EVM_OWNER, 10n ** 18n);
      evm.setToken(USDC, EVM_OWNER, 12_345_678n, 6);
      const env: Record<string, string> = {
        HERMES_AGENT_URL: fake.url,
        HERMES_API_KEY: fake.apiKey ?? '',
        AARON_URL: aaron.url,
        MEMORY_BACKEND: setup.backend,
        SOLANA_ADDRESS: SOL_OWNER,
        SOLANA_RPC_URL: sol.url,
        SOLANA_DEVNET_RPC_URL: sol.url,
        EVM_ADDRESS: EVM_OWNER,
        EVM_RPC_URLS: `mainnet=${evm.url}`,
        EVM_TOKENS: `mainnet:USDC:${USDC}:6`,
        RPC_TIMEOUT_S: '2',
      };
      if (setup.backend === 'spacetimedb') {
        stdb = startFakeSpacetime();
        Object.assign(env, { TASKS_BACKEND: 'spacetimedb', MEMORY_DB_URL: stdb.url, SPACETIMEDB_DB: stdb.db, SPACETIMEDB_TIMEOUT_S: '2' });
      }
      t = await makeTestApp({ env });
      writeConfigHome(t.home);
      writeSkillsTree(t.home, join(t.dir, 'external'));
      await t.deps.probe.probeNow();
      // 0.12 has no session API: its sessions are those state.db or the sidecar hold, so one is made here.
      fake.addSession({ id: 'up1', title: 'T', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });
      doc = await jsonOf(await t.fetch('/openapi/json'));
    });
    afterAll(async () => {
      t.close();
      await Promise.all([fake.stop(), aaron.stop(), sol.stop(), evm.stop(), stdb?.stop()]);
    });

    test('each operation, called as a client would, answers 2xx in its documented shape', async () => {
      const problems: string[] = [];
      const covered = new Set<string>();
      const statuses: string[] = [];
      const call = async ([method, path, body]: Call) => {
        const init: RequestInit = { method, headers: body === undefined ? {} : { 'content-type': 'application/json' } };
        if (body !== undefined) init.body = JSON.stringify(body);
        const res = await t.fetch(path, init);
        const copy = res.clone();
        const found = operationFor(doc, method, new URL(path, 'http://x').pathname);
        if (found) covered.add(`${method.toLowerCase()} ${found.template}`);
        if (res.status >= 300) statuses.push(`${method} ${path} → ${res.status} ${(await copy.text()).slice(0, 200)}`);
        problems.push(...(await undocumented(doc, method, path, res.clone())));
        const schema = found?.op.responses?.[String(res.status)]?.content?.['application/json']?.schema;
        if (schema && res.status < 300) problems.push(...unnamedFields(doc, schema, await res.json()).map((e) => `${method} ${path}: ${e}`));
        return copy;
      };
      const json = async (c: Call) => (await (await call(c)).json()) as Record<string, any>;

      // The check sees a field the document does not name, also deep inside.
      const health = doc.paths['/health'].get.responses['200'].content['application/json'].schema;
      expect(unnamedFields(doc, health, { status: 'ok', upstream: { url: 'u', extra: 1 } })).toEqual(['$.upstream.extra is sent but not documented']);
      await call(['GET', '/health']);
      await call(['GET', '/api/gateway-status']);
      await call(['GET', '/openapi']);
      await call(['GET', '/openapi/json']);
      await call(['GET', '/v1/models']);
      await call(['POST', '/v1/chat/completions', { model: 'hermes-agent', messages: [{ role: 'user', content: 'hi' }] }]);
      await call(['POST', '/api/chat/completions/stream', { messages: [{ role: 'user', content: 'hi' }] }]);

      if (setup.hermes === '0.12') await call(['POST', '/api/sessions', { id: 'up1' }]);
      await call(['GET', '/api/sessions']);
      await call(['POST', '/api/sessions', { id: 'ev-1', title: 'first' }]);
      await call(['GET', '/api/sessions/up1']);
      await call(['PATCH', '/api/sessions/ev-1', { title: 'renamed' }]);
      await call(['GET', '/api/sessions/up1/messages']);
      await call(['POST', '/api/sessions/ev-1/chat', { message: 'hello' }]);
      await call(['POST', '/api/sessions/ev-1/chat/stream', { message: 'again' }]);
      await call(['POST', '/api/sessions/new/chat/stream', { message: 'new one' }]);
      await call(['GET', '/api/sessions/ev-1/messages']);
      await call(['DELETE', '/api/sessions/ev-1']);

      await call(['GET', '/api/skills']);
      await call(['GET', '/api/skills?category=devops']);
      await call(['GET', '/api/skills/devops.docker']);
      await call(['GET', '/api/config']);
      await call(['POST', '/api/config', { key: 'display.theme', value: 'dark' }]);
      await call(['PATCH', '/api/config', { agent: { max_turns: 7 } }]);
      await call(['GET', '/api/config/model']);
      await call(['POST', '/api/config/model', { model: 'm2', provider: 'openrouter' }]);

      const stored = await json(['POST', '/api/memory', { content: 'Alice works at Acme on the Deploy Pipeline', tags: ['ops'], importance: 0.8 }]);
      await call(['GET', '/api/memory']);
      await call(['POST', '/api/memory/search', { query: 'Alice Acme' }]);
      await call(['GET', '/api/memory/recall?query=Alice']);
      await call(['GET', '/api/memory/stats']);
      await call(['DELETE', `/api/memory/${stored.memory?.id}`]);

      const a = await json(['POST', '/api/tasks', { title: 'a', description: 'first', capabilities: ['code'] }]);
      const b = await json(['POST', '/api/tasks', { title: 'b', depends_on: [a.task_id], assigned_agent: 'bo' }]);
      const g = await json(['POST', '/api/tasks', { title: 'g', gaze_required: true }]);
      await call(['GET', '/api/tasks']);
      await call(['GET', `/api/tasks/${b.task_id}`]);
      await call(['GET', '/api/tasks/stats']);
      await call(['POST', `/api/tasks/${a.task_id}/claim`, { agent_name: 'al', lease_seconds: 60 }]);
      await call(['POST', `/api/tasks/${g.task_id}/claim`, { agent_name: 'al', gaze_session_id: 'gz1' }]);
      await call(['POST', `/api/tasks/${a.task_id}/complete`, { agent_name: 'al', result: { ok: true } }]);
      await call(['GET', `/api/tasks/${b.task_id}`]);
      await call(['DELETE', `/api/tasks/${g.task_id}`]);
      await call(['POST', '/api/tasks/swarm', { goal: 'ship it', strategy: 'dag', subtasks: [{ title: 's1' }, { title: 's2', depends_on: [0] }] }]);
      await call(['POST', '/api/tasks/swarm', { goal: 'decompose this', strategy: 'parallel' }]);
      await call(['GET', '/api/tasks/stats']);

      await call(['GET', '/api/wallet']);
      await call(['GET', '/api/wallet/balances']);
      await call(['GET', '/api/wallet/tempo/pricing']);
      await call(['POST', '/api/wallet/tempo/call', { caller_id: 'c1', prompt: 'hi' }]);
      await call(['GET', '/api/wallet/tempo/usage?caller_id=c1']);
      await call(['GET', '/api/wallet/tempo/usage']);
      const e1 = await json(['POST', '/api/wallet/escrow', { task_id: 't1', amount: '2.5', recipient: 'bob' }]);
      const e2 = await json(['POST', '/api/wallet/escrow', { task_id: 't2', amount: 1, gaze_required: false }]);
      await call(['GET', '/api/wallet/escrow']);
      await call(['GET', `/api/wallet/escrow/${e1.escrow_id}`]);
      await call(['POST', '/api/wallet/escrow/release', { escrow_id: e1.escrow_id, recipient: 'bob', gaze_session_id: 'gz1' }]);
      await call(['POST', `/api/wallet/escrow/${e2.escrow_id}/refund`]);
      await call(['GET', '/api/wallet']);

      expect(statuses).toEqual([]);
      expect(problems).toEqual([]);
      // /v1/* is one operation per method; GET and POST stand for them all.
      const missing = operations(doc)
        .map(({ path, method }) => `${method} ${path}`)
        .filter((k) => !covered.has(k) && !(k.endsWith(' /v1/*') && !/^(get|post) /.test(k)));
      expect(missing).toEqual([]);
    });
  });
}
