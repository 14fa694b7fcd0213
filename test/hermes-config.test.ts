import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigUnreadableError, HermesHome } from '../src/hermes/home';
import { HERMES_YAML_OPTIONS } from '../src/hermes/yaml-schema';
import { editFile } from '../src/modules/config/store';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { CONFIG_YAML, SECRETS, writeConfigHome } from './helpers/hermes-home';

let t: TestApp;
let configPath: string;
const readConfigText = () => readFileSync(configPath, 'utf8');

/** Lines of `after` that differ from `before` (same line count assumed unless stated). */
function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  return { removed: a.filter((l) => !b.includes(l)), added: b.filter((l) => !a.includes(l)) };
}

function expectNoSecret(raw: string): void {
  for (const [name, secret] of Object.entries(SECRETS)) {
    if (raw.includes(secret)) throw new Error(`secret ${name} leaked`);
    // Masks show at most the last 4 characters, never a longer tail.
    if (secret.length > 8 && raw.includes(secret.slice(-8))) throw new Error(`tail of secret ${name} leaked`);
  }
}

beforeEach(async () => {
  t = await makeTestApp();
  configPath = join(t.home, 'config.yaml');
  writeConfigHome(t.home);
});
afterEach(() => t.close());

describe('GET /api/config', () => {
  test('returns the redacted tree, the redacted .env and the effective model', async () => {
    const res = await t.fetch('/api/config');
    expect(res.status).toBe(200);
    const raw = await res.text();
    expectNoSecret(raw);
    const body = JSON.parse(raw);
    expect(body.config_path).toBe(configPath);
    expect(body.hermes_home).toBe(t.home);
    expect(body.model).toBe('anthropic/claude-sonnet-4');
    expect(body.provider).toBe('openrouter');
    expect(body.base_url).toBe('https://openrouter.ai/api/v1');

    const c = body.config;
    expect(c.providers.openrouter.api_key).toBe(`***${SECRETS.openrouterKey.slice(-4)}`);
    expect(c.providers.openrouter.timeout).toBe(120);
    expect(c.auxiliary.vision.token).toBe('***'); // shorter than 12: no tail shown
    expect(c.platforms.telegram.token).toBe(`***${SECRETS.telegramToken.slice(-4)}`);
    expect(c.platforms.telegram.enabled).toBe(true);
    expect(c.platforms.webhook.secret).toMatch(/^\*\*\*/);
    // Every value under mcp_servers.*.env and .headers, whatever its key.
    expect(c.mcp_servers.github.env).toEqual({ GITHUB_PERSONAL_ACCESS_TOKEN: `***${SECRETS.githubPat.slice(-4)}`, LOG_LEVEL: '***' });
    expect(Object.values(c.mcp_servers.search.headers).every((v) => String(v).startsWith('***'))).toBe(true);
    expect(c.mcp_servers.brave.env.BRAVE_API_KEY).toMatch(/^\*\*\*/);
    expect(c.mcp_servers.github.args).toEqual(['-y', '@modelcontextprotocol/server-github', '--token', `***${SECRETS.argToken.slice(-4)}`]);
    expect(c.mcp_servers.search.url).toBe('https://mcp.example.com/sse');
    expect(c.memory.database_url).toBe('postgres://hermes:***@localhost:5432/mem');
    // Counts are not secrets: max_tokens contains "token" but names a number.
    expect(c.model.max_tokens).toBe(8192);
    expect(c.model.context_length).toBe(200000);
    // YAML 1.1 like Hermes: `yes` is a boolean.
    expect(c.compression.enabled).toBe(true);
    expect(c.toolsets).toEqual(['hermes-cli', 'web']);

    expect(body.env.API_SERVER_KEY).toBe(`***${SECRETS.envServerKey.slice(-4)}`);
    expect(body.env.SUDO_PASSWORD).toMatch(/^\*\*\*/);
    expect(body.env.GITHUB_PAT).toMatch(/^\*\*\*/);
    expect(body.env.TERMINAL_ENV).toBe('local');
    expect(body.env.HERMES_MAX_ITERATIONS).toBe('60');
  });

  test('a missing config.yaml reads as {} and the first write creates it (mode 0600)', async () => {
    rmSync(configPath);
    rmSync(join(t.home, '.env'));
    const got = await t.json<{ config: object; env: object; model: null }>('GET', '/api/config');
    expect(got.status).toBe(200);
    expect(got.body.config).toEqual({});
    expect(got.body.env).toEqual({});
    expect(got.body.model).toBeNull();
    const set = await t.json('POST', '/api/config', { key: 'model.default', value: 'gpt-5' });
    expect(set.status).toBe(200);
    expect(readConfigText()).toBe('model:\n  default: gpt-5\n');
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
  });

  test('a config.yaml that does not parse is a 409 naming the line, without quoting it', async () => {
    const broken = `model: x\nproviders:\n  openrouter:\n    api_key: "${SECRETS.openrouterKey}\n  other: [\n`;
    writeFileSync(configPath, broken);
    const res = await t.fetch('/api/config');
    expect(res.status).toBe(409);
    const raw = await res.text();
    expectNoSecret(raw);
    expect(JSON.parse(raw)).toMatchObject({ code: 'config_invalid' });
    expect(JSON.parse(raw).detail).toMatch(/line \d+/);
    const post = await t.fetch('/api/config', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'a', value: 1 }) });
    expect(post.status).toBe(409);
    expectNoSecret(await post.text());
    expect(readConfigText()).toBe(broken);
  });

  test('no secret appears in any response of the config routes', async () => {
    const responses = await Promise.all([
      t.fetch('/api/config'),
      t.fetch('/api/config/model'),
      t.fetch('/api/config', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'providers.openrouter.api_key.x', value: 1 }) }),
      t.fetch('/api/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ providers: { openrouter: { api_key: { nested: 1 } } } }) }),
      t.fetch('/api/config/model', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ api_mode: 'chat_completions' }) }),
    ]);
    for (const r of responses) expectNoSecret(await r.text());
  });
});

