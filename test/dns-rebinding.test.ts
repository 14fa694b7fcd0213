/**
 * DNS rebinding: a page of evil.example, whose name the attacker then points at the sidecar's address,
 * calls the sidecar as its own origin (`Host: evil.example:8643`, `Sec-Fetch-Site: same-origin`). No
 * Origin is foreign, so CORS and the write check let it through: without API_KEY it read the config,
 * memories and sessions and pointed model.base_url at itself. What a browser sends as same-origin under
 * a host name the sidecar does not know is refused; clients that are not browsers never are.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { ConfigError, helpText, loadConfig } from '../src/config';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { makeTestApp, type TestApp } from './helpers/app';
import { appOn, chatBody } from './helpers/fake-app';

/** What a browser sends with a page's fetch of its own origin; `origin` is added on writes. */
const sameOrigin = (host: string, extra: Record<string, string> = {}) => ({ host, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', 'user-agent': 'Mozilla/5.0', ...extra });
const write = (host: string, scheme = 'http') => sameOrigin(host, { origin: `${scheme}://${host}`, 'content-type': 'text/plain;charset=UTF-8' });

let fake: FakeHermes;
beforeAll(async () => {
  fake = await startFakeHermes({ version: '0.17' });
});
afterAll(() => fake.stop());

describe('without API_KEY (the default)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await appOn(fake);
    expect((await t.json('POST', '/api/config', { key: 'model.base_url', value: 'https://good.example/v1' })).status).toBe(200);
    expect((await t.json('POST', '/api/memory', { content: 'private' })).status).toBe(201);
  });
  afterAll(() => t.close());

  test('a page under a rebound name reads nothing and writes nothing: 403 host_not_allowed in the route\'s envelope', async () => {
    fake.reset();
    for (const host of ['evil.example:8643', 'EVIL.Example.:8643', 'evil.example']) {
      for (const path of ['/api/config', '/api/memory', '/api/sessions', '/api/tasks', '/api/wallet', '/api/gateway-status', '/openapi/json']) {
        const res = await t.fetch(path, { headers: sameOrigin(host) });
        const body = (await res.json()) as { code: string; detail: string };
        expect([host, path, res.status, body.code]).toEqual([host, path, 403, 'host_not_allowed']);
        expect(body.detail).toContain('ALLOWED_HOSTS');
        expect(body.detail).toContain('evil.example');
      }
    }
    const v1 = await t.fetch('/v1/chat/completions', { method: 'POST', headers: { ...write('evil.example:8643'), 'content-type': 'application/json' }, body: chatBody('leak') });
    expect([v1.status, ((await v1.json()) as { error: { code: string } }).error.code]).toEqual([403, 'host_not_allowed']);
    const post = await t.fetch('/api/config', { method: 'POST', headers: write('evil.example:8643'), body: JSON.stringify({ key: 'model.base_url', value: 'https://evil.example/v1' }) });
    expect(post.status).toBe(403);
    // A browser too old to send Sec-Fetch-Site still sends its Origin, the Host's own, on a write.
    const old = await t.fetch('/api/memory', { method: 'POST', headers: { host: 'evil.example:8643', origin: 'http://evil.example:8643', 'content-type': 'text/plain' }, body: JSON.stringify({ content: 'planted' }) });
    expect(old.status).toBe(403);
    expect((await t.json<{ base_url: string }>('GET', '/api/config')).body.base_url).toBe('https://good.example/v1');
    expect((await t.json<{ memories: { content: string }[] }>('GET', '/api/memory')).body.memories.map((m) => m.content)).toEqual(['private']);
    expect(fake.requests.filter((r) => r.path.startsWith('/v1/'))).toEqual([]);
  });

  test('over plain http, where browsers send no Sec-Fetch-* (only to https and localhost) and no Origin on a same-origin read, the page reads nothing', async () => {
    // What Chrome and Firefox send for `fetch('/api/memory')` from a page of http://evil.example:8643: the
    // target is not a potentially trustworthy URL, so no Sec-Fetch-Site; a same-origin GET has no Origin.
    const plainHttp = { host: 'evil.example:8643', 'user-agent': 'Mozilla/5.0', accept: '*/*', referer: 'http://evil.example:8643/', 'accept-encoding': 'gzip, deflate' };
    for (const path of ['/api/config', '/api/memory', '/api/sessions', '/openapi/json', '/v1/models']) {
      const res = await t.fetch(path, { headers: plainHttp });
      expect([path, res.status, ((await res.json()) as { code?: string; error?: { code: string } })]).toMatchObject([path, 403, {}]);
    }
    const memory = await t.fetch('/api/memory', { headers: plainHttp });
    expect(JSON.stringify(await memory.json())).not.toContain('private');
  });

  test('/health stays reachable under any name, for probes and status pages', async () => {
    for (const path of ['/health', '/health/']) expect((await t.fetch(path, { headers: sameOrigin('evil.example:8643') })).status).toBe(200);
  });

  test('clients that are not browsers are judged by the name too (over http a browser\'s read looks the same), and served under names no site can own', async () => {
    for (const host of ['hermes-optx:8643', 'api', 'raspberrypi.local:8643', 'host.docker.internal:8643', 'agent.home.arpa', 'agent.lan:8643', 'NAS.Home.', 'build.corp', 'wiki.intranet', 'box.private', '10.0.0.5:8643']) {
      const res = await t.fetch('/api/config', { headers: { host, 'user-agent': 'curl/8.5.0' } });
      expect([host, res.status]).toEqual([host, 200]);
      const w = await t.fetch('/api/memory', { method: 'POST', headers: { host, 'content-type': 'application/json' }, body: JSON.stringify({ content: `from ${host}` }) });
      expect([host, w.status]).toEqual([host, 201]);
    }
    for (const host of ['agent.office.net', 'box.tail1234.ts.net:8643', 'evil.example:8643']) {
      const res = await t.fetch('/api/config', { headers: { host, 'user-agent': 'curl/8.5.0' } });
      expect([host, res.status, ((await res.json()) as { code: string }).code]).toEqual([host, 403, 'host_not_allowed']);
    }
  });

  test('a browser on an IP address, localhost or a *.localhost name is served', async () => {
    for (const host of ['localhost:8643', 'LOCALHOST.:8643', 'app.localhost:8643', '127.0.0.1:8643', '192.168.1.20:8643', '[::1]:8643', '[fd00::1]']) {
      expect([host, (await t.fetch('/api/config', { headers: sameOrigin(host) })).status]).toEqual([host, 200]);
      const w = await t.fetch('/api/memory', { method: 'POST', headers: write(host), body: JSON.stringify({ content: `page at ${host}` }) });
      expect([host, w.status]).toEqual([host, 201]);
    }
  });

  test('what a browser does not send as same-origin is left to CORS: a cross-site call, an address typed by the user', async () => {
    // Cross-site: the page reads the answer only if CORS_ORIGINS lists its origin (none here).
    const cross = await t.fetch('/api/config', { headers: { host: 'agent.office.net:8643', 'sec-fetch-site': 'cross-site', origin: 'https://other.example' } });
    expect([cross.status, cross.headers.get('access-control-allow-origin')]).toEqual([200, null]);
    // A navigation the user started (the address bar, a bookmark): no page is there to read it.
    expect((await t.fetch('/openapi', { headers: { host: 'agent.office.net:8643', 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' } })).status).toBe(200);
  });
});

describe('names the operator gave', () => {
  test('ALLOWED_HOSTS names and their subdomains (leading dot), in any case, are served; other names are not', async () => {
    const t = await makeTestApp({ env: { ALLOWED_HOSTS: 'Agent.Office.NET, .example.com' } });
    try {
      for (const host of ['agent.office.net:8643', 'AGENT.office.net.', 'example.com', 'x.y.example.com:8643']) {
        expect([host, (await t.fetch('/api/config', { headers: sameOrigin(host) })).status]).toEqual([host, 200]);
        const w = await t.fetch('/api/memory', { method: 'POST', headers: write(host), body: JSON.stringify({ content: host }) });
        expect([host, w.status]).toEqual([host, 201]);
      }
      for (const host of ['notexample.com', 'agent.office.net.evil.example', 'office.net', 'evil.example']) {
        expect([host, (await t.fetch('/api/config', { headers: sameOrigin(host) })).status]).toEqual([host, 403]);
      }
    } finally {
      t.close();
    }
  });

  test('the hosts of CORS_ORIGINS are served, same-origin (a page served beside the sidecar under its name) and cross-site', async () => {
    const t = await makeTestApp({ env: { CORS_ORIGINS: 'https://agent.example,http://localhost:3000' } });
    try {
      expect((await t.fetch('/api/config', { headers: sameOrigin('agent.example') })).status).toBe(200);
      expect((await t.fetch('/api/memory', { method: 'POST', headers: write('agent.example', 'https'), body: JSON.stringify({ content: 'same' }) })).status).toBe(201);
      // Hermes Workspace at localhost:3000 calling the sidecar by its LAN name: cross-site, CORS allows it.
      const cross = await t.fetch('/api/config', { headers: { host: 'agent.office.net:8643', 'sec-fetch-site': 'cross-site', origin: 'http://localhost:3000' } });
      expect([cross.status, cross.headers.get('access-control-allow-origin')]).toEqual([200, 'http://localhost:3000']);
      // The same over plain http, where the browser sends no Sec-Fetch-Site: its Origin marks it cross-origin.
      const plain = await t.fetch('/api/config', { headers: { host: 'agent.office.net:8643', origin: 'http://localhost:3000', 'user-agent': 'Mozilla/5.0' } });
      expect([plain.status, plain.headers.get('access-control-allow-origin')]).toEqual([200, 'http://localhost:3000']);
      expect((await t.fetch('/api/config', { headers: sameOrigin('evil.example:8643') })).status).toBe(403);
    } finally {
      t.close();
    }
  });

  test('a CORS_ORIGINS host written with a final dot is the same name as without (as ALLOWED_HOSTS names are)', async () => {
    const t = await makeTestApp({ env: { CORS_ORIGINS: 'https://agent.example.' } });
    try {
      for (const host of ['agent.example.', 'agent.example']) {
        expect([host, (await t.fetch('/api/config', { headers: sameOrigin(host) })).status]).toEqual([host, 200]);
      }
    } finally {
      t.close();
    }
  });

  test('ALLOWED_HOSTS=* or CORS_ORIGINS=* turns the check off', async () => {
    for (const env of [{ ALLOWED_HOSTS: '*' }, { ALLOWED_HOSTS: 'agent.lan,*' }, { CORS_ORIGINS: '*' }]) {
      const t = await makeTestApp({ env });
      try {
        expect([env, (await t.fetch('/api/config', { headers: sameOrigin('evil.example:8643') })).status]).toEqual([env, 200]);
      } finally {
        t.close();
      }
    }
  });

  test('with API_KEY the check is off: a page cannot present a key it does not know', async () => {
    const t = await makeTestApp({ env: { API_KEY: 'k1' } });
    try {
      const keyed = await t.fetch('/api/config', { headers: sameOrigin('agent.example', { authorization: 'Bearer k1' }) });
      expect(keyed.status).toBe(200);
      const res = await t.fetch('/api/config', { headers: sameOrigin('evil.example:8643') });
      expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([401, 'unauthorized']);
    } finally {
      t.close();
    }
  });

  test('with MPP alone the check stays on: the page could pay', async () => {
    const t = await makeTestApp({ env: { MPP_ENABLED: 'true', MPP_RECIPIENT: `0x${'1'.repeat(40)}`, MPP_SECRET_KEY: 's'.repeat(32) } });
    try {
      const res = await t.fetch('/api/config', { headers: sameOrigin('evil.example:8643') });
      expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([403, 'host_not_allowed']);
    } finally {
      t.close();
    }
  });
});

describe('ALLOWED_HOSTS is validated at start-up and listed in --help', () => {
  const load = (value: string) => loadConfig({ env: { ALLOWED_HOSTS: value, HERMES_HOME: '/nonexistent-home' }, cwd: '/nonexistent-cwd', home: '/nonexistent-home' });

  test('a URL, a port or an empty label is refused naming the variable', () => {
    for (const bad of ['http://agent.lan', 'agent.lan:8643', 'agent..lan', '.', '*.example.com']) {
      expect(() => load(bad)).toThrow(ConfigError);
      expect(() => load(bad)).toThrow(/^Invalid ALLOWED_HOSTS: .*host name/);
    }
  });

  test('names are kept in lower case without a final dot; IP addresses (allowed anyway) are accepted', () => {
    const req = load(' Agent.LAN. , .Example.com,10.0.0.1,[::1] ');
    expect(req.kind === 'run' && req.config.server.allowedHosts).toEqual(['agent.lan', '.example.com', '10.0.0.1', '[::1]']);
  });

  test('--help lists it', () => {
    expect(helpText()).toContain('ALLOWED_HOSTS');
  });
});

test('the OpenAPI document lists host_not_allowed on every route but /health, and not with API_KEY', async () => {
  type Doc = { paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>> };
  for (const [env, listed] of [[{}, true], [{ API_KEY: 'k1' }, false]] as const) {
    const t = await makeTestApp({ env });
    try {
      const doc = (await (await t.fetch('/openapi/json', { headers: { authorization: 'Bearer k1' } })).json()) as Doc;
      expect(doc.paths['/health']?.get?.responses['403']).toBeUndefined();
      for (const [path, method] of [['/api/config', 'get'], ['/api/config', 'post'], ['/api/memory', 'get'], ['/v1/models', 'get']] as const) {
        const op = doc.paths[path]?.[method] ?? doc.paths['/v1/{*}']?.[method] ?? doc.paths['/v1/*']?.[method];
        expect([env, path, method, (op?.responses['403']?.description ?? '').includes('host_not_allowed')]).toEqual([env, path, method, listed]);
      }
    } finally {
      t.close();
    }
  }
});
