/**
 * A logical fingerprint of everything the sidecar can change: every table of its own database and of
 * every SQLite file in the Hermes home, and every other file there. Equal fingerprints before and after
 * a rejected request prove the request changed nothing.
 */
import { Database } from 'bun:sqlite';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function tablesOf(db: Database): string[] {
  return db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_fts_%' ORDER BY name").all().map((r) => r.name);
}

function hashDb(db: Database, h: Bun.CryptoHasher): void {
  for (const t of tablesOf(db)) {
    h.update(`table ${t}\n`);
    for (const row of db.query(`SELECT * FROM "${t.replace(/"/g, '""')}"`).values()) h.update(JSON.stringify(row, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : typeof v === 'bigint' ? v.toString() : v)) + '\n');
  }
}

function walk(dir: string, out: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else out.push(p);
  }
}

export function fingerprint(ownDb: Database, dirs: string[]): string {
  const h = new Bun.CryptoHasher('sha256');
  hashDb(ownDb, h);
  const files: string[] = [];
  for (const d of dirs) walk(d, files);
  for (const f of files) {
    if (/-(wal|shm|journal)$/.test(f)) continue;
    h.update(`file ${f}\n`);
    if (f.endsWith('.db')) {
      if (f === ownDb.filename) continue;
      const db = new Database(f, { readonly: true });
      try {
        hashDb(db, h);
      } finally {
        db.close();
      }
    } else h.update(readFileSync(f));
  }
  return h.digest('hex');
}
