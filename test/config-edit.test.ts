/**
 * Edits of config.yaml through the routes, on files and values where an edit used to change other
 * settings silently, fail with a 500, or write text Hermes (PyYAML) reads differently.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';

let t: TestApp | undefined;
afterEach(() => t?.close());

async function appWith(config?: string): Promise<TestApp & { read(): string }> {
  const app = await makeTestApp();
  t = app;
  mkdirSync(app.home, { recursive: true });
  const path = join(app.home, 'config.yaml');
  if (config !== undefined) writeFileSync(path, config);
  return Object.assign(app, { read: () => readFileSync(path, 'utf8') });
}

describe('anchors, aliases and merges', () => {
  test('a key inside an anchored map is refused (409), as it would change every alias of the map', async () => {
    const src = 'base: &b\n  provider: openrouter\n  timeout: 30\nauxiliary:\n  vision: *b\n';
    const app = await appWith(src);
    for (const key of ['base.timeout', 'base.extra', 'base.provider', 'auxiliary.vision.timeout']) {
      const r = await app.json('POST', '/api/config', { key, value: 99 });
      expect({ key, status: r.status, code: r.body.code }).toEqual({ key, status: 409, code: 'config_path_conflict' });
    }
    expect((await app.json('PATCH', '/api/config', { base: { timeout: 5 } })).status).toBe(409);
    expect(app.read()).toBe(src);
    // Around the anchor, edits work.
    expect((await app.json('POST', '/api/config', { key: 'auxiliary.web', value: 'auto' })).status).toBe(200);
    expect(app.read()).toBe(`${src}  web: auto\n`);
  });

  test('a map other maps merge (<<) is refused too; the merging map keeps its own keys editable', async () => {
    const src = 'defaults: &d\n  timeout: 30\nplatforms:\n  telegram:\n    <<: *d\n    enabled: true\n';
    const app = await appWith(src);
    const post = await app.json('POST', '/api/config', { key: 'defaults.retries', value: 3 });
    expect([post.status, post.body.code]).toEqual([409, 'config_path_conflict']);
    expect((await app.json('PATCH', '/api/config', { defaults: { timeout: 5 } })).status).toBe(409);
    // A key the merging map only gets through the merge cannot be set there either.
    expect((await app.json('POST', '/api/config', { key: 'platforms.telegram.timeout', value: 5 })).status).toBe(409);
    expect(app.read()).toBe(src);
    expect((await app.json('POST', '/api/config', { key: 'platforms.telegram.enabled', value: false })).status).toBe(200);
    expect(app.read()).toBe(src.replace('enabled: true', 'enabled: false'));
    // A key the merge does not provide is the map's own: it is added (every new key used to be refused).
    expect((await app.json('POST', '/api/config', { key: 'platforms.telegram.chat_id', value: '123' })).status).toBe(200);
    expect((await app.json('PATCH', '/api/config', { platforms: { telegram: { extra: { deep: 1 } } } })).status).toBe(200);
    expect(app.read()).toBe(src.replace('enabled: true', 'enabled: false') + '    chat_id: "123"\n    extra:\n      deep: 1\n');
  });

  test('an alias inside the value it names (a tree without end) is 409 config_invalid by position, never a 500', async () => {
    for (const [src, pos] of [['a: &a [*a]\n', 'line 1, column 8'], ['x:\n  a: &a\n    b: 1\n    c: *a\n', 'line 4, column 8']] as const) {
      const app = await appWith(src);
      for (const [method, path, body] of [['GET', '/api/config'], ['POST', '/api/config', { key: 'y', value: 1 }]] as const) {
        const r = await app.json(method, path, body);
        expect([src, method, r.status, r.body.code]).toEqual([src, method, 409, 'config_invalid']);
        expect(r.body.detail).toContain(pos);
      }
      expect(app.read()).toBe(src);
      // The rest of the API goes on: the skills listing names the problem.
      expect((await app.json('GET', '/api/skills')).status).toBe(200);
      app.close();
    }
  });

  test('replacing a value that holds an anchor used elsewhere is refused', async () => {
    const src = 'a:\n  x: &p 1\n  y: 2\nb: *p\n';
    const app = await appWith(src);
    for (const [key, value] of [['a', 5], ['a', { z: 1 }]] as const) {
      const r = await app.json('POST', '/api/config', { key, value });
      expect([r.status, r.body.code]).toEqual([409, 'config_path_conflict']);
    }
    expect(app.read()).toBe(src);
  });

  test('anchor names are file content and never quoted in the answer', async () => {
    // An unquoted password starting with & is an anchor on an empty value.
    const app = await appWith('auth:\n  password: &Xk9-hunter2-Pw\n');
    const r = await app.json('POST', '/api/config', { key: 'auth.password.x', value: 1 });
    expect(r.status).toBe(409);
    expect(JSON.stringify(r.body)).not.toContain('hunter2');
  });
});

describe('valid files and values that used to fail with 500 config_edit_failed', () => {
  test('a config.yaml with a UTF-8 BOM takes new top-level keys, and keeps its BOM', async () => {
    const app = await appWith('\ufeffterminal:\n  cwd: .\n');
    expect((await app.json('POST', '/api/config', { key: 'display.skin', value: 'mono' })).status).toBe(200);
    const model = await app.json('POST', '/api/config/model', { model: 'gpt-4o', provider: 'openai' });
    expect([model.status, model.body.model]).toEqual([200, 'gpt-4o']);
    expect(app.read()).toBe('\ufeffterminal:\n  cwd: .\ndisplay:\n  skin: mono\nmodel:\n  provider: openai\n  default: gpt-4o\n');
  });

  test('a value with an explicit tag is replaced with its tag, so the new value keeps its type', async () => {
    const app = await appWith('timeout: !!str 30\nother: !!str 1\nlimits: {n: !!int "5"}\nprompt: !!str # note\n  hello\n');
    const r = await app.json('PATCH', '/api/config', { timeout: 60, limits: { n: 'five' }, prompt: 'hi' });
    expect(r.status).toBe(200);
    expect(app.read()).toBe('timeout: 60\nother: !!str 1\nlimits: {n: five}\nprompt: hi # note\n');
    expect((await app.json('GET', '/api/config')).body.config).toEqual({ timeout: 60, other: '1', limits: { n: 'five' }, prompt: 'hi' });
  });
  /** Each empty file `src`, given its first keys in one POST, reads `want`. */
  async function expectFirstKeys(cases: readonly (readonly [string, string])[]): Promise<void> {
    for (const [src, want] of cases) {
      const app = await appWith(src);
      const r = await app.json('POST', '/api/config', { updates: { 'model.default': 'x', b: 1 } });
      expect([src, r.status, app.read()]).toEqual([src, 200, want]);
      app.close();
    }
  }

  test('an empty document closed by `...` takes its first keys before the marker (after it they started a second document)', async () => {
    await expectFirstKeys([
      ['---\n...\n', '---\nmodel:\n  default: x\nb: 1\n...\n'],
      ['# empty\n... # end\n', '# empty\nmodel:\n  default: x\nb: 1\n... # end\n'],
      // As without the marker, the `~` goes and its line end stays.
      ['~\n...', '\nmodel:\n  default: x\nb: 1\n...'],
    ]);
  });

  test('an empty document tagged `!!null` loses the tag with its value: PyYAML refused a map tagged as null', async () => {
    // Kept, the tag went onto the new map (`!!null\nmodel: ...`): Hermes' yaml.safe_load then fails
    // with "expected a scalar node, but found mapping", and so does every start of the agent.
    await expectFirstKeys([
      ['!!null\n', '\nmodel:\n  default: x\nb: 1\n'],
      ['!!null ~\n', '\nmodel:\n  default: x\nb: 1\n'],
      ['--- !!null # c\n...\n', '--- # c\nmodel:\n  default: x\nb: 1\n...\n'],
      ['%TAG !e! tag:e.com,2000:\n--- !<tag:yaml.org,2002:null>\n', '%TAG !e! tag:e.com,2000:\n---\nmodel:\n  default: x\nb: 1\n'],
    ]);
  });

  test('a map whose last lines are a commented-out entry, deeper than the next key: the next key is kept', async () => {
    // The yaml package ends such a list after the indentation of the next entry's line; a key added
    // after it went under `remote:`, and replacing the server removed `remote:` (both a 500).
    const src = 'mcp_servers:\n  github:\n    env:\n      PATHS:\n        - /a\n        # - /b\n  remote:\n    url: https://x\n';
    for (const [body, want] of [
      [{ 'mcp_servers.github.enabled': false }, 'mcp_servers:\n  github:\n    env:\n      PATHS:\n        - /a\n        # - /b\n    enabled: false\n  remote:\n    url: https://x\n'],
      [{ 'mcp_servers.github': null }, 'mcp_servers:\n  github: null\n  remote:\n    url: https://x\n'],
      [{ 'mcp_servers.github': { command: 'uvx' } }, 'mcp_servers:\n  github:\n    command: uvx\n  remote:\n    url: https://x\n'],
    ] as const) {
      const app = await appWith(src);
      const r = await app.json('POST', '/api/config', { updates: body });
      expect([r.status, app.read()]).toEqual([200, want]);
      expect((await app.json<{ config: { mcp_servers: { remote: unknown } } }>('GET', '/api/config')).body.config.mcp_servers.remote).toEqual({ url: 'https://x' });
      app.close();
    }
    // The shape of Hermes' cli-config.yaml.example: a commented-out model after the last one of a provider.
    const providers = 'providers:\n  anthropic:\n    models:\n      claude-opus-4.6:\n        timeout_seconds: 600\n      # gpt-5.4:\n      #   timeout_seconds: 1800\n  ollama-local:\n    request_timeout_seconds: 300\n';
    const app = await appWith(providers);
    const r = await app.json('PATCH', '/api/config', { providers: { anthropic: null } });
    expect([r.status, app.read()]).toEqual([200, 'providers:\n  anthropic: null\n  ollama-local:\n    request_timeout_seconds: 300\n']);
  });
});

