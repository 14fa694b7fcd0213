/**
 * Pipelined requests as README describes them, on a real socket: answered in order while each answer is
 * ready at once; behind one still waiting (a /v1 call) Bun's HTTP server closes the connection with
 * no answer to either. If Bun starts answering those, this fails: README's limit is then to be lifted.
 */
import { describe, expect, test } from 'bun:test';
import net from 'node:net';
import { useListeningApp } from './helpers/fake-app';

let port = 0;
useListeningApp((_fake, t) => {
  port = t.app.server!.port!;
});

/** Writes `requests` in one go and reads until the server closes the connection. */
function pipelined(requests: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(requests.join('')));
    s.on('data', (d) => (buf += d.toString()));
    s.on('close', () => resolve(buf));
    s.on('error', reject);
  });
}

const get = (path: string, last = false) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
const statuses = (text: string) => text.match(/HTTP\/1\.1 \d{3}/g) ?? [];

describe('pipelined requests', () => {
  test('behind answers that are ready at once: all answered, in order', async () => {
    const text = await pipelined([get('/health'), get('/api/tasks/stats'), get('/api/memory', true)]);
    expect(statuses(text)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(text.indexOf('"platform"')).toBeLessThan(text.indexOf('"by_status"'));
  });

  test('behind a /v1 call still waiting for the agent: the connection is closed, nothing answered (the limit README names)', async () => {
    expect(await pipelined([get('/v1/models'), get('/health', true)])).toBe('');
  });
});
