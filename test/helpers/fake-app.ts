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
