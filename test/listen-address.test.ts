/**
 * Where the server listens (OPTX_API_HOST / --host): IPv6 literals with or without the brackets URLs
 * give them, the wildcard addresses, a URL or host:port pasted by mistake, a name that does not
 * resolve. The banner must print a URL that can be used; failures one line naming the setting.
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config';
import { tempDir } from './helpers/app';
import { readFirstLine } from './helpers/binary';

const MAIN = join(import.meta.dir, '../src/main.ts');

function hostOf(host: string): string {
  const cwd = tempDir();
  const r = loadConfig({ argv: ['--host', host], env: { HERMES_HOME: join(cwd, 'home') }, cwd, home: cwd });
  if (r.kind !== 'run') throw new Error('unexpected CLI request');
  return r.config.server.host;
}

/** Runs the server from source until it printed its banner line (or exited): that line, stderr and the exit code. */
async function start(host: string): Promise<{ banner: string; stderr: string; code: number | null }> {
  const home = join(tempDir(), 'home');
  const proc = Bun.spawn(['bun', MAIN, '--host', host, '--port', '0', '--hermes-url', 'http://127.0.0.1:1'], {
    env: { PATH: process.env.PATH ?? '', HERMES_HOME: home, LOG_LEVEL: 'silent', LOG_FORMAT: 'pretty' },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const out = await readFirstLine(proc.stdout);
  const banner = out.split('\n')[0] ?? '';
  let url = /listening on (\S+)/.exec(banner)?.[1];
  if (url) {
    // The URL given for this machine, when the banner gives one; else the one it listens on.
    url = /from this machine: (\S+)\)/.exec(banner)?.[1] ?? url;
    expect((await fetch(`${url}/health`)).status).toBe(200);
    proc.kill('SIGTERM');
  }
  const code = await proc.exited;
  return { banner, stderr: (await new Response(proc.stderr).text()).trim(), code: url ? null : code };
}

describe('OPTX_API_HOST', () => {
  test('IPv6 literals are taken with or without brackets; host names and IPv4 as they are', () => {
    expect(hostOf('[::1]')).toBe('::1');
    expect(hostOf('::1')).toBe('::1');
    expect(hostOf(' [::] ')).toBe('::');
    expect(hostOf('0.0.0.0')).toBe('0.0.0.0');
    expect(hostOf('localhost')).toBe('localhost');
    expect(hostOf('hermes_optx')).toBe('hermes_optx');
  });

  test('a URL, a host:port or a bracketed IPv4 stops start-up with one line naming the variable', () => {
    for (const bad of ['http://localhost', 'localhost:8643', '[127.0.0.1]', 'a host', '127.0.0.1/8']) {
      expect(() => hostOf(bad)).toThrow(ConfigError);
      expect(() => hostOf(bad)).toThrow(`Invalid OPTX_API_HOST (--host): expected an IP address or a host name, without scheme or port (got ${JSON.stringify(bad)}).`);
    }
  });

  test('the banner prints a bracketed IPv6 URL (it printed http://[[::1]]:port) that answers', async () => {
    const r = await start('[::1]');
    expect(r.banner).toMatch(/^hermes-optx-api \S+ listening on http:\/\/\[::1\]:\d+$/);
  }, 120_000);

  test('on a wildcard address the banner also gives the URL that works from this machine', async () => {
    const v4 = await start('0.0.0.0');
    expect(v4.banner).toMatch(/listening on http:\/\/0\.0\.0\.0:(\d+) \(every interface; from this machine: http:\/\/127\.0\.0\.1:\1\)$/);
    const v6 = await start('::');
    expect(v6.banner).toMatch(/listening on http:\/\/\[::\]:(\d+) \(every interface; from this machine: http:\/\/\[::1\]:\1\)$/);
  }, 120_000);

  test('a host name is listened on at one address, which the banner names (localhost: ::1 alone on a dual-stack host)', async () => {
    // Bun takes the first address the name resolves to; 127.0.0.1 clients (the Docker health check)
    // were refused under a banner that said only http://localhost:port.
    const r = await start('localhost');
    const m = /listening on http:\/\/localhost:(\d+) \(address (127\.0\.0\.1|::1) only\)$/.exec(r.banner);
    expect(m).not.toBeNull();
  }, 120_000);

  test('a host name that does not resolve says so (it said "ENOENT: no such file or directory, listen")', async () => {
    // .invalid never resolves (RFC 6761).
    const r = await start('nowhere.invalid');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('hermes-optx-api: fatal: cannot listen on nowhere.invalid:0 (OPTX_API_HOST/--host, OPTX_API_PORT/--port): the host name nowhere.invalid does not resolve to an address of this machine');
  }, 120_000);
});