describe('keys with an anchor, a tag or ? before them', () => {
  test('a key added to such a map gets the indentation of the map (it was indented after the prefix: a 500)', async () => {
    for (const [src, key, want] of [
      ['&k a: 1\nb: *k\n', 'new.k', '&k a: 1\nb: *k\nnew:\n  k: 1\n'],
      ['!!str a: 1\nb: 2\n', 'new.k', '!!str a: 1\nb: 2\nnew:\n  k: 1\n'],
      ['x:\n  - !!str a: 1\n    b: 2\n', 'y', 'x:\n  - !!str a: 1\n    b: 2\ny: 1\n'],
      ['? a\n: 1\nb: 2\n', 'new.k', '? a\n: 1\nb: 2\nnew:\n  k: 1\n'],
      ['s:\n  !!str a: 1\n', 's.c', 's:\n  !!str a: 1\n  c: 1\n'],
    ] as const) {
      const app = await appWith(src);
      const r = await app.json('POST', '/api/config', { key, value: 1 });
      expect([src, r.status, app.read()]).toEqual([src, 200, want]);
      app.close();
    }
  });

  test('the value of an explicit key (? a / : 1) is 409, and nothing is written', async () => {
    const src = '? a\n: 1\nb: 2\n';
    const app = await appWith(src);
    const r = await app.json('POST', '/api/config', { key: 'a', value: 2 });
    expect([r.status, r.body.code]).toEqual([409, 'config_path_conflict']);
    expect(app.read()).toBe(src);
  });
});

