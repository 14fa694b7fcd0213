import { expect, test } from 'bun:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/lib/log';

test('secret-looking fields are masked at any depth; levels filter', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) });
  log.debug('hidden');
  log.info('call', { authorization: 'Bearer sk-live-123', nested: { api_key: 'k-456', ok: 1 }, SPACETIMEDB_TOKEN: 'tok-789', path: '/x' });
  expect(lines.length).toBe(1);
  const text = lines.join('\n');
  for (const secret of ['sk-live-123', 'k-456', 'tok-789']) expect(text).not.toContain(secret);
  expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', msg: 'call', path: '/x', nested: { ok: 1, api_key: '***' } });
});

test('pretty format is one line per event', () => {
  const lines: string[] = [];
  createLogger({ level: 'debug', format: 'pretty', write: (l) => lines.push(l) }).warn('upstream', { mode: 'disconnected' });
  expect(lines[0]).toMatch(/^\S+ WARN  upstream mode=disconnected$/);
});

test('pretty format: a value with a newline cannot forge a line of its own; spaces and = are quoted', () => {
  const lines: string[] = [];
  // A model name as a misbehaving upstream may send it, logged by the probe.
  createLogger({ level: 'info', format: 'pretty', write: (l) => lines.push(l) })
    .info('upstream probe', { model: 'hermes-agent\n2026-01-01T00:00:00.000Z ERROR admin key=stolen', error: 'a b=c', mode: 'portable', n: 3 });
  expect(lines.length).toBe(1);
  expect(lines[0]).not.toContain('\n');
  expect(lines[0]).toEndWith(' upstream probe model="hermes-agent\\n2026-01-01T00:00:00.000Z ERROR admin key=stolen" error="a b=c" mode=portable n=3');
});

/** What a terminal or a line splitter acts on: C0 and C1 controls, DEL, line and paragraph separators, bidi controls. */
const RAW_CONTROL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const HOSTILE = [
  'a\x1b[2Jb', 'a\x1b]0;title\x07b', 'a\x00b', 'a\r\nb', 'a\u009b2Jb', 'plain\u009b31m', 'a\u0085b',
  'a\u2028b', 'a\u2029b', '\u202etxt.exe', 'a\u2066b\u2069', 'a\u200fb', 'back\\\u2028slash', '\u009d0;t\u009c',
];

test('log injection: C1 controls, U+2028/U+2029/U+0085 and bidi controls are escaped in both formats; JSON reads back the same value', async () => {
  const { startFakeHermes } = await import('./fakes/hermes');
  const { makeTestApp } = await import('./helpers/app');
  for (const format of ['pretty', 'json'] as const) {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', format, write: (l) => lines.push(l) });
    for (const value of HOSTILE) log.warn('upstream probe', { model: value, nested: { error: value } });
    expect(lines.length).toBe(HOSTILE.length);
    lines.forEach((line, i) => {
      expect(line).not.toMatch(RAW_CONTROL);
      expect(line.split(/\r\n|[\n\r\u0085\u2028\u2029\v\f\x1c-\x1e]/).length).toBe(1);
      if (format === 'json') expect(JSON.parse(line)).toMatchObject({ level: 'warn', msg: 'upstream probe', model: HOSTILE[i], nested: { error: HOSTILE[i] } });
    });
  }
  // End to end: a model name as a misbehaving upstream sends it, logged by the probe.
  const hermes = await startFakeHermes({ model: 'hermes\u009b2J\u202eevil\u2028x' });
  const lines: string[] = [];
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: hermes.url, HERMES_API_KEY: 'test-upstream-key' }, log: createLogger({ level: 'info', format: 'pretty', write: (l) => lines.push(l) }) });
  try {
    await t.deps.probe.probeNow();
    const probe = lines.find((l) => l.includes('upstream probe'));
    expect(probe).toContain('model="hermes\\u009b2J\\u202eevil\\u2028x"');
    expect(probe).not.toMatch(RAW_CONTROL);
  } finally {
    t.close();
    hermes.stop();
  }
});

test('the upstream lost: the probe line names its host (without the URL\'s credentials)', async () => {
  const { closedUrl, makeTestApp } = await import('./helpers/app');
  const closed = new URL(await closedUrl());
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: `http://agent:pa55word@${closed.host}` }, log });
  try {
    await t.deps.probe.probeNow();
  } finally {
    t.close();
  }
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ level: 'warn', msg: 'upstream probe', mode: 'disconnected', upstream: closed.host });
  expect(JSON.stringify(lines)).not.toContain('pa55word');
});

test('pretty format: a message or a key holding controls cannot forge a line or drive the terminal', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', format: 'pretty', write: (l) => lines.push(l) });
  for (const value of HOSTILE) log.warn(`probe ${value}`, { [`k${value}`]: 1 });
  expect(lines.length).toBe(HOSTILE.length);
  for (const line of lines) expect(line).not.toMatch(RAW_CONTROL);
  expect(lines[0]).toEndWith(' probe a\\u001b[2Jb ka\\u001b[2Jb=1');
});

test('a start-up failure written in the pretty format escapes controls too (a bad setting quoted in it)', () => {
  const env = { PATH: process.env.PATH ?? '', LOG_FORMAT: 'pretty', OPTX_API_PORT: 'a\u009b2J\u2028b\u202ec\x1b[0m' };
  const r = Bun.spawnSync([process.execPath, join(import.meta.dir, '../src/main.ts')], { env, cwd: tmpdir(), stderr: 'pipe', stdout: 'pipe' });
  const err = r.stderr.toString();
  expect(r.exitCode).toBe(2);
  expect(err).toBe('hermes-optx-api: Invalid OPTX_API_PORT (--port): expected an integer from 0 to 65535 (got "a\\u009b2J\\u2028b\\u202ec\\u001b[0m").\n');
});
