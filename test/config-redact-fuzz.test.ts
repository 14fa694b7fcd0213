/**
 * A property test of config redaction: generated config.yaml files (anchors, aliases and merges in
 * every position, see helpers/redact-fuzz.ts) are read through GET /api/config, GET /api/config/model
 * and GET /api/gateway-status (no upstream), and no value the documented rules call secret may appear
 * in any raw response (as a value, or as a key an alias or anchor repeats it as), while a model name
 * nothing makes secret, and a key written out plainly, are shown as written.
 * REDACT_FUZZ_RUNS raises the number of files (a few thousand for a review; the suite runs a few hundred).
 */
import { expect, test } from 'bun:test';
import fc from 'fast-check';
import { Alias, parseDocument } from 'yaml';
import { anchoredValues } from '../src/hermes/anchored';
import { CONFIG_VIEWS, useConfigHome } from './helpers/config-home';
import { configFile, verdict } from './helpers/redact-fuzz';

const home = useConfigHome();
const { writeConfig, shown } = home;

async function check(text: string): Promise<void> {
  writeConfig(text);
  const v = verdict(text);
  const texts: string[] = [];
  const bodies: Record<string, { model?: unknown }> = {};
  for (const path of CONFIG_VIEWS) {
    const res = await home.t.fetch(path);
    const body = await res.text();
    texts.push(body);
    if (res.status === 200) bodies[path] = JSON.parse(body);
    // A file the yaml package refuses may still be read by the sidecar's parser, and the other way round.
    else expect(path === '/api/gateway-status' || res.status === 409).toBe(true);
  }
  if (!v) return;
  for (const secret of v.hidden) for (const body of texts) if (body.includes(secret)) throw new Error(`${JSON.stringify(secret)} shown in ${body}`);
  // Masking keys that repeat a secret must not take a key written out plainly with them.
  const config = texts[0] as string;
  if (bodies['/api/config']) for (const key of v.plainKeys) if (!config.includes(`${JSON.stringify(key)}:`)) throw new Error(`key ${JSON.stringify(key)} missing from ${config}`);
  if (v.model !== null) {
    expect(bodies['/api/config']?.model).toBe(v.model);
    expect(bodies['/api/config/model']?.model).toBe(v.model);
    expect(bodies['/api/gateway-status']?.model).toBe(v.model);
  }
}

const runs = Number(process.env.REDACT_FUZZ_RUNS ?? 300);

test(`no secret of a generated config.yaml is shown, and a plain model name is (${runs} files, seeded)`, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(1000), { maxLength: 200, size: 'max' }), async (xs) => {
      const text = configFile(xs);
      try {
        await check(text);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- config.yaml ---\n${text}`);
      }
    }),
    { seed: Number(process.env.REDACT_FUZZ_SEED ?? 20261207), numRuns: runs, endOnFailure: false },
  );
}, 600_000);

test('an anchored value nested in an anchored env map is masked at its own aliases too (shrunk from the property test)', async () => {
  // `b` sits in the env map through `a`'s alias: masked there and where it is defined, but its own
  // alias in model.default was shown in clear, also on the open /api/gateway-status.
  const nested = 'providers:\n  openrouter: &a\n    name: &b "gpt-4o"\nmcp_servers:\n  github:\n    command: "npx"\n    env: *a\nmodel: *b\n';
  expect(await shown(nested)).not.toContain('gpt-4o');
  // `b` aliased inside `a`, which is aliased into the env map: b is repeated into that map.
  const inner = '"a b": &b "gpt-4o"\nname: [&a {name: *b}, *b]\nmcp_servers:\n  github:\n    command: "npx"\n    env: *a\n';
  expect(await shown(inner)).not.toContain('gpt-4o');
});

test('a `<<` merge of an unrelated map does not mask the model name an env map of the merge target also holds (shrunk from the property test)', async () => {
  // The merge's copy is the whole map it merges into: every env value anywhere in it was taken as a
  // leaf of `d`, and masked all over that map; at the root, model.default too.
  const root = 'defaults: &d {timeout: 30}\n<<: *d\nmodel: {default: gpt-4o}\nmcp_servers:\n  github:\n    command: npx\n    env: {OPENAI_MODEL: gpt-4o}\n';
  writeConfig(root);
  expect((await home.t.json('GET', '/api/config/model')).body.model).toBe('gpt-4o');
  expect((await home.t.json('GET', '/api/gateway-status')).body.model).toBe('gpt-4o');
  const config = (await home.t.json<{ config: { model: unknown; mcp_servers: unknown } }>('GET', '/api/config')).body.config;
  expect(config.model).toEqual({ default: 'gpt-4o' });
  expect(config.mcp_servers).toEqual({ github: { command: 'npx', env: { OPENAI_MODEL: '***' } } });
});

test('a value under a key that is an alias (`*n: …`) is followed: an env map aliased there, or a secret anchored in it, is masked (found in review)', async () => {
  // The walk for anchored values skipped the value of any key that was not a plain scalar, and took
  // `*n: *e` for a `<<` merge: the env map's token was shown in clear under x.notes.
  const envThere = 'name: &n notes\nmcp_servers:\n  gh:\n    command: npx\n    env: &e {GH: ghp-R4nD0mG1tHVALUE}\nx:\n  *n : *e\n';
  expect(await shown(envThere)).not.toContain('R4nD0m');
  const anchoredInIt = 'name: &n notes\nproviders:\n  *n : {token: &t tok-0123456789abc}\nfallback: *t\n';
  expect(await shown(anchoredInIt)).not.toContain('0123456789abc');
  // Keys the yaml package spells itself (a date): followed as well.
  const dated = 'providers:\n  2001-12-14 : {token: &t tok-0123456789abc}\nfallback: *t\n';
  expect(await shown(dated)).not.toContain('0123456789abc');
});

test('a value under an alias key of a date (`*m : …`) is followed there too: the tree spells that key `*m` (one of a map or list refuses the file)', async () => {
  for (const anchored of ['{k: v}', '[x]', '2001-12-14']) {
    const text = `names:\n  n: &m ${anchored}\nproviders:\n  *m : {token: &t tok-0123456789abc}\nfallback: *t\n`;
    expect(await shown(text)).not.toContain('0123456789abc');
  }
});

test('alias keys cost one walk of the file in all, not one each (GET /api/config took 11 s at 1,600 of them: scripts/bench/config-alias-keys.ts)', () => {
  // Alias.resolve without a cache walks the whole document: counted, it must not grow with the keys.
  const walks = (keys: number, anchored: (i: number) => string) => {
    let text = 'names:\n';
    for (let i = 0; i < keys; i++) text += `  n${i}: &a${i} ${anchored(i)}\n`;
    text += 'map:\n';
    for (let i = 0; i < keys; i++) text += `  *a${i} : v${i}\n`;
    const doc = parseDocument(text, { logLevel: 'silent' });
    const resolve = Alias.prototype.resolve;
    let n = 0;
    Alias.prototype.resolve = function (this: Alias, ...args: Parameters<Alias['resolve']>) {
      if (!args[1]?.aliasResolveCache) n++;
      return resolve.apply(this, args);
    };
    try {
      anchoredValues(doc);
    } finally {
      Alias.prototype.resolve = resolve;
    }
    return n;
  };
  for (const anchored of [(i: number) => `key${i}`, (i: number) => `{k: key${i}}`]) {
    expect(walks(200, anchored)).toBe(walks(50, anchored));
  }
});