describe('numbers as PyYAML reads and writes them', () => {
  test('a number JavaScript prints with an exponent is written with a dot, so PyYAML reads a number', async () => {
    const app = await appWith('agent:\n  max_turns: 60\n');
    const patch = { min_p: 0.0000001, budget: 1e21, neg: -2.5e-8, huge: 1.5e300, temperature: 0.7, count: 12 };
    expect((await app.json('PATCH', '/api/config', { agent: patch })).status).toBe(200);
    // PyYAML's float needs a `.` before the exponent: `1e-7` and `1e+21` would be strings to Hermes.
    expect(app.read()).toBe('agent:\n  max_turns: 60\n  min_p: 1.0e-7\n  budget: 1.0e+21\n  neg: -2.5e-8\n  huge: 1.5e+300\n  temperature: 0.7\n  count: 12\n');
    expect((await app.json('GET', '/api/config')).body.config).toEqual({ agent: { max_turns: 60, ...patch } });
  });

  test('a number no double holds (1e400) is a 422 by every write route, not written as .inf and shown as null', async () => {
    const text = 'agent:\n  max_turns: 60\n';
    const app = await appWith(text);
    // JSON.parse reads 1e400 as Infinity: written, config.yaml held `.inf` (Hermes' max_turns then infinite) and GET showed null.
    for (const [method, body, path] of [
      ['POST', '{"key":"agent.max_turns","value":1e400}', 'value'],
      ['POST', '{"key":"agent.z","value":[1,{"a":-1e999}]}', 'value'],
      ['POST', '{"updates":{"agent.x":-1e400}}', 'updates'],
      ['PATCH', '{"agent":{"y":1e999}}', ''],
    ] as const) {
      const res = await app.fetch('/api/config', { method, headers: { 'content-type': 'application/json' }, body });
      const answer = (await res.json()) as { code: string; errors: { path: string; message: string }[] };
      expect([body, res.status, answer.code, answer.errors?.[0]?.path ?? '']).toEqual([body, 422, 'validation_error', path]);
      expect(answer.errors?.[0]?.message).toContain('finite');
    }
    expect(app.read()).toBe(text);
    // The largest double, and an underflow to 0 (a value JSON.parse keeps as a number), are written as before.
    const ok = await app.fetch('/api/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"agent":{"big":1.7976931348623157e308,"tiny":1e-400}}' });
    expect(ok.status).toBe(200);
    expect(app.read()).toBe('agent:\n  max_turns: 60\n  big: 1.7976931348623157e+308\n  tiny: 0\n');
  });

  test('plain values are read as the types PyYAML gives them', async () => {
    // Expected values are PyYAML 6's safe_load of each plain scalar.
    const cases: [string, unknown][] = [
      ['1e3', '1e3'], ['1e-5', '1e-5'], ['1E-5', '1E-5'], ['1.0e5', '1.0e5'], ['1.0e+5', 100000], ['1.e+5', 100000], ['0.1e-1', 0.01],
      ['-.5', '-.5'], ['+.5', '+.5'], ['.5', 0.5], ['1.', 1], ['1_000.5', 1000.5], ['1e+21', '1e+21'], ['1.0e+21', 1e21],
      ['09', '09'], ['0_9', '0_9'], ['017', 15], ['0_', 0], ['00', 0], ['0x_1F', 31], ['0b101', 5], ['0o17', '0o17'], ['1_000', 1000], ['+1', 1],
      ['1:30', 90], ['12:3', 723], ['0:30', '0:30'], ['1:30.5', 90.5], ['e5', 'e5'], ['.', '.'], ['._', '._'], ['2024-1-1', '2024-1-1'],
    ];
    const app = await appWith(cases.map(([text], i) => `k${i}: ${text}`).join('\n') + '\n');
    const config = (await app.json('GET', '/api/config')).body.config as Record<string, unknown>;
    expect(cases.map(([text], i) => [text, config[`k${i}`]])).toEqual(cases);
  });
});

