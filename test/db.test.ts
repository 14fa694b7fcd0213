/** The sidecar's own database: created on first start, migrated once, migrations embedded and current. */
import { describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config';
import { openDatabase, openedAs } from '../src/db';
import { openDeps } from '../src/deps';
import { applyMigrations, type Migration } from '../src/db/migrate';
import { MIGRATIONS } from '../src/db/migrations.gen';
import { renderMigrations } from '../scripts/gen-migrations';
import { makeTestApp, tempDir } from './helpers/app';

describe('sidecar database', () => {
  test('a fresh data dir (nested, missing) is created and migrated, in WAL mode', () => {
    const dir = join(tempDir(), 'a', 'b', 'data');
    const h = openDatabase(dir);
    expect(existsSync(join(dir, 'optx-api.db'))).toBe(true);
    expect(h.sqlite.query<{ journal_mode: string }, []>('PRAGMA journal_mode').get()?.journal_mode).toBe('wal');
    const applied = h.sqlite.query<{ tag: string }, []>('SELECT tag FROM __migrations').all().map((r) => r.tag);
    expect(applied).toEqual(MIGRATIONS.map((m) => m.tag));
    h.close();
  });

  test('a new data dir and database are readable by their owner only (transcripts, payment records); an existing dir keeps its mode', () => {
    const mode = (p: string) => statSync(p).mode & 0o777;
    const dir = join(tempDir(), 'fresh');
    const h = openDatabase(dir);
    h.sqlite.run("INSERT INTO sidecar_meta (key, value, updated_at) VALUES ('k', 'v', 'now')");
    expect([mode(dir), mode(join(dir, 'optx-api.db')), mode(join(dir, 'optx-api.db-wal')), mode(join(dir, 'optx-api.db-shm'))]).toEqual([0o700, 0o600, 0o600, 0o600]);
    h.close();
    const shared = join(tempDir(), 'shared');
    mkdirSync(shared, { mode: 0o750 });
    chmodSync(shared, 0o750);
    openDatabase(shared).close();
    expect(mode(shared)).toBe(0o750);
  });

  test('a data dir that cannot be used stops start-up with the file and the setting named', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => openDatabase(join(dir, 'file'))).toThrow(`Cannot open the sidecar database ${join(dir, 'file', 'optx-api.db')} (OPTX_DATA_DIR, --data-dir): ${join(dir, 'file')} (or a folder above it) is a file, not a directory`);
    expect(() => openDatabase(join(dir, 'file', 'below'))).toThrow('is a file, not a directory');
    mkdirSync(join(dir, 'garbage'));
    writeFileSync(join(dir, 'garbage', 'optx-api.db'), Buffer.alloc(8192, 7));
    expect(() => openDatabase(join(dir, 'garbage'))).toThrow(`Cannot open the sidecar database ${join(dir, 'garbage', 'optx-api.db')} (OPTX_DATA_DIR, --data-dir): file is not a database`);
  });

  test('a database migrated by a newer version (a binary rolled back) is refused, and left as it is', () => {
    const dir = tempDir();
    const h = openDatabase(dir);
    h.sqlite.run("INSERT INTO __migrations (tag, hash, applied_at) VALUES ('9999_from_the_future', 'x', '2027-01-01T00:00:00.000Z')");
    h.close();
    expect(() => openDatabase(dir)).toThrow(`Cannot open the sidecar database ${join(dir, 'optx-api.db')} (OPTX_DATA_DIR, --data-dir): it was migrated by a newer hermes-optx-api (9999_from_the_future); run that version, or give this one another data dir`);
    const raw = new Database(join(dir, 'optx-api.db'), { readonly: true });
    expect(raw.query('SELECT count(*) AS n FROM __migrations').get()).toEqual({ n: MIGRATIONS.length + 1 });
    raw.close();
  });

  test('a database that held nothing (zero bytes: a failed copy) is reported as created, so the banner says the restore brought nothing', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'optx-api.db'), '');
    const first = openDatabase(dir);
    expect(first.created).toBe(true);
    first.close();
    const second = openDatabase(dir);
    expect(second.created).toBe(false);
    second.close();
  });

  test('re-opening applies nothing twice and keeps the instance id', () => {
    const dir = tempDir();
    const first = openDatabase(dir);
    const id = first.instanceId;
    expect(id).toMatch(/^sc_/);
    first.close();
    const second = openDatabase(dir);
    expect(second.instanceId).toBe(id);
    expect(second.sqlite.query<{ n: number }, []>('SELECT COUNT(*) AS n FROM __migrations').get()?.n).toBe(MIGRATIONS.length);
    second.close();
  });

  test('a migration edited after it was applied is refused', () => {
    const db = new Database(':memory:');
    const m: Migration = { tag: '0000_x', when: 1, hash: 'a', statements: ['CREATE TABLE t (a)'] };
    applyMigrations(db, [m]);
    expect(() => applyMigrations(db, [{ ...m, hash: 'b' }])).toThrow('was changed');
  });

  test('a failing migration leaves nothing half-applied', () => {
    const db = new Database(':memory:');
    const bad: Migration = { tag: '0000_bad', when: 1, hash: 'h', statements: ['CREATE TABLE ok (a)', 'CREATE TABLE broken ('] };
    expect(() => applyMigrations(db, [bad])).toThrow();
    expect(db.query('SELECT name FROM sqlite_master WHERE name = ?').get('ok')).toBeNull();
  });

  test('upgrading a database with metered calls fills the running totals from the ledger', () => {
    const db = new Database(':memory:');
    const before = MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.tag === '0006_tempo_totals'));
    applyMigrations(db, before);
    const ins = db.prepare(`INSERT INTO tempo_calls (id, caller_id, model, input_tokens, output_tokens, usage_reported, input_cost_micro,
      output_cost_micro, margin_micro, total_micro, token, latency_ms, created_at) VALUES (?, ?, 'm', ?, ?, 1, ?, ?, ?, ?, 'USDC', 5, '2026-12-01T00:00:00.000Z')`);
    ins.run('c1', 'a', 10, 20, 3, 40, 1000, 1043);
    ins.run('c2', 'a', 1, 2, 1, 1, 1000, 1002);
    ins.run('c3', 'b', 5, 5, 0, 0, 7, 7);
    expect(applyMigrations(db, MIGRATIONS)).toContain('0006_tempo_totals');
    expect(db.query('SELECT * FROM tempo_totals ORDER BY caller_id').all()).toEqual([
      { caller_id: 'a', calls: 2, tokens: 33, cost_micro: 45, margin_micro: 2000, billed_micro: 2045 },
      { caller_id: 'b', calls: 1, tokens: 10, cost_micro: 0, margin_micro: 7, billed_micro: 7 },
    ]);
  });

  test('an upgrade names the migrations it applied (the banner prints them); a new or current database does not', () => {
    const dir = tempDir();
    const old = new Database(join(dir, 'optx-api.db'), { create: true });
    applyMigrations(old, MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.tag === '0013_tempo_holds_host_clock')));
    old.close();
    const upgraded = openDatabase(dir);
    expect(upgraded.migrated?.tags).toEqual(['0013_tempo_holds_host_clock', '0014_mpp_store_host_clock', '0015_chat_session_opener', '0016_chat_unfiled_turns', '0017_chat_unfiled_turns_fill', '0018_chat_unfiled_index', '0019_chat_held_index', '0020_escrow_idempotency_key']);
    expect(openedAs(upgraded)).toMatch(/^ \(upgraded: applied migrations 0013_tempo_holds_host_clock, 0014_mpp_store_host_clock, 0015_chat_session_opener, 0016_chat_unfiled_turns, 0017_chat_unfiled_turns_fill, 0018_chat_unfiled_index, 0019_chat_held_index, 0020_escrow_idempotency_key in \d+ ms\)$/);
    upgraded.close();
    const again = openDatabase(dir);
    expect([again.migrated, openedAs(again)]).toEqual([null, '']);
    again.close();
    const fresh = openDatabase(join(tempDir(), 'data'));
    expect([fresh.created, fresh.migrated, openedAs(fresh)]).toEqual([true, null, ' (new, empty database)']);
    fresh.close();
  });

  test('two processes starting on one data dir at once: each migration runs once, neither start fails', () => {
    const path = join(tempDir(), 'optx-api.db');
    const first = new Database(path, { create: true });
    const second = new Database(path);
    second.run('PRAGMA busy_timeout = 5000');
    // `first` starts and finishes migrating just after `second` has read what was applied.
    let raced = false;
    const racing = new Proxy(second, {
      get(target, key) {
        if (key === 'transaction' && !raced) {
          raced = true;
          applyMigrations(first, MIGRATIONS);
        }
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    expect(applyMigrations(racing, MIGRATIONS)).toEqual([]);
    expect(raced).toBe(true);
    expect(second.query('SELECT COUNT(*) AS n FROM __migrations').get()).toEqual({ n: MIGRATIONS.length });
    first.close();
    second.close();
  });

  test('opening waits for another process that holds the file locked, instead of failing at the first pragma', async () => {
    const dir = tempDir();
    const path = join(dir, 'optx-api.db');
    // Another process (a second sidecar starting) holds a new, not yet WAL, file locked for 300 ms, as
    // it does while it switches the file to WAL.
    const holder = Bun.spawn(['bun', '-e', `const { Database } = require('bun:sqlite'); const d = new Database(${JSON.stringify(path)}, { create: true });
      d.run('BEGIN EXCLUSIVE'); d.run('CREATE TABLE x (a)'); console.log('locked'); Bun.sleepSync(300); d.run('COMMIT'); d.close();`], { stdout: 'pipe' });
    const reader = holder.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('locked');
    const h = openDatabase(dir);
    expect(h.sqlite.query<{ journal_mode: string }, []>('PRAGMA journal_mode').get()?.journal_mode).toBe('wal');
    h.close();
    await holder.exited;
  });

  test('upgrading a database whose escrows expired before expiries were events: their histories get the expiry, in order', async () => {
    const dir = tempDir();
    const old = new Database(join(dir, 'optx-api.db'), { create: true });
    applyMigrations(old, MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.tag === '0008_escrow_expiry_events')));
    // What the version before 2026-12-06 left: expiries counted in the totals, refunds from expired, no expiry event.
    const escrow = old.prepare(`INSERT INTO escrows (id, task_id, amount, token, decimals, gaze_required, status, created_at, expires_at, expires_at_ms, refunded_at, expiry_counted)
      VALUES (?, 't', '5000000', 'OPTX', 6, 0, ?, '2026-12-01T00:00:00.000Z', '2026-12-01T00:01:00.000Z', ${Date.parse('2026-12-01T00:01:00.000Z')}, ?, ?)`);
    const event = old.prepare('INSERT INTO escrow_events (escrow_id, from_status, to_status, actor, at) VALUES (?, ?, ?, ?, ?)');
    escrow.run('esc_counted', 'locked', null, 1);
    event.run('esc_counted', null, 'locked', 'api', '2026-12-01T00:00:00.000Z');
    escrow.run('esc_refunded', 'refunded', '2026-12-02T00:00:00.000Z', 0);
    event.run('esc_refunded', null, 'locked', 'api', '2026-12-01T00:00:00.000Z');
    event.run('esc_refunded', 'expired', 'refunded', 'api', '2026-12-02T00:00:00.000Z');
    old.close();
    const t = await makeTestApp({ env: { OPTX_DATA_DIR: dir } });
    const history = async (id: string) => ((await t.json<{ events: { from: string | null; to: string; actor: string; at: string }[] }>('GET', `/api/wallet/escrow/${id}`)).body.events);
    const expiry = { from: 'locked', to: 'expired', actor: 'system', at: '2026-12-01T00:01:00.000Z' };
    expect((await history('esc_counted')).map((e) => e.to)).toEqual(['locked', 'expired']);
    expect((await history('esc_counted'))[1]).toMatchObject(expiry);
    expect((await history('esc_refunded')).map((e) => `${e.from}>${e.to}`)).toEqual(['null>locked', 'locked>expired', 'expired>refunded']);
    t.close();
  });

  test('the embedded migrations match drizzle/ (run `bun run db:generate` after a schema change)', async () => {
    await expect(Bun.file(join(import.meta.dir, '../src/db/migrations.gen.ts')).text()).resolves.toBe(renderMigrations());
  });
});