describe('POST /api/config', () => {
  test('sets one key and changes only that line, keeping comments and layout', async () => {
    const before = readConfigText();
    const res = await t.json('POST', '/api/config', { key: 'terminal.backend', value: 'docker' });
    expect(res).toMatchObject({ status: 200, body: { updated: true, keys: ['terminal.backend'] } });
    const after = readConfigText();
    expect(changedLines(before, after)).toEqual({ removed: ['  backend: local      # local | docker | ssh'], added: ['  backend: docker      # local | docker | ssh'] });
    expect(after.split('\n').length).toBe(before.split('\n').length);
  });

  test('updates are applied in order; missing maps are created at the right place', async () => {
    const before = readConfigText();
    const res = await t.json('POST', '/api/config', { updates: { 'model.api_mode': 'chat_completions', 'delegation.max_iterations': 30, 'providers.openrouter.timeout': 60 } });
    expect(res.body).toEqual({ updated: true, keys: ['model.api_mode', 'delegation.max_iterations', 'providers.openrouter.timeout'] });
    const after = readConfigText();
    const tree = parse(after);
    expect(tree.model).toMatchObject({ default: 'anthropic/claude-sonnet-4', api_mode: 'chat_completions' });
    expect(tree.delegation).toEqual({ max_iterations: 30 });
    expect(tree.providers.openrouter.timeout).toBe(60);
    // The new key sits in its map, after its last key.
    expect(after).toContain('  max_tokens: 8192\n  api_mode: chat_completions\n');
    expect(after.endsWith('delegation:\n  max_iterations: 30\n')).toBe(true);
    // Every comment survives.
    for (const line of before.split('\n').filter((l) => l.includes('#'))) expect(after).toContain(line);
  });

  test('values of every JSON type round-trip, and strings YAML 1.1 would retype stay strings', async () => {
    const values = { s: 'on', n: 1.5, i: -3, b: false, z: null, d: '2024-01-01', q: 'a: b # c', m: 'two\nlines', l: [1, 'x', { k: 'v' }], o: { deep: { er: [] } }, e: {} };
    const res = await t.json('POST', '/api/config', { updates: Object.fromEntries(Object.entries(values).map(([k, v]) => [`typed.${k}`, v])) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const got = await t.json<{ config: { typed: unknown } }>('GET', '/api/config');
    expect(got.body.config.typed).toEqual(values);
  });

  test('a path through a scalar or a list is 409 and writes nothing', async () => {
    const before = readConfigText();
    const mtime = statSync(configPath).mtimeMs;
    for (const key of ['model.default.x', 'toolsets.0', 'providers.openrouter.timeout.x']) {
      const res = await t.json('POST', '/api/config', { key, value: 1 });
      expect(res.status).toBe(409);
      expect((res.body as { code: string }).code).toBe('config_path_conflict');
    }
    // All-or-nothing: the first update is valid, the second conflicts.
    const res = await t.json('POST', '/api/config', { updates: { 'terminal.backend': 'ssh', 'toolsets.x': 1 } });
    expect(res.status).toBe(409);
    expect(readConfigText()).toBe(before);
    expect(statSync(configPath).mtimeMs).toBe(mtime);
  });

  test('writing a redacted placeholder back is 400 and writes nothing', async () => {
    const before = readConfigText();
    const got = await t.json<{ config: { providers: { openrouter: { api_key: string } } } }>('GET', '/api/config');
    const masked = got.body.config.providers.openrouter.api_key;
    for (const body of [
      { key: 'providers.openrouter.api_key', value: masked },
      { key: 'auxiliary.vision.token', value: '***' },
      { updates: { 'terminal.backend': 'ssh', 'mcp_servers.github.env': { GITHUB_PERSONAL_ACCESS_TOKEN: masked } } },
      { key: 'memory.database_url', value: 'postgres://hermes:***@localhost:5432/mem' },
    ]) {
      const res = await t.json('POST', '/api/config', body);
      expect(res.status).toBe(400);
      expect((res.body as { code: string }).code).toBe('redacted_value');
    }
    const patch = await t.json('PATCH', '/api/config', { providers: { anthropic: { api_key: '***' } } });
    expect(patch.status).toBe(400);
    expect(readConfigText()).toBe(before);
  });

  test('bad bodies are 422 (400 for malformed JSON) and write nothing', async () => {
    const before = readConfigText();
    const bodies: unknown[] = [
      { key: 'a..b', value: 1 },
      { key: '.a', value: 1 },
      { key: 'a.', value: 1 },
      { key: '', value: 1 },
      { key: '__proto__.polluted', value: 1 },
      { key: 'a.constructor', value: 1 },
      { key: 'prototype', value: 1 },
      { key: 'model.default' },
      { key: 'a', value: 1, updates: { b: 2 } },
      { updates: {} },
      { updates: { 'a..b': 1 } },
      { key: 'a', value: JSON.parse('{"__proto__": {"polluted": true}}') },
      { key: 'a', value: { x: { constructor: 1 } } },
      { key: 5, value: 1 },
      {},
      [],
      'model.default=x',
    ];
    for (const body of bodies) {
      const res = await t.json('POST', '/api/config', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect((res.body as { code: string }).code).toBe('validation_error');
    }
    // Deeper than any config tree (32 levels): 422; deeper than any body (128): refused as JSON, 400.
    const deep = await t.json('POST', '/api/config', { key: 'a', value: JSON.parse('['.repeat(40) + ']'.repeat(40)) });
    expect(deep.status).toBe(422);
    const deeper = await t.json('POST', '/api/config', { key: 'a', value: JSON.parse('['.repeat(5000) + ']'.repeat(5000)) });
    expect([deeper.status, (deeper.body as { code: string }).code]).toEqual([400, 'json_too_deep']);
    const malformed = await t.fetch('/api/config', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key": "a", ' });
    expect(malformed.status).toBe(400);
    expect(readConfigText()).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('concurrent writes are serialised: none is lost', async () => {
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => t.json('POST', '/api/config', { key: `parallel.k${i}`, value: i })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const tree = parse(readConfigText());
    expect(Object.keys(tree.parallel).length).toBe(25);
    for (let i = 0; i < 25; i++) expect(tree.parallel[`k${i}`]).toBe(i);
    expect(tree.model.default).toBe('anthropic/claude-sonnet-4');
  });

  test('a change made on disk by someone else is kept by the next edit', async () => {
    await t.json('POST', '/api/config', { key: 'terminal.backend', value: 'docker' });
    writeFileSync(configPath, readConfigText().replace('  cwd: .\n', '  cwd: /srv/work   # set by hand\n'));
    await t.json('POST', '/api/config', { key: 'terminal.timeout', value: 60 });
    const text = readConfigText();
    expect(text).toContain('  cwd: /srv/work   # set by hand\n');
    expect(parse(text).terminal).toEqual({ backend: 'docker', cwd: '/srv/work', timeout: 60 });
  });

  test('the write keeps the file mode and writes through a symlink', async () => {
    chmodSync(configPath, 0o640);
    await t.json('POST', '/api/config', { key: 'terminal.timeout', value: 5 });
    expect(statSync(configPath).mode & 0o777).toBe(0o640);

    const elsewhere = tempDir('optx-dotfiles-');
    const real = join(elsewhere, 'hermes-config.yaml');
    writeFileSync(real, CONFIG_YAML);
    rmSync(configPath);
    symlinkSync(real, configPath);
    await t.json('POST', '/api/config', { key: 'terminal.timeout', value: 7 });
    expect(lstatSync(configPath).isSymbolicLink()).toBe(true);
    expect(readlinkSync(configPath)).toBe(real);
    expect(parse(readFileSync(real, 'utf8')).terminal.timeout).toBe(7);
    expect(readFileSync(real, 'utf8')).toContain('# Hermes Agent configuration');
    // No temp file is left behind.
    expect(readdirSync(elsewhere)).toEqual(['hermes-config.yaml']);
    expect(readdirSync(t.home).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    rmSync(elsewhere, { recursive: true, force: true });
  });

  test('edits are seen at once by the other readers of config.yaml', async () => {
    await t.json('POST', '/api/config', { key: 'model.default', value: 'nous/hermes-4' });
    const status = await t.json<{ model: string; features: { mcp_servers: boolean } }>('GET', '/api/gateway-status');
    expect(status.body.model).toBe('nous/hermes-4');
    expect(status.body.features.mcp_servers).toBe(true);
    await t.json('POST', '/api/config', { key: 'mcp_servers', value: {} });
    const again = await t.json<{ features: { mcp_servers: boolean } }>('GET', '/api/gateway-status');
    expect(again.body.features.mcp_servers).toBe(false);
  });
});

describe('PATCH /api/config', () => {
  test('deep-merges maps, replaces lists and scalars, keeps everything else', async () => {
    const before = readConfigText();
    const res = await t.json('PATCH', '/api/config', { terminal: { backend: 'docker', docker_image: 'python:3.12' }, toolsets: ['web'], compression: { threshold: 0.5 } });
    expect(res.status).toBe(200);
    expect((res.body as { keys: string[] }).keys.sort()).toEqual(['compression.threshold', 'terminal.backend', 'terminal.docker_image', 'toolsets']);
    const after = readConfigText();
    const tree = parse(after, HERMES_YAML_OPTIONS);
    expect(tree.terminal).toEqual({ backend: 'docker', cwd: '.', timeout: 180, docker_image: 'python:3.12' });
    expect(tree.toolsets).toEqual(['web']);
    expect(tree.compression).toEqual({ enabled: true, threshold: 0.5 });
    expect(tree.providers.openrouter.api_key).toBe(SECRETS.openrouterKey);
    for (const line of before.split('\n').filter((l) => l.startsWith('#'))) expect(after).toContain(line);
  });

  test('merging a map into a scalar or a list is 409 and writes nothing', async () => {
    const before = readConfigText();
    for (const body of [{ terminal: { backend: { kind: 'docker' } } }, { toolsets: { a: 1 } }]) {
      const res = await t.json('PATCH', '/api/config', body);
      expect(res.status).toBe(409);
    }
    expect(readConfigText()).toBe(before);
  });

  test("Hermes Workspace's top-level model, provider and base_url land in model.*", async () => {
    const res = await t.json('PATCH', '/api/config', { model: 'openai/gpt-5', provider: 'custom', base_url: 'http://localhost:8000/v1' });
    expect(res.status).toBe(200);
    const tree = parse(readConfigText());
    expect(tree.model).toMatchObject({ default: 'openai/gpt-5', provider: 'custom', base_url: 'http://localhost:8000/v1', max_tokens: 8192 });
    expect(tree.provider).toBeUndefined();
    expect(readConfigText()).toContain('  default: openai/gpt-5   # the model the agent uses\n');
  });

  test('a string model: stays a string, or becomes a map when provider/base_url come with it', async () => {
    writeFileSync(configPath, '# mine\nmodel: gpt-4o   # short form\nterminal:\n  backend: local\n');
    await t.json('PATCH', '/api/config', { model: 'gpt-4.1' });
    expect(readConfigText()).toBe('# mine\nmodel: gpt-4.1   # short form\nterminal:\n  backend: local\n');
    await t.json('PATCH', '/api/config', { provider: 'openai' });
    expect(parse(readConfigText()).model).toEqual({ default: 'gpt-4.1', provider: 'openai' });
    expect(readConfigText()).toStartWith('# mine\nmodel:   # short form\n  default: gpt-4.1\n  provider: openai\nterminal:\n');
  });

  test('a body that is not an object, or holds reserved keys, is 422', async () => {
    for (const body of [[1, 2], 'x', 5, JSON.parse('{"a": {"__proto__": {"x": 1}}}'), { prototype: 1 }]) {
      const res = await t.json('PATCH', '/api/config', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
  });
});

describe('/api/config/model', () => {
  test('GET reports the model keys Hermes reads, null when absent', async () => {
    const res = await t.json('GET', '/api/config/model');
    expect(res.body).toEqual({ provider: 'openrouter', model: 'anthropic/claude-sonnet-4', base_url: 'https://openrouter.ai/api/v1', api_mode: null, context_length: 200000, max_tokens: 8192 });
    writeFileSync(configPath, 'model: hermes-4\n');
    expect((await t.json('GET', '/api/config/model')).body).toEqual({ provider: null, model: 'hermes-4', base_url: null, api_mode: null, context_length: null, max_tokens: null });
  });

  test('POST writes model.default/provider/base_url/api_mode, turning a string model into a map', async () => {
    writeFileSync(configPath, '# keep me\nmodel: hermes-4   # old style\nterminal:\n  backend: local\n');
    const res = await t.json('POST', '/api/config/model', { provider: 'nous', base_url: 'https://inference.nous/v1', api_mode: 'chat_completions' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ updated: true, provider: 'nous', model: 'hermes-4', base_url: 'https://inference.nous/v1', api_mode: 'chat_completions' });
    expect(parse(readConfigText())).toEqual({ model: { default: 'hermes-4', provider: 'nous', base_url: 'https://inference.nous/v1', api_mode: 'chat_completions' }, terminal: { backend: 'local' } });
    expect(readConfigText()).toStartWith('# keep me\nmodel:   # old style\n');

    const second = await t.json('POST', '/api/config/model', { model: 'hermes-4-405b' });
    expect(second.body).toMatchObject({ model: 'hermes-4-405b', provider: 'nous', keys: ['model.default'] });
  });

  test('query parameters work too; the JSON body wins field by field', async () => {
    const res = await t.json('POST', '/api/config/model?provider=anthropic&model=claude-opus-4&api_mode=anthropic_messages', { model: 'claude-sonnet-4' });
    expect(res.body).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4', api_mode: 'anthropic_messages' });
    const tree = parse(readConfigText());
    expect(tree.model).toMatchObject({ default: 'claude-sonnet-4', provider: 'anthropic', api_mode: 'anthropic_messages' });
  });

  test('no field, or a field of the wrong type, is 422 and writes nothing', async () => {
    const before = readConfigText();
    for (const body of [undefined, {}, { model: 5 }, { provider: ['x'] }]) {
      const res = await t.json('POST', '/api/config/model', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
    expect(readConfigText()).toBe(before);
  });

  test('a model: that is neither a string nor a map is replaced by a map of the given keys (docs/skills-config.md)', async () => {
    for (const old of ['\n- a\n- b', ' 42', ' true', '', ' [a, b]']) {
      writeFileSync(configPath, `model:${old}\nx: 1\n`);
      expect((await t.json('GET', '/api/config/model')).body.model).toBeNull();
      const res = await t.json('POST', '/api/config/model', { provider: 'x' });
      expect([old, res.status, res.body.keys]).toEqual([old, 200, ['model']]);
      expect(parse(readConfigText())).toEqual({ model: { provider: 'x' }, x: 1 });
    }
  });

  test('a key holding a dot: a dot path means nesting, PATCH takes its keys as written', async () => {
    writeFileSync(configPath, '"a.b": 1\na:\n  c: 2\n');
    expect((await t.json('POST', '/api/config', { key: 'a.b', value: 3 })).status).toBe(200);
    expect((await t.json('PATCH', '/api/config', { 'a.b': 4 })).body).toEqual({ updated: true, keys: ['a.b'] });
    expect(readConfigText()).toBe('"a.b": 4\na:\n  c: 2\n  b: 3\n');
  });
});

test('HERMES_HOME missing: the first write creates it', async () => {
  rmSync(t.home, { recursive: true, force: true });
  expect(existsSync(t.home)).toBe(false);
  const res = await t.json('POST', '/api/config', { key: 'model', value: 'x' });
  expect(res.status).toBe(200);
  expect(readConfigText()).toBe('model: x\n');
});

describe('editFile (the write path under every config edit)', () => {
  test('a write by someone else between our read and our rename makes the edit start again on their text', async () => {
    const seen: string[] = [];
    const out = await editFile(configPath, (text) => {
      seen.push(text);
      // Another program rewrites the file while we are computing our edit (first attempt only).
      if (seen.length === 1) writeFileSync(configPath, 'theirs: 1\n');
      return `${text}ours: 2\n`;
    });
    expect(seen).toEqual([CONFIG_YAML, 'theirs: 1\n']);
    expect(out).toBe('theirs: 1\nours: 2\n');
    expect(readConfigText()).toBe('theirs: 1\nours: 2\n');
  });

  test('a file that keeps changing gives up with 409 and leaves their last version', async () => {
    let n = 0;
    const attempt = editFile(configPath, (text) => {
      writeFileSync(configPath, `theirs: ${++n}\n`);
      return `${text}ours: 1\n`;
    });
    await expect(attempt).rejects.toMatchObject({ status: 409, code: 'config_busy' });
    expect(readConfigText()).toBe(`theirs: ${n}\n`);
  });

  test('an edit that throws writes nothing and does not block the next one', async () => {
    const failing = editFile(configPath, () => {
      throw new Error('refused');
    });
    const next = editFile(configPath, (text) => `${text}after: 1\n`);
    await expect(failing).rejects.toThrow('refused');
    expect(await next).toBe(`${CONFIG_YAML}after: 1\n`);
  });
});

describe('HermesHome, config.yaml not there', () => {
  test('a missing file reads as {} with no MCP servers; a home that is a file is unreadable (ENOTDIR), not empty', () => {
    const dir = tempDir();
    const missing = new HermesHome(join(dir, 'no-such-home'));
    expect(missing.readConfig()).toEqual({});
    expect(missing.hasMcpServers()).toBe(false);
    writeFileSync(join(dir, 'a-file'), '');
    const inFile = new HermesHome(join(dir, 'a-file'));
    expect(() => inFile.readConfig()).toThrow(ConfigUnreadableError);
    expect(() => inFile.readConfig()).toThrow(/ENOTDIR/);
    expect(inFile.hasMcpServers()).toBe(false);
  });
});