describe('strings round-trip as strings', () => {
  // Each was checked with PyYAML 6 (safe_load of the file written): it reads back the same string.
  const STRINGS = ['=', '<<', '= ', '<<<', 'y', 'n', 'on', 'Off', 'oN', 'yES', 'True', 'NULL', 'nULL', '~', 'null', '', ' ', ' lead', 'trail ',
    '1_000', '0x1F', '0o17', '017', '09', '0_', '1:30', '0:30', '1.5e+3', '1.0e+5', '1e3', '1e-5', '-.5', '.5', '+.inf', '.NaN', '.nan', 'e5', '.', '._', '1.',
    '2024-01-01', '2024-1-1', '2024-01-01 10:00:00', '2024-01-01T10:00:00Z', '#x', 'a #b', 'a#b', '- x', '-', '? x', '?', ':', 'x:', 'x: y', '@x', '`x', '!x', '!!str',
    '&x', '*x', '%x', '|', '>', '[a]', '{a}', ',', "'q'", '"q"', "it's", '\u00e9t\u00e9', '0b101', '1,000', '+1', '-0', '---', '...', '\u00a0', 'x\u00a0',
    '\\', 'C:\\path', '${HOME}', '<', '>>', 'tab\there', 'multi\nline', 'trailing\n', '\u2028', 'a\u0085b'];

  test('as values and as keys, each is read back as the same string', async () => {
    const app = await appWith('a: 1\n');
    for (const value of STRINGS) {
      const r = await app.json('POST', '/api/config', { key: 'x', value });
      expect({ value, status: r.status }).toEqual({ value, status: 200 });
      expect({ value, got: (await app.json<{ config: Record<string, unknown> }>('GET', '/api/config')).body.config.x }).toEqual({ value, got: value });
    }
    // Keys cannot hold control characters (422), and '' is no key.
    const keys = STRINGS.filter((k) => k !== '' && !/[\u0000-\u001f]/.test(k));
    const sect = Object.fromEntries(keys.map((k) => [k, k]));
    expect((await app.json('PATCH', '/api/config', { sect })).status).toBe(200);
    expect((await app.json<{ config: Record<string, unknown> }>('GET', '/api/config')).body.config.sect).toEqual(sect);
  });

  test('= and << are quoted: plain, PyYAML reads them as a "value" and a merge, and cannot load the file', async () => {
    const app = await appWith('a: 1\n');
    expect((await app.json('PATCH', '/api/config', { x: '=', y: '<<', m: { '<<': 'v', '=': 'w' }, l: ['=', '<<'] })).status).toBe(200);
    expect(app.read()).toBe('a: 1\nx: "="\ny: "<<"\nm:\n  "<<": v\n  "=": w\nl:\n  - "="\n  - "<<"\n');
  });
});