describe('the -wal file of a sidecar that runs for months', () => {
  test('one large transaction does not leave the -wal at its size for the rest of the run (was 125 MB after 60,000 messages, until exit)', () => {
    const h = openDatabase(join(tempDir(), 'data'));
    const walBytes = () => statSync(`${h.path}-wal`).size;
    h.sqlite.run("INSERT INTO chat_sessions (id, origin, started_at, last_active, created_at, updated_at) VALUES ('big', 'sidecar', 0, 0, '', '')");
    const add = h.sqlite.prepare("INSERT INTO chat_messages (session_id, role, content, timestamp) VALUES ('big', 'user', ?, 0)");
    // ~100 MB in one transaction: the WAL holds all of it until the commit's checkpoint.
    h.sqlite.transaction(() => {
      for (let i = 0; i < 50_000; i++) add.run(`${i} ${'x'.repeat(2000)}`);
    })();
    expect(walBytes()).toBeGreaterThan(90_000_000);
    // The next small writes restart the checkpointed WAL: cut back to 64 MiB.
    for (let i = 0; i < 3; i++) h.sqlite.run('UPDATE chat_sessions SET title = ? WHERE id = ?', [`t${i}`, 'big']);
    expect(walBytes()).toBeLessThanOrEqual(64 * 1024 * 1024);
    h.close();
  }, 120_000);
});

