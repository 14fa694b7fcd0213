/**
 * Builds the real app in-process for a test: a temp Hermes home and data dir, config parsed by the
 * real loader from an env map, silent logs unless a logger is given. Nothing is mocked; parts can be replaced before the app
 * is built through `patch`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createApp, type App } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { closeDeps, openDeps, type AppDeps, type OpenOptions } from '../../src/deps';
import { silentLogger, type Logger } from '../../src/lib/log';
import { tempDir } from './temp';

export interface TestApp {
  app: App;
  deps: AppDeps;
  config: Config;
  dir: string;
  home: string;
  /** app.handle with a path relative to http://localhost. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** POST/PATCH/… JSON helper: sends `body` as JSON, returns status and parsed body. */
  json<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Headers }>;
  close(): void;
}

export interface TestAppOptions {
  env?: Record<string, string | undefined>;
  /** Passed to openDeps with the logger. */
  open?: Omit<OpenOptions, 'log'>;
  /** The logger every part gets (default: silent); `patch` can only replace the app's own. */
  log?: Logger;
  patch?: (deps: AppDeps) => void;
  /** The idle timeout a test listens with (createApp's AppOptions). */
  idleTimeoutS?: number;
}

/** A URL on which nothing listens: connections are refused at once. */
export async function closedUrl(): Promise<string> {
  const s = Bun.serve({ port: 0, fetch: () => new Response('') });
  const url = `http://127.0.0.1:${s.port}`;
  await s.stop(true);
  return url;
}

export { tempDir } from './temp';

/** The holographic memory file of an app whose config.yaml names none: HOLOGRAPHIC_DB_PATH, else the default. */
export function memoryDbPath(t: TestApp): string {
  return t.config.memory.holographicDbPath ?? join(t.config.hermes.home, 'memory_store.db');
}

export async function makeTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const dir = tempDir();
  const home = join(dir, 'hermes-home');
  const env: Record<string, string | undefined> = {
    HERMES_HOME: home,
    OPTX_DATA_DIR: join(dir, 'data'),
    HERMES_AGENT_URL: await closedUrl(),
    LOG_LEVEL: 'silent',
    ...opts.env,
  };
  const req = loadConfig({ argv: [], env, cwd: dir, home: dir });
  if (req.kind !== 'run') throw new Error('unexpected CLI request');
  const deps = await openDeps(req.config, { ...opts.open, log: opts.log ?? silentLogger });
  opts.patch?.(deps);
  const app = createApp(deps, { idleTimeoutS: opts.idleTimeoutS });
  const fetchApp = (path: string, init?: RequestInit) => app.handle(new Request(`http://localhost${path}`, init));
  return {
    app,
    deps,
    config: req.config,
    dir,
    home,
    fetch: fetchApp,
    async json(method, path, body, headers = {}) {
      const res = await fetchApp(path, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // left as text: the assertion will show what came back
      }
      return { status: res.status, body: parsed as never, headers: res.headers };
    },
    close() {
      closeDeps(deps);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reads an SSE response into frames as they arrive (for assertions on order and content). */
export async function readSse(res: Response): Promise<{ event: string; data: string }[]> {
  const { parseSse } = await import('../../src/lib/sse');
  const frames: { event: string; data: string }[] = [];
  if (!res.body) return frames;
  async function* chunks(body: ReadableStream<Uint8Array>) {
    const reader = body.getReader();
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  for await (const f of parseSse(chunks(res.body))) frames.push({ event: f.event, data: f.data });
  return frames;
}

/** A response body as JSON; `any` because tests inspect arbitrary shapes and let assertions fail loudly. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function jsonOf(res: Response): Promise<any> {
  return res.json();
}

/** POSTs `body` as JSON and returns the raw response (for streams; `t.json` parses the answer). */
export const post = (t: TestApp, path: string, body: unknown, headers: Record<string, string> = {}) =>
  t.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
