/** An app whose agent home's config.yaml a test replaces, and the raw text of the routes that show it. */
import { afterAll, beforeAll } from 'bun:test';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './app';

/** The routes that show what config.yaml holds (redacted). */
export const CONFIG_VIEWS = ['/api/config', '/api/config/model', '/api/gateway-status'] as const;

export interface ConfigHome {
  /** The app, once beforeAll has run. */
  t: TestApp;
  /** Replaces config.yaml by a rename, as Hermes saves it: a new file the sidecar reads again. */
  writeConfig(text: string): void;
  /** Writes `text` and returns the raw bodies of CONFIG_VIEWS, joined. */
  shown(text: string): Promise<string>;
}

export function useConfigHome(): ConfigHome {
  let n = 0;
  const home: ConfigHome = {
    t: undefined as unknown as TestApp,
    writeConfig(text) {
      const tmp = join(home.t.home, `.config.${n++}.tmp`);
      writeFileSync(tmp, text);
      renameSync(tmp, join(home.t.home, 'config.yaml'));
    },
    async shown(text) {
      home.writeConfig(text);
      let all = '';
      for (const path of CONFIG_VIEWS) all += await (await home.t.fetch(path)).text();
      return all;
    },
  };
  beforeAll(async () => {
    home.t = await makeTestApp();
    mkdirSync(home.t.home, { recursive: true });
  });
  afterAll(() => home.t.close());
  return home;
}
