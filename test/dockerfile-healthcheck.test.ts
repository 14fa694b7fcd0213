/**
 * The Dockerfile's HEALTHCHECK command, run as Docker runs it (its exec or shell form, OPTX_API_PORT
 * in the environment) against a healthy app, a closed port and a server that accepts but never
 * answers (a hung or SIGSTOPped sidecar). On its timeout Docker SIGKILLs the check's process only:
 * the old `… | head -n 1 | grep -q` pipeline left `head` and `grep` behind, adopted by the
 * container's PID 1 (the sidecar, which never reaps them), one pair per interval while it hung.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedUrl, makeTestApp, type TestApp } from './helpers/app';

/** The HEALTHCHECK's CMD as the argv Docker executes: a JSON array as is, a shell form under /bin/sh -c. */
function healthcheckArgv(): string[] {
  const dockerfile = readFileSync(join(import.meta.dir, '../Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const line = dockerfile.split('\n').find((l) => l.startsWith('HEALTHCHECK '));
  const cmd = /\sCMD\s+(.*)$/.exec(line ?? '')?.[1]?.trim();
  if (!cmd) throw new Error('no HEALTHCHECK … CMD in the Dockerfile');
  return cmd.startsWith('[') ? (JSON.parse(cmd) as string[]) : ['/bin/sh', '-c', cmd];
}

/** Runs the check in a session of its own (setsid), so what it leaves behind can be listed by session id. */
function runCheck(port: number) {
  return Bun.spawn(['setsid', ...healthcheckArgv()], { env: { PATH: process.env.PATH ?? '', OPTX_API_PORT: String(port) }, stdout: 'ignore', stderr: 'ignore' });
}

const hasTools = Bun.which('setsid') !== null && Bun.which('pgrep') !== null && Bun.which('bash') !== null;

describe.skipIf(!hasTools)('Dockerfile HEALTHCHECK', () => {
  let t: TestApp;
  const hungConnections: { closed: boolean }[] = [];
  // Accepts and reads, never answers: a sidecar whose process is stopped still has its socket in the kernel.
  const hung = Bun.listen<{ closed: boolean }>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(s) {
        s.data = { closed: false };
        hungConnections.push(s.data);
      },
      data() {},
      close(s) {
        s.data.closed = true;
      },
    },
  });
  afterAll(async () => {
    hung.stop(true);
    await t?.app.stop(true);
    t?.close();
  });

  test('healthy: exit 0; nothing listening: non-zero', async () => {
    t = await makeTestApp();
    t.app.listen({ port: 0, hostname: '127.0.0.1' });
    expect(await runCheck(t.app.server!.port!).exited).toBe(0);
    const closed = Number(new URL(await closedUrl()).port);
    expect(await runCheck(closed).exited).not.toBe(0);
  }, 30_000);

  test('hung: it gives up by itself, and once killed as Docker kills it nothing of it is left', async () => {
    const alone = runCheck(hung.port);
    expect(await alone.exited).not.toBe(0);

    const killed = runCheck(hung.port);
    while (hungConnections.length < 2) await Bun.sleep(20);
    killed.kill('SIGKILL');
    await killed.exited;
    const left = Bun.spawnSync(['pgrep', '-a', '-s', String(killed.pid)]).stdout.toString().trim();
    expect(left).toBe('');
    // Nothing holds the connection open any more: the server sees it closed.
    while (!hungConnections[1]?.closed) await Bun.sleep(20);
  }, 30_000);
});
