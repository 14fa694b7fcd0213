/**
 * The model settings as Hermes reads them: its config loader canonicalizes the `model` section
 * (NousResearch/hermes-agent hermes_cli/config.py `_normalize_root_model_keys`) before any reader
 * sees it — root-level `provider`/`base_url`/`context_length` of older layouts, the `api_base` alias,
 * `model.model`/`model.name` for `model.default`, and a `{model, provider}` map as the model. The
 * sidecar read only `model.*` as written, so GET /api/config/model (and the model named in gateway
 * status and chat) said null, or another value, where the agent used one.
 */
import { afterEach, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { makeTestApp, type TestApp } from './helpers/app';

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

async function modelOf(yaml: string): Promise<Record<string, unknown>> {
  const t = await makeTestApp();
  apps.push(t);
  mkdirSync(t.home, { recursive: true });
  writeFileSync(`${t.home}/config.yaml`, yaml);
  const res = await t.json<Record<string, unknown>>('GET', '/api/config/model');
  expect(res.status).toBe(200);
  const all = await t.json<Record<string, unknown>>('GET', '/api/config');
  // GET /api/config names the same effective model, provider and base URL.
  expect({ model: all.body.model, provider: all.body.provider, base_url: all.body.base_url }).toEqual({ model: res.body.model, provider: res.body.provider, base_url: res.body.base_url });
  const status = await t.json<{ model: unknown }>('GET', '/api/gateway-status');
  expect(status.body.model).toBe(res.body.model as string | null);
  return res.body;
}

test('root-level provider, base_url and context_length of older layouts are the model settings when model.* has none', async () => {
  expect(await modelOf('model: gpt-4o\nprovider: openrouter\nbase_url: https://openrouter.ai/api/v1\ncontext_length: 128000\n')).toMatchObject({
    model: 'gpt-4o',
    provider: 'openrouter',
    base_url: 'https://openrouter.ai/api/v1',
    context_length: 128000,
  });
  // model.* wins over the root keys, never the other way.
  expect(await modelOf('model:\n  default: a\n  provider: anthropic\nprovider: openrouter\n')).toMatchObject({ model: 'a', provider: 'anthropic' });
});

test('api_base is base_url, model.model and model.name are model.default, in that order', async () => {
  expect(await modelOf('model:\n  default: m\n  api_base: http://localhost:8080/v1\n')).toMatchObject({ model: 'm', base_url: 'http://localhost:8080/v1' });
  expect(await modelOf('model: m\napi_base: http://localhost:8080/v1\n')).toMatchObject({ model: 'm', base_url: 'http://localhost:8080/v1' });
  expect(await modelOf('model:\n  name: qwen3\n  provider: custom\n')).toMatchObject({ model: 'qwen3', provider: 'custom' });
  expect(await modelOf('model:\n  default: ""\n  model: first\n  name: second\n')).toMatchObject({ model: 'first' });
});

test('a {model, provider} map as the model gives both; its provider only replaces none or auto', async () => {
  expect(await modelOf('model:\n  default:\n    model: claude-sonnet-4\n    provider: anthropic\n')).toMatchObject({ model: 'claude-sonnet-4', provider: 'anthropic' });
  expect(await modelOf('model:\n  provider: auto\n  default:\n    model: x\n    provider: nous\n')).toMatchObject({ model: 'x', provider: 'nous' });
  expect(await modelOf('model:\n  provider: openrouter\n  default:\n    model: x\n    provider: nous\n')).toMatchObject({ model: 'x', provider: 'openrouter' });
});
