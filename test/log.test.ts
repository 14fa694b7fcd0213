import { expect, test } from 'bun:test';
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