describe('a config.yaml that is a symlink to a file not created yet', () => {
  test('the first write creates the target and the link stays a link (also through a chain of relative links)', async () => {
    const app = await appWith();
    const link = join(app.home, 'config.yaml');
    mkdirSync(join(app.dir, 'dotfiles'));
    symlinkSync('../dotfiles/hermes.yaml', link);
    symlinkSync('real.yaml', join(app.dir, 'dotfiles/hermes.yaml'));
    const r = await app.json('POST', '/api/config', { key: 'model', value: 'x' });
    expect(r.status).toBe(200);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('../dotfiles/hermes.yaml');
    expect(lstatSync(join(app.dir, 'dotfiles/hermes.yaml')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(app.dir, 'dotfiles/real.yaml'), 'utf8')).toBe('model: x\n');
    expect((await app.json<{ model: string }>('GET', '/api/config')).body.model).toBe('x');
  });

  test('a link that points at itself: every config route is 503 config_unreadable (the edits were a 500)', async () => {
    const app = await appWith();
    symlinkSync('config.yaml', join(app.home, 'config.yaml'));
    for (const [method, path, body] of [['GET', '/api/config'], ['POST', '/api/config', { key: 'a', value: 1 }], ['PATCH', '/api/config', { a: 1 }], ['POST', '/api/config/model', { model: 'x' }]] as const) {
      const r = await app.json(method, path, body);
      expect({ method, path, status: r.status, code: r.body.code }).toEqual({ method, path, status: 503, code: 'config_unreadable' });
    }
    expect(readlinkSync(join(app.home, 'config.yaml'))).toBe('config.yaml');
  });

  test('a link into a directory that does not exist is refused; nothing is created', async () => {
    const app = await appWith();
    const target = join(app.dir, 'missing-dir/config.yaml');
    symlinkSync(target, join(app.home, 'config.yaml'));
    const r = await app.json('POST', '/api/config', { key: 'model', value: 'x' });
    expect([r.status, r.body.code]).toEqual([503, 'config_unreadable']);
    expect(existsSync(join(app.dir, 'missing-dir'))).toBe(false);
    expect(lstatSync(join(app.home, 'config.yaml')).isSymbolicLink()).toBe(true);
  });
});

