/**
 * No secret of config.yaml or .env may reach a response: not through an error message about a file
 * that does not parse, not through a key the redaction rules miss, not embedded in a longer string.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';
import { findPlaceholder, scrubString } from '../src/modules/config/scrub';

let t: TestApp | undefined;
afterEach(() => t?.close());

/** A test app whose Hermes home holds `config` (and `.env` when given). */
async function appWith(config: string, env?: string): Promise<TestApp> {
  t = await makeTestApp();
  mkdirSync(t.home, { recursive: true });
  writeFileSync(join(t.home, 'config.yaml'), config);
  if (env !== undefined) writeFileSync(join(t.home, '.env'), env);
  return t;
}

/** The raw text of every response that reports on config.yaml. */
async function responses(app: TestApp): Promise<{ status: number; text: string }[]> {
  const out = [];
  for (const [method, path, body] of [
    ['GET', '/api/config'],
    ['GET', '/api/config/model'],
    ['GET', '/api/skills'],
    ['POST', '/api/config', { key: 'x', value: 1 }],
    ['PATCH', '/api/config', { x: 1 }],
  ] as const) {
    const res = await app.fetch(path, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    out.push({ status: res.status, text: await res.text() });
  }
  return out;
}

describe('a config.yaml that does not parse', () => {
  test('an unquoted password starting with * (an alias to nothing) is reported by position, never quoted', async () => {
    const app = await appWith('platforms:\n  matrix:\n    password: *Xk9-hunter2-Pw\n');
    const all = await responses(app);
    for (const r of all) expect(r.text).not.toContain('hunter2');
    const get = JSON.parse(all[0]?.text ?? '');
    expect(all[0]?.status).toBe(409);
    expect(get.code).toBe('config_invalid');
    expect(get.detail).toContain('line 3, column 15');
    expect(get.detail).toContain('alias');
    // The skills listing goes on and says why the config is not applied, without the file's text.
    expect(JSON.parse(all[2]?.text ?? '').warnings[0]).toContain('line 3, column 15');
  });

  test.each([
    ['an alias', 'api_key: *SECRET-abcdef123456\n'],
    ['a verbatim tag', 'api_key: !<SECRET-abcdef123456> x\n'],
    ['a local tag', 'api_key: !SECRET-abcdef123456 x\n'],
    ['a bad escape', 'api_key: "SECRET-abcdef123456\\q"\n'],
    ['a block scalar header', 'api_key: |SECRET-abcdef123456\n  x\n'],
    ['an unclosed quote', 'api_key: "SECRET-abcdef123456\nb: 1\n'],
    ['a bad indent', 'api_key: SECRET-abcdef123456\n  bad: 1\n'],
    ['a tag directive', '%TAG !s! SECRET-abcdef123456\n---\na: !s!x 1\nb: *SECRET\n'],
  ])('%s: no response quotes any of the file', async (_name, config) => {
    const app = await appWith(config);
    for (const r of await responses(app)) {
      expect(r.status).toBeLessThan(500);
      expect(r.text).not.toContain('SECRET');
    }
  });
});

describe('keys that hold tokens', () => {
  test('a …tokens key is a secret unless its value is a number (a count such as max_tokens)', async () => {
    const config = `platforms:
  discord:
    bot_tokens: ["MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.SECRETdiscordBOT1"]
  slack:
    auth_tokens:
      primary: xoxb-SECRET-slack-123456789
    refresh_tokens: SECRET-refresh-0123456789
model:
  max_tokens: 8192
  context_tokens: 200000
  tokenizer: cl100k_base
agent:
  max_output_tokens: 4096
mcp_servers:
  llm:
    args: ["--max-tokens", "512", "--max-tokens=256", "--tokens", "SECRET-arg-0123456789", "--tokens=SECRET-eq-0123456789"]
`;
    const app = await appWith(config, 'GITHUB_TOKENS=ghp_SECRETtokensPLURAL0123456789\nMAX_TOKENS=4096\nHF_TOKENS=12ab\n');
    const res = await app.fetch('/api/config');
    const text = await res.text();
    expect(text).not.toContain('SECRET');
    const body = JSON.parse(text);
    expect(body.config.platforms.discord.bot_tokens).toEqual(['***BOT1']);
    expect(body.config.platforms.slack.auth_tokens).toEqual({ primary: '***6789' });
    expect(body.config.model).toEqual({ max_tokens: 8192, context_tokens: 200000, tokenizer: 'cl100k_base' });
    expect(body.config.agent.max_output_tokens).toBe(4096);
    expect(body.config.mcp_servers.llm.args).toEqual(['--max-tokens', '512', '--max-tokens=256', '--tokens', '***6789', '--tokens=***6789']);
    expect(body.env).toEqual({ GITHUB_TOKENS: '***6789', MAX_TOKENS: '4096', HF_TOKENS: '***' });
    expect((await app.json('GET', '/api/config/model')).body.max_tokens).toBe(8192);
  });
});

describe('credentials under names outside the SPEC list', () => {
  test('.env passwords, basic auth, cookies and wallet phrases are masked by their usual names; settings that merely look alike are not', async () => {
    const env = 'SMTP_PASS=SECRET-smtp-0123456789\nDB_PWD=SECRET-db-0123456789\nBASIC_AUTH=user:SECRET-basic-0123\n' +
      'SESSION_COOKIE=SECRET-cookie-0123456789\nWALLET_MNEMONIC=SECRET word word word word word word\nSEED_PHRASE=SECRET abandon abandon abandon\n' +
      'AUTH_MODE=oauth\nPASSTHROUGH=true\nCOMPASS_URL=http://compass.local\n';
    const app = await appWith('model:\n  default: gpt-4o\nsmtp:\n  user: me\n  pass: SECRET-yaml-0123456789\n', env);
    const res = await app.fetch('/api/config');
    const text = await res.text();
    expect(text).not.toContain('SECRET');
    const body = JSON.parse(text);
    expect(body.env).toMatchObject({ AUTH_MODE: 'oauth', PASSTHROUGH: 'true', COMPASS_URL: 'http://compass.local' });
    expect(body.config.smtp).toEqual({ user: 'me', pass: '***6789' });
  });
});

describe('switches whose names end like a credential', () => {
  // Found in review: the suffixes _auth/_cookie/_pass/_pwd added on 2026-12-07 masked every boolean under
  // such a name, and a client saving the config it read back was refused (400 redacted_value).
  test('a boolean under *_auth, *_cookie, *_pass or *_pwd (config.yaml, .env, docker -e) is shown, and saved back unchanged', async () => {
    const config = 'web:\n  require_auth: true\n  secure_cookie: false\n  two_pass: true\n  basic_auth: SECRET-basic-0123456789\n' +
      'mcp_servers:\n  db:\n    command: docker\n    args: [run, -e, ALLOW_DEV_AUTH=true, -e, DB_PWD=SECRET-dbpwd-0123456789]\n';
    const app = await appWith(config, 'ALLOW_DEV_AUTH=true\nSECURE_COOKIE=False\nSMTP_PASS=SECRET-smtp-0123456789\nMOCK_AUTH=TRUE\n');
    const text = await (await app.fetch('/api/config')).text();
    expect(text).not.toContain('SECRET');
    const body = JSON.parse(text);
    expect(body.config.web).toEqual({ require_auth: true, secure_cookie: false, two_pass: true, basic_auth: '***6789' });
    expect(body.config.mcp_servers.db.args).toEqual(['run', '-e', 'ALLOW_DEV_AUTH=true', '-e', 'DB_PWD=***6789']);
    expect(body.env).toMatchObject({ ALLOW_DEV_AUTH: 'true', SECURE_COOKIE: 'False', SMTP_PASS: '***6789', MOCK_AUTH: 'TRUE' });
    const saved = await app.json('PATCH', '/api/config', { web: { require_auth: body.config.web.require_auth, secure_cookie: body.config.web.secure_cookie } });
    expect(saved.status).toBe(200);
  });

  test('a number under a name holding mnemonic or seed_phrase is a setting (a phrase is words); the phrase itself stays masked', async () => {
    const app = await appWith('wallet:\n  mnemonic_strength: 256\n  mnemonic: SECRET word word word word word word\n', 'MNEMONIC_WORDS=24\nSEED_PHRASE=SECRET abandon abandon\n');
    const text = await (await app.fetch('/api/config')).text();
    expect(text).not.toContain('SECRET');
    const body = JSON.parse(text);
    expect(body.config.wallet.mnemonic_strength).toBe(256);
    expect(body.env.MNEMONIC_WORDS).toBe('24');
  });
});

describe('secrets inside longer strings', () => {
  const S = {
    remoteBearer: 'sk-live-REMOTEBEARER-1234567890',
    dockerEnv: 'ghp_DOCKERENVTOKEN1234567890',
    userTok: 'ghp_USERINFOTOKEN1234567890',
    cmdPw: 'CmdLinePassw0rd',
    curlKey: 'k-CURLKEY-1234567890abc',
    flagKey: 'FLAGKEY-abcdefghijklmnop',
    envAssign: 'sk-ENVASSIGN-abcdefghijklmnop',
    pemLine: 'MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAu1SU1LfVLPHCozMx',
    pemTail: 'TAILOFPEMSECRETLINE0123456789AB',
  };
  const config = `mcp_servers:
  remote:
    command: npx
    args: ["mcp-remote", "https://mcp.example.com/sse", "--header", "Authorization: Bearer ${S.remoteBearer}"]
  github:
    command: docker
    args: ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN=${S.dockerEnv}", "-e", "GITHUB_TOOLSETS=repos", "ghcr.io/github/github-mcp-server"]
  env_ref:
    args: ["--header", "Authorization:\${AUTH_HEADER}"]
skills:
  external_dirs:
  - https://${S.userTok}@github.com/me/skills.git
  - ssh://git@github.com/me/more.git
terminal:
  init_command: "psql postgres://admin:${S.cmdPw}@db/prod && curl -H 'X-Api-Key: ${S.curlKey}' https://x && tool --api-key ${S.flagKey} && OPENAI_API_KEY=${S.envAssign} run"
agent:
  system_prompt: "Use Bearer authentication; set max_tokens=4096 or --max-tokens 512 for short answers."
`;
  const env = `PRIVATE_KEY="-----BEGIN PRIVATE KEY-----
${S.pemLine}
${S.pemTail}=
-----END PRIVATE KEY-----"
OTHER=1
`;

  test('credentials in command lines, headers and URLs are masked; what is around them stays', async () => {
    const app = await appWith(config, env);
    const text = await (await app.fetch('/api/config')).text();
    for (const [name, secret] of Object.entries(S)) expect({ name, leaked: text.includes(secret) || text.includes(secret.slice(-8)) }).toEqual({ name, leaked: false });
    const body = JSON.parse(text);
    expect(body.config.mcp_servers.remote.args).toEqual(['mcp-remote', 'https://mcp.example.com/sse', '--header', 'Authorization: Bearer ***7890']);
    expect(body.config.mcp_servers.github.args).toEqual(['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN=***7890', '-e', 'GITHUB_TOOLSETS=repos', 'ghcr.io/github/github-mcp-server']);
    // A variable reference is not a secret.
    expect(body.config.mcp_servers.env_ref.args).toEqual(['--header', 'Authorization:${AUTH_HEADER}']);
    // A token as the user of an https URL is masked; ssh's login name is not a credential.
    expect(body.config.skills.external_dirs).toEqual(['https://***@github.com/me/skills.git', 'ssh://git@github.com/me/more.git']);
    expect(body.config.terminal.init_command).toBe("psql postgres://admin:***@db/prod && curl -H 'X-Api-Key: ***0abc' https://x && tool --api-key ***mnop && OPENAI_API_KEY=***mnop run");
    expect(body.config.agent.system_prompt).toBe('Use Bearer authentication; set max_tokens=4096 or --max-tokens 512 for short answers.');
    // A quoted .env value spanning lines is one value (python-dotenv), masked whole.
    expect(body.env).toEqual({ PRIVATE_KEY: '***----', OTHER: '1' });
  });

  test('sending such a masked string back is 400 redacted_value, and writes nothing', async () => {
    const app = await appWith(config, env);
    const body = (await app.json('GET', '/api/config')).body as { config: Record<string, Record<string, Record<string, unknown>>> };
    const before = await Bun.file(join(app.home, 'config.yaml')).text();
    for (const [key, value] of [
      ['mcp_servers.remote.args', body.config.mcp_servers?.remote?.args],
      ['mcp_servers.github.args', body.config.mcp_servers?.github?.args],
      ['skills.external_dirs', body.config.skills?.external_dirs],
      ['terminal.init_command', body.config.terminal?.init_command],
      ['tools.fetch.headers', 'Basic ***abcd'],
    ]) {
      const res = await app.json('POST', '/api/config', { key, value });
      expect({ key, status: res.status, code: res.body.code }).toEqual({ key, status: 400, code: 'redacted_value' });
    }
    expect(await Bun.file(join(app.home, 'config.yaml')).text()).toBe(before);
    // Strings that merely look like these are written.
    for (const value of ['Use Bearer authentication', 'Note: *** important', 'ssh://git@github.com/me/more.git', '--header Authorization:${AUTH}']) {
      expect((await app.json('POST', '/api/config', { key: 'x', value })).status).toBe(200);
    }
  });

  test('prose is shown as written and can be saved back: command-line shapes are looked for in command-like strings only', async () => {
    const prose = 'You know Basic JavaScript. The key: one answer. Rule of thumb, token: one idea per sentence. Password: reset it in the portal. See https://blog.example/posts/how-to-write-2024-edition-part2 first.';
    const app = await appWith(`agent:\n  system_prompt: "${prose}"\npersonalities:\n  terse: "${prose}"\n`, '');
    const body = (await app.json('GET', '/api/config')).body as { config: { agent: { system_prompt: string }; personalities: Record<string, string> } };
    expect(body.config.agent.system_prompt).toBe(prose);
    expect((await app.json('PATCH', '/api/config', { agent: body.config.agent, personalities: body.config.personalities })).status).toBe(200);
    app.close();
    // The same shapes in a command line are masked.
    const cmd = await appWith(`terminal:\n  init_command: "curl -H 'X-Api-Key: k-0123456789abcdef' https://x"\n`, '');
    const text = await (await cmd.fetch('/api/config')).text();
    expect(text).not.toContain('k-0123456789abcdef');
  });

  test('long adversarial strings are scanned in linear time, on reads and on writes', async () => {
    const shapes = ['a.'.repeat(150_000), `h://${'?'.repeat(300_000)}`, `${' '.repeat(300_000)}x`, 'a '.repeat(150_000), '-a '.repeat(100_000), 'a:'.repeat(150_000), 'Bearer '.repeat(40_000), 'a='.repeat(150_000), 'x://'.repeat(75_000)];
    for (const shape of shapes) {
      const t0 = performance.now();
      scrubString(shape, 'command');
      scrubString(shape, 'text');
      findPlaceholder([shape], 'args');
      // Quadratic scans took 2-25 s on 100-300 KB; linear ones take milliseconds. Generous for a slow machine.
      expect({ shape: shape.slice(0, 8), slow: performance.now() - t0 > 2000 }).toEqual({ shape: shape.slice(0, 8), slow: false });
    }
  });
});

describe('keys in the path of a URL', () => {
  const alchemy = 'alchemyKey_0123456789-abcdefXYZ';
  const infura = '0123456789abcdef0123456789abcdef';
  const quicknode = 'fedcba9876543210fedcba9876543210fedcba98';
  const config = `model:
  provider: custom
  base_url: https://gw.example/v1/${alchemy}/openai
mcp_servers:
  evm:
    command: npx
    args: ["evm-mcp", "--rpc", "https://eth-mainnet.g.alchemy.com/v2/${alchemy}"]
plugins:
  wallet:
    rpc_url: https://mainnet.infura.io/v3/${infura}
`;
  const env = `BASE_RPC=https://x.base-mainnet.quiknode.pro/${quicknode}/\nDOCS=https://docs.example/api/v1/chat-completions/2024-10-21\n`;

  test('a key-like path segment (Alchemy /v2/<key>, Infura /v3/<key>, QuickNode /<token>/) is masked in config.yaml and .env; names and versions stay', async () => {
    const app = await appWith(config, env);
    const text = (await (await app.fetch('/api/config')).text()) + (await (await app.fetch('/api/config/model')).text());
    for (const secret of [alchemy, infura, quicknode]) expect({ secret, leaked: text.includes(secret) }).toEqual({ secret, leaked: false });
    const body = JSON.parse(text.slice(0, text.lastIndexOf('{"provider"')));
    expect(body.config.model.base_url).toBe('https://gw.example/v1/***/openai');
    expect(body.base_url).toBe('https://gw.example/v1/***/openai');
    expect(body.config.mcp_servers.evm.args[2]).toBe('https://eth-mainnet.g.alchemy.com/v2/***');
    expect(body.config.plugins.wallet.rpc_url).toBe('https://mainnet.infura.io/v3/***');
    expect(body.env).toEqual({ BASE_RPC: 'https://x.base-mainnet.quiknode.pro/***/', DOCS: 'https://docs.example/api/v1/chat-completions/2024-10-21' });
  });

  test('sending such a URL back is 400 redacted_value and writes nothing; the real URL is written', async () => {
    const app = await appWith(config, env);
    const before = await Bun.file(join(app.home, 'config.yaml')).text();
    for (const [key, value] of [['model.base_url', 'https://gw.example/v1/***/openai'], ['plugins.wallet.rpc_url', 'https://mainnet.infura.io/v3/***']]) {
      const res = await app.json('POST', '/api/config', { key, value });
      expect({ key, status: res.status, code: res.body.code }).toEqual({ key, status: 400, code: 'redacted_value' });
    }
    expect(await Bun.file(join(app.home, 'config.yaml')).text()).toBe(before);
    expect((await app.json('POST', '/api/config', { key: 'plugins.wallet.rpc_url', value: `https://mainnet.infura.io/v3/${quicknode}` })).status).toBe(200);
    expect(await Bun.file(join(app.home, 'config.yaml')).text()).toContain(quicknode);
  });

  test('a model, deployment or project name in a URL path is shown as written, and the config read back can be saved as it is', async () => {
    // Masked as keys from 2026-12-07 (20+ characters with letters and digits): the user could not see
    // where the model points, and sending back what GET /api/config answered was 400 redacted_value.
    const names = {
      base_url: 'https://api-inference.huggingface.co/models/meta-llama/Meta-Llama-3-8B-Instruct/v1',
      azure: 'https://myres.openai.azure.com/openai/deployments/gpt-4o-mini-2024-07-18',
      mixtral: 'https://router.example/models/mistralai/Mixtral-8x7B-Instruct-v0.1',
      claude: 'https://llm.example/anthropic/claude-3-5-sonnet-20241022/messages',
      qwen: 'https://llm.example/Qwen/Qwen2.5-72B-Instruct/v1',
    };
    const app = await appWith(`model:\n  provider: custom\n${Object.entries(names).map(([k, v]) => `  ${k}: ${v}\n`).join('')}`);
    const got = (await app.json('GET', '/api/config')).body as { config: { model: Record<string, string> } };
    expect(got.config.model).toEqual({ provider: 'custom', ...names });
    const saved = await app.json('PATCH', '/api/config', { model: got.config.model });
    expect([saved.status, saved.body.code]).toEqual([200, undefined]);
    for (const url of Object.values(names)) expect(await Bun.file(join(app.home, 'config.yaml')).text()).toContain(url);
  });
});

describe('secrets repeated through YAML aliases', () => {
  test('an anchored secret reached through an alias, a merge or an aliased map is masked everywhere', async () => {
    const config = `providers:
  openai:
    api_key: &k sk-proj-SECRETscalar0123456789
  fallback:
    default_arg: *k
    list: [x, *k]
mcp_servers:
  github:
    command: npx
    env: &e
      GH: ghp_SECRETenvmap0123456789abcd
backup:
  copy: *e
auth_defaults: &d
  password: SECRETmerged-0123456789
  user: joe
bot:
  <<: *d
  timeout: 30
dup:
  token: &dt SECRETdup-0123456789
  token: replaced-0123456789
  args: [--api-key, &fa SECRETflag-0123456789]
copies: [*dt, *fa]
`;
    const app = await appWith(config, '');
    const res = await app.fetch('/api/config');
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain('SECRET');
    const c = JSON.parse(text).config;
    expect(c.providers.fallback).toEqual({ default_arg: '***6789', list: ['x', '***6789'] });
    expect(c.backup.copy).toEqual({ GH: '***abcd' });
    expect(c.bot).toEqual({ password: '***6789', user: 'joe', timeout: 30 });
    // The value a repeated key replaced where it was defined, and an item after a secret flag, too.
    expect(c.copies).toEqual(['***6789', '***6789']);
  });

  test('a secret anchored under a name that is not secret and repeated under a secret one is masked where it is defined', async () => {
    const app = await appWith('defaults:\n  openrouter: &or a8f3c2d1SECRETe4b5a6978899aabbccdd\nmodel:\n  api_key: *or\n', '');
    const res = await app.fetch('/api/config');
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain('SECRET');
    expect(JSON.parse(text).config).toEqual({ defaults: { openrouter: '***ccdd' }, model: { api_key: '***ccdd' } });
  });

  test('an anchored secret aliased into model.* is masked in the model fields of GET /api/config, GET and POST /api/config/model too', async () => {
    const app = await appWith('providers:\n  x:\n    api_key: &k sk-live-SECRET0123456789\nmodel:\n  default: *k\n  provider: *k\n  base_url: *k\n  max_tokens: 4096\n', '');
    for (const [method, path, body] of [['GET', '/api/config'], ['GET', '/api/config/model'], ['POST', '/api/config/model', { api_mode: 'chat_completions' }]] as const) {
      const res = await app.fetch(path, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
      const text = await res.text();
      expect([path, res.status]).toEqual([path, 200]);
      expect(text).not.toContain('SECRET');
      const info = JSON.parse(text) as Record<string, unknown>;
      expect([info.model, info.provider, info.base_url]).toEqual(['***6789', '***6789', '***6789']);
      if (path === '/api/config/model') expect(info.max_tokens).toBe(4096);
    }
  });

  test('a value masked only for sitting in an anchored mcp env map is not masked elsewhere: the model fields, the tree and /api/gateway-status show the model', async () => {
    // Until 2026-12-07 every leaf of an anchored env map shared by two servers (`env: &env`, `env: *env`),
    // and an anchored model name also written in an env map, was masked wherever the tree held the same
    // value: model.default and base_url read "***", in GET /api/config/model and /api/gateway-status too.
    const shared = 'model:\n  default: gpt-4o\n  provider: custom\n  base_url: https://openrouter.ai/api/v1\nmcp_servers:\n  a:\n    command: npx\n    env: &env\n      OPENAI_MODEL: gpt-4o\n      OPENAI_BASE_URL: https://openrouter.ai/api/v1\n      OPENAI_API_KEY: sk-or-v1-SECRET0123456789\n  b:\n    command: npx\n    env: *env\n';
    const named = 'model:\n  default: &m anthropic/claude-sonnet-4\n  provider: openrouter\n  base_url: https://openrouter.ai/api/v1\nauxiliary:\n  vision:\n    model: *m\nmcp_servers:\n  a:\n    command: npx\n    env:\n      MODEL: anthropic/claude-sonnet-4\n      HOST: https://openrouter.ai/api/v1\n';
    for (const [config, model] of [[shared, 'gpt-4o'], [named, 'anthropic/claude-sonnet-4']] as const) {
      const app = await appWith(config, '');
      const read = (await app.json('GET', '/api/config')).body as { model: string; base_url: string; config: { model: Record<string, string>; mcp_servers: Record<string, { env: Record<string, string> }> } };
      const shown = [read.model, read.base_url, read.config.model.default, read.config.model.base_url];
      expect(shown).toEqual([model, 'https://openrouter.ai/api/v1', model, 'https://openrouter.ai/api/v1']);
      // The env maps themselves stay masked whole.
      for (const server of Object.values(read.config.mcp_servers)) for (const v of Object.values(server.env)) expect(v).toStartWith('***');
      const info = (await app.json('GET', '/api/config/model')).body;
      expect([info.model, info.base_url]).toEqual([model, 'https://openrouter.ai/api/v1']);
      const posted = (await app.json('POST', '/api/config/model', { api_mode: 'chat_completions' })).body;
      expect([posted.model, posted.base_url]).toEqual([model, 'https://openrouter.ai/api/v1']);
      expect((await app.json('GET', '/api/gateway-status')).body.model).toBe(model);
      app.close();
    }
  });

  test('a secret of an anchored mcp env map stays masked in every copy of it, and one aliased into an env map where it is defined', async () => {
    const config = `keys:
  openrouter: &or SECRETkeys-0123456789
  nested: &d
    inner: &g SECRETnested-0123456789
mcp_servers:
  a:
    env: &env
      GH: ghp_SECRETshared0123456789abcd
  b:
    env: *env
  c:
    env:
      OPENROUTER: *or
      INNER: *g
backup: *env
bot:
  <<: *d
  other: *env
`;
    const app = await appWith(config, '');
    const res = await app.fetch('/api/config');
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain('SECRET');
    const c = JSON.parse(text).config;
    expect([c.backup.GH, c.bot.other.GH, c.bot.inner, c.keys.openrouter]).toEqual(['***abcd', '***abcd', '***6789', '***6789']);
  });

  test('anchors of values that are not secret change nothing', async () => {
    const app = await appWith('defaults: &d\n  timeout: 30\n  name: joe\nbot:\n  <<: *d\n  label: &l joe\nother: *l\n', '');
    expect((await app.json('GET', '/api/config')).body.config).toEqual({ defaults: { timeout: 30, name: 'joe' }, bot: { timeout: 30, name: 'joe', label: 'joe' }, other: 'joe' });
  });
});

describe('PEM private keys under names that are not secret', () => {
  test('the body of a private key is hidden wherever it is, and sending the placeholder back is refused', async () => {
    const pem = '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANSECRETpem0123456789\\n-----END PRIVATE KEY-----\\n';
    const env = `GOOGLE_SERVICE_ACCOUNT_JSON='{"type":"service_account","private_key":"${pem}"}'\nSSH_DEPLOY="-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaSECRETssh0123456789\n-----END OPENSSH PRIVATE KEY-----"\n`;
    const app = await appWith('tls:\n  pem: |\n    -----BEGIN RSA PRIVATE KEY-----\n    MIIEpAIBAAKCSECRETrsa0123456789\n    -----END RSA PRIVATE KEY-----\n  note: "-----BEGIN EC PRIVATE KEY-----SECRETcut-no-end"\n', env);
    const text = await (await app.fetch('/api/config')).text();
    expect(text).not.toContain('SECRET');
    const body = JSON.parse(text);
    expect(body.config.tls).toEqual({ pem: '-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----\n', note: '-----BEGIN EC PRIVATE KEY-----***' });
    expect(body.env.SSH_DEPLOY).toBe('-----BEGIN OPENSSH PRIVATE KEY-----***-----END OPENSSH PRIVATE KEY-----');
    // A certificate is public and stays.
    const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    expect(scrubString(cert, 'text')).toBe(cert);
    const r = await app.json('PATCH', '/api/config', { tls: { pem: body.config.tls.pem } });
    expect([r.status, r.body.code]).toEqual([400, 'redacted_value']);
  });

  test('many armour lines are scanned in linear time', () => {
    for (const shape of ['-----BEGIN PRIVATE KEY-----'.repeat(20_000), `-----BEGIN ${'A '.repeat(100_000)}`, '-----END PRIVATE KEY-----'.repeat(20_000)]) {
      const t0 = performance.now();
      scrubString(shape, 'text');
      findPlaceholder(shape, 'x');
      expect(performance.now() - t0).toBeLessThan(2000);
    }
  });
});
