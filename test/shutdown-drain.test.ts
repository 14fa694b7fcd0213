/**
 * Stopping (SIGTERM) while writes wait in line for another process's lock on the sidecar's database
 * (src/db/busy.ts): the server, run as `bun src/main.ts`, waits for them before it closes the
 * database and exits, so a write it acknowledged — or started on its own, as the record of an MPP
 * payment — is committed, and a request in line gets its real answer instead of a cut connection.
 */
import { afterAll, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { Mppx as ClientMppx, tempo as clientTempo } from 'mppx/client';
import { createClient, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { tempoModerato } from 'viem/chains';
import { BUSY_WAIT_MS } from '../src/db/busy';
import { startFakeTempoRpc } from './fakes/tempo-rpc';
import { closedUrl, tempDir } from './helpers/app';
import { holdLock, type LockHolder } from './helpers/lock-holder';

const PATH_USD = '0x20c0000000000000000000000000000000000000';
const chain = startFakeTempoRpc();
afterAll(() => chain.stop());

interface Server {
  proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>;
  base: string;
  dbPath: string;
  /** The agent's holographic memory file (the default path under HERMES_HOME). */
  memoryPath: string;
}

async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const dataDir = tempDir('optx-drain-');
  const home = join(tempDir(), 'hermes-home');
  const proc = Bun.spawn(['bun', join(import.meta.dir, '../src/main.ts'), '--port', '0', '--host', '127.0.0.1'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', OPTX_DATA_DIR: dataDir, HERMES_HOME: home, HERMES_AGENT_URL: await closedUrl(), ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let out = '';
  const reader = proc.stdout.getReader();
  while (!/listening on (http:\/\/\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server did not start: ${out}${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { proc, base: /listening on (http:\/\/\S+)/.exec(out)![1] as string, dbPath: join(dataDir, 'optx-api.db'), memoryPath: join(home, 'memory_store.db') };
}

const count = (path: string, table: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

test('an MPP payment recorded while another process holds the lock is committed before a SIGTERM exits', async () => {
  const s = await startServer({
    MPP_ENABLED: 'true', MPP_RECIPIENT: '0x742d35Cc6634c0532925a3b844bC9e7595F8fE00', MPP_SECRET_KEY: 'mpp-test-secret-0123456789abcdef-xyz',
    MPP_AMOUNT: '0.10', MPP_NETWORK: 'testnet', TEMPO_RPC_URL: chain.url, RPC_TIMEOUT_S: '5',
  });
  const account = privateKeyToAccount(generatePrivateKey());
  chain.setToken(PATH_USD, account.address, 1_000_000n, 6);
  const client = ClientMppx.create({
    methods: [clientTempo.charge({ account, getClient: () => createClient({ chain: tempoModerato, transport: http(chain.url, { retryCount: 0 }) }) })],
    polyfill: false,
  });
  const credential = await client.createCredential(await fetch(`${s.base}/api/wallet/tempo/pricing`));
  // Every answer of the node is held; the lock is taken while the broadcast waits, after the
  // request's own writes (the replay claim), so only the payment's record is left to write.
  let n = chain.requests.length;
  const arm = () => {
    let open!: () => void;
    chain.behavior.holdUntil = new Promise<void>((r) => (open = r));
    return open;
  };
  let open = arm();
  const paid = fetch(`${s.base}/api/wallet/tempo/pricing`, { headers: { authorization: credential } });
  let lock: LockHolder;
  for (;;) {
    await chain.waitForRequests(n + 1);
    const methods = (chain.requests[n++] as { calls: { method: string }[] }).calls.map((c) => c.method);
    const release = open;
    if (methods.some((m) => m.startsWith('eth_sendRawTransaction'))) {
      lock = await holdLock(s.dbPath, { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
      chain.behavior.holdUntil = null;
      release();
      break;
    }
    open = arm();
    release();
  }
  expect((await paid).status).toBe(200);
  s.proc.kill('SIGTERM');
  await Bun.sleep(500);
  await lock.release();
  expect(await s.proc.exited).toBe(0);
  expect(await new Response(s.proc.stderr).text()).not.toContain('could not record an MPP payment');
  expect(count(s.dbPath, 'mpp_payments')).toBe(1);
}, 120_000);

/** A raw HTTP/1.1 POST whose body is sent in two parts, `between` running in the middle: the whole answer, or '' when the connection was cut. */
function postInTwoParts(base: string, path: string, body: string, between: () => Promise<void>): Promise<string> {
  const { hostname, port } = new URL(base);
  const half = Math.floor(body.length / 2);
  return new Promise<string>((resolve, reject) => {
    let text = '';
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open: (sock) => {
          sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`);
          void between().then(() => sock.write(body.slice(half)), reject);
        },
        data: (_sock, d) => void (text += new TextDecoder().decode(d)),
        close: () => resolve(text),
        error: () => resolve(text),
      },
    }).catch(reject);
  });
}

const inLine = [
  { what: 'a task create', path: '/api/tasks', body: { title: 'in line' }, file: (s: Server) => s.dbPath, table: 'tasks', code: 'storage_busy' },
  { what: 'a memory add (the agent\'s file locked)', path: '/api/memory', body: { content: 'in line' }, file: (s: Server) => s.memoryPath, table: 'facts', code: 'memory_busy' },
];

for (const c of inLine) {
  test(`${c.what} that gets in line after SIGTERM (its body still arriving), the lock held past the busy wait: 503, not a cut connection`, async () => {
    const s = await startServer();
    // Opens (creates) the memory file.
    expect((await fetch(`${s.base}/api/memory/stats`)).status).toBe(200);
    const lock = await holdLock(c.file(s), { begin: 'BEGIN IMMEDIATE', end: 'ROLLBACK' });
    const t0 = performance.now();
    const answer = await postInTwoParts(s.base, c.path, JSON.stringify(c.body), async () => {
      await Bun.sleep(100);
      s.proc.kill('SIGTERM');
      // The request waits in line from now on, until BUSY_WAIT_MS after this.
      await Bun.sleep(500);
    });
    const ms = performance.now() - t0;
    await lock.release();
    expect([answer.split('\r\n')[0], answer.includes(`"code":"${c.code}"`)]).toEqual(['HTTP/1.1 503 Service Unavailable', true]);
    expect(ms).toBeGreaterThan(BUSY_WAIT_MS + 500);
    expect(await s.proc.exited).toBe(0);
    expect(count(c.file(s), c.table)).toBe(0);
  }, BUSY_WAIT_MS + 20_000);
}
