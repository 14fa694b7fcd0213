/** A fake Hermes per describe block, and a fresh app in front of it (probed) for every test. */
import { afterAll, afterEach, beforeAll, beforeEach } from 'bun:test';
import { makeTestApp, type TestApp } from './app';
import { startFakeHermes, type FakeHermes, type HermesVersion } from '../fakes/hermes';

export const UPSTREAM_KEY = 'test-upstream-key';

/** The real app pointed at `fake` with the sidecar's upstream key, after one probe. */
export async function appOn(fake: FakeHermes, env: Record<string, string> = {}): Promise<TestApp> {
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: UPSTREAM_KEY, ...env } });
  await t.deps.probe.probeNow();
  return t;
}

/** Registers the hooks; `use` receives the fake and each test's new app (reset fake, fresh app). */
export function useFakeHermes(version: HermesVersion, use: (fake: FakeHermes, t: TestApp) => void, env: Record<string, string> = {}): void {
  let fake: FakeHermes;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeHermes({ version });
  });
  afterAll(() => fake.stop());
  beforeEach(async () => {
    fake.reset();
    t = await appOn(fake, env);
    use(fake, t);
  });
  afterEach(() => t.close());
}

/**
 * One fake Hermes 0.17 and one app in front of it for the whole describe block, listening on a real
 * socket so chunk boundaries and disconnects are real; `use` gets them and the app's base URL.
 */
export function useListeningApp(use: (fake: FakeHermes, t: TestApp, base: string) => void, env: Record<string, string> = {}): void {
  let fake: FakeHermes;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeHermes({ version: '0.17' });
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '', ...env } });
    t.app.listen({ port: 0, hostname: '127.0.0.1', idleTimeout: 0 });
    use(fake, t, `http://127.0.0.1:${t.app.server!.port}`);
  });
  afterAll(async () => {
    await t.app.stop(true);
    t.close();
    await fake.stop();
  });
  afterEach(() => fake.reset());
}

/** An OpenAI chat body with one user message. */
export const chatBody = (content: string, extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'hermes-agent', messages: [{ role: 'user', content }], ...extra });

/** The last request the fake saw on `path`. */
export const lastRequest = (fake: FakeHermes, path: string) => [...fake.requests].reverse().find((r) => r.path === path)!;
