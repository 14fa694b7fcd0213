/**
 * No secret of config.yaml or .env may reach a response: not through an error message about a file
 * that does not parse, not through a key the redaction rules miss, not embedded in a longer string.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';

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
