/**
 * HEDGEHOG_API_KEY's default is the Hermes key when HEDGEHOG_URL is the Hermes origin. Without
 * HERMES_API_KEY that key follows API_SERVER_KEY in $HERMES_HOME/.env (HomeApiKey): metered calls and
 * swarm decomposition must follow a rotation too, not keep the key read at start-up until a restart.
 */
import { afterEach, expect, test } from 'bun:test';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { lastRequest } from './helpers/fake-app';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

let fake: FakeHermes;
let t: TestApp;
afterEach(async () => {
  t.close();
  await fake.stop();
});

/** An agent home whose .env holds `key`, the fake Hermes requiring it, and a sidecar started on them. */
async function start(env: (hermesUrl: string) => Record<string, string> = () => ({})): Promise<void> {
  fake = await startFakeHermes({ version: '0.17', apiKey: 'key-before-rotation' });
  const home = join(tempDir(), 'hermes-home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, '.env'), 'API_SERVER_KEY=key-before-rotation\n');
  t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_HOME: home, ...env(fake.url) } });
}

/** `hermes` writes a new key and restarts the gateway with it. */
async function rotate(): Promise<void> {
  const port = fake.port;
  await fake.stop();
  fake = await startFakeHermes({ version: '0.17', apiKey: 'key-after-rotation', port });
  writeFileSync(join(t.config.hermes.home, '.env'), '# rotated\nAPI_SERVER_KEY=key-after-rotation\n');
}

const meteredCall = () => t.json<Record<string, unknown>>('POST', '/api/wallet/tempo/call', { caller_id: 'c1', prompt: 'hi' });

test('after the agent key is rotated in .env, metered calls and swarm decomposition send the new key without a restart', async () => {
  await start();
  expect((await meteredCall()).status).toBe(200);
  await rotate();
  const call = await meteredCall();
  expect([call.status, lastRequest(fake, '/v1/chat/completions').headers.authorization]).toEqual([200, 'Bearer key-after-rotation']);
  const asked = () => fake.requests.filter((r) => r.path === '/v1/chat/completions').length;
  const before = asked();
  const swarm = await t.json<{ decomposition: { method: string; reason: string | null } }>('POST', '/api/tasks/swarm', { goal: 'ship it', strategy: 'parallel' });
  expect([swarm.status, asked(), lastRequest(fake, '/v1/chat/completions').headers.authorization]).toEqual([201, before + 1, 'Bearer key-after-rotation']);
  expect(String(swarm.body.decomposition.reason)).not.toContain('401');
});

test.each([['HEDGEHOG_API_KEY', 'hedgehog-own-key'], ['HERMES_API_KEY', 'hermes-explicit-key']])('an explicit %s still wins over the agent .env', async (name, key) => {
  await start(() => ({ [name]: key }));
  await rotate();
  await meteredCall();
  expect(lastRequest(fake, '/v1/chat/completions').headers.authorization).toBe(`Bearer ${key}`);
});

test('a HEDGEHOG_URL of another origin gets no Hermes key, before or after a rotation', async () => {
  await start((hermesUrl) => ({ HEDGEHOG_URL: hermesUrl.replace('127.0.0.1', 'localhost') }));
  await meteredCall();
  expect(lastRequest(fake, '/v1/chat/completions').headers.authorization).toBeUndefined();
  await rotate();
  await meteredCall();
  expect(lastRequest(fake, '/v1/chat/completions').headers.authorization).toBeUndefined();
});

test('a .env caught mid-rewrite in place (just truncated) keeps the key read before: the call went upstream without one', async () => {
  await start();
  expect((await meteredCall()).status).toBe(200);
  truncateSync(join(t.config.hermes.home, '.env'), 0);
  const mid = await meteredCall();
  expect([mid.status, lastRequest(fake, '/v1/chat/completions').headers.authorization]).toEqual([200, 'Bearer key-before-rotation']);
  await rotate();
  expect([(await meteredCall()).status, lastRequest(fake, '/v1/chat/completions').headers.authorization]).toEqual([200, 'Bearer key-after-rotation']);
});