describe('keys named like what every object has (toString, __proto__)', () => {
  test('PATCH merges into a key named like an Object method, as into any other (it was a 409 "is a scalar value")', async () => {
    // The merge read `current[key]` through the prototype: toString is a function there, so a map
    // sent for a key the file does not have was refused as a merge into a scalar.
    const app = await appWith('model: x\n');
    for (const key of ['toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']) {
      const r = await app.json('PATCH', '/api/config', { [key]: { a: 1 } });
      expect({ key, status: r.status, body: r.body }).toEqual({ key, status: 200, body: { updated: true, keys: [key] } });
    }
    expect((await app.json('PATCH', '/api/config', { toString: { b: 2 } })).body.keys).toEqual(['toString.b']);
    expect(app.read()).toBe('model: x\ntoString:\n  a: 1\n  b: 2\nhasOwnProperty:\n  a: 1\nvalueOf:\n  a: 1\nisPrototypeOf:\n  a: 1\n');
    // A key the file does hold as a scalar is still refused.
    const r = await app.json('PATCH', '/api/config', { model: { a: 1 } });
    expect([r.status, r.body.code]).toEqual([409, 'config_path_conflict']);
  });

  test('a hand-written __proto__ key of config.yaml or .env is shown as a key, and its map is never read as the config', async () => {
    // Redaction copied the tree by assignment: `__proto__:` became the copy's prototype, so it was
    // missing from GET /api/config, and the model and provider under it were reported as Hermes'.
    const app = await appWith('__proto__:\n  model: not-this-one\n  provider: nor-this\n  api_key: sk-or-v1-0123456789abcdef0123\nterminal:\n  __proto__: {backend: docker}\n  cwd: .\n');
    writeFileSync(join(app.home, '.env'), '__proto__=shown\nconstructor=c\nOPENAI_API_KEY=sk-proj-0123456789abcdefABCDEF\n');
    const r = await app.json<{ config: Record<string, any>; env: Record<string, string>; model: string | null; provider: string | null }>('GET', '/api/config');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.config)).toEqual(['__proto__', 'terminal']);
    expect(r.body.config.__proto__).toEqual({ model: 'not-this-one', provider: 'nor-this', api_key: '***0123' });
    expect(Object.keys(r.body.config.terminal)).toEqual(['__proto__', 'cwd']);
    expect(Object.keys(r.body.env)).toEqual(['__proto__', 'constructor', 'OPENAI_API_KEY']);
    expect(r.body.env.__proto__).toBe('shown');
    expect(JSON.stringify(r.body)).not.toContain('0123456789abcdef');
    expect([r.body.model, r.body.provider]).toEqual([null, null]);
    const model = await app.json<{ model: string | null; provider: string | null }>('GET', '/api/config/model');
    expect([model.body.model, model.body.provider]).toEqual([null, null]);
    expect((await app.json<{ model: string | null }>('GET', '/api/gateway-status')).body.model).not.toBe('not-this-one');
    expect(({} as Record<string, unknown>).model).toBeUndefined();
  });
});