describe('a start refused by a setting checked while opening', () => {
  // The pricing file, the EVM chains and the Solana addresses can only be checked while the app is
  // being built. They were checked after the database had been opened: a start refused for a
  // misspelt TEMPO_PRICING path had already migrated an older database (which an older binary then
  // refuses), or created a new one, with nothing printed about it.
  const cases: Record<string, string>[] = [{ TEMPO_PRICING: '/nonexistent/pricing.yaml' }, { EVM_RPC_URLS: 'ethereum=http://127.0.0.1:1' }, { EVM_RPC_URLS: 'mainnet=http://127.0.0.1:1', EVM_TOKENS: 'base:USDC:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913' }];

  async function open(dataDir: string, env: Record<string, string>): Promise<unknown> {
    const dir = tempDir();
    const req = loadConfig({ argv: [], env: { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env }, cwd: dir, home: dir });
    if (req.kind !== 'run') throw new Error('unexpected CLI request');
    try {
      (await openDeps(req.config)).db.close();
      return null;
    } catch (err) {
      return err;
    }
  }

  test('an older database is left as it was (not migrated)', async () => {
    for (const env of cases) {
      const dir = tempDir();
      const old = new Database(join(dir, 'optx-api.db'), { create: true });
      const before = MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.tag === '0013_tempo_holds_host_clock'));
      applyMigrations(old, before);
      old.close();
      expect(await open(dir, env)).toBeInstanceOf(ConfigError);
      const db = new Database(join(dir, 'optx-api.db'), { readonly: true });
      expect(db.query<{ n: number }, []>('SELECT COUNT(*) AS n FROM __migrations').get()?.n).toBe(before.length);
      db.close();
    }
  });

  test('no data dir or database is created', async () => {
    for (const env of cases) {
      const dir = join(tempDir(), 'data');
      expect(await open(dir, env)).toBeInstanceOf(ConfigError);
      expect(existsSync(dir)).toBe(false);
    }
  });
});
