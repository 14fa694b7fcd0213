/**
 * The category banks of Hermes' holographic memory: `memory_banks` holds, per `cat:<category>`, the
 * bundle of the vectors of every fact of that category and their count. The plugin rebuilds a bank
 * from all its facts after every write, which reads 8 KiB per fact: at 100,000 facts, close to a
 * gigabyte per insert. Here the bank's complex sum Σ e^{iθ} is kept in memory and one fact's term is
 * added or removed per write; the stored vector is angle(Σ) exactly as a rebuild would compute it
 * (to rounding).
 *
 * The agent rebuilds banks too. The cached sum is used only while the bank row is the one this
 * process last wrote (same fact_count and the same vector bytes); otherwise it is rebuilt from the
 * facts once and the incremental path resumes. All of this runs inside the caller's write
 * transaction, so no other writer can slip in between the check and the write.
 *
 * Newer plugin versions add `memory_banks.vector_sum` (the same Σ e^{iθ}, complex128) and fold a new
 * fact into it instead of rebuilding. Whenever that column exists it is written with the vector: a
 * bank whose vector moved while its sum stayed behind was folded into by the agent's next insert,
 * which then dropped every fact we had added (or kept one we had deleted) from the bank.
 */
import type { Database } from 'bun:sqlite';
import { bytesToPhases, HRR_DIM, PhaseSum, phasesToBytes, type Phases } from './hrr';

interface CachedBank {
  sum: PhaseSum;
  /** fact_count and a hash of the vector blob as last written by us. */
  signature: string;
}

const signatureOf = (factCount: number, vector: Uint8Array): string => `${factCount}:${Bun.hash(vector).toString(36)}`;

const bankName = (category: string): string => `cat:${category}`;

/**
 * Sums kept, most recently written first out last: each is 16 KiB at dim 1024, and categories are
 * the clients' to choose (one per conversation, say), so an unbounded cache grew ~19 MB per 1,000
 * categories. A category written again after being dropped is rebuilt from its facts once.
 */
export const MAX_CACHED_BANKS = 256;

/** Σ e^{iθ} as numpy's complex128 `tobytes()`: (re, im) float64 pairs, little-endian like every host Bun runs on. */
function complexSumBytes(sum: PhaseSum): Uint8Array {
  const out = new Uint8Array(sum.dim * 16);
  const view = new DataView(out.buffer);
  for (let i = 0; i < sum.dim; i++) {
    view.setFloat64(i * 16, sum.re[i] as number, true);
    view.setFloat64(i * 16 + 8, sum.im[i] as number, true);
  }
  return out;
}

export class BankCache {
  private banks = new Map<string, CachedBank>();
  /** Full rebuilds done (a statistic; tests and stats read it). */
  rebuilds = 0;

  constructor(private readonly dim: number = HRR_DIM, private readonly maxCached: number = MAX_CACHED_BANKS) {}

  /** Adds (sign 1) or removes (sign -1) one fact vector to its category's bank and writes the bank. */
  apply(sqlite: Database, category: string, vector: Phases, sign: 1 | -1): void {
    const name = bankName(category);
    const row = sqlite.query<{ vector: Uint8Array; fact_count: number | null }, [string]>('SELECT vector, fact_count FROM memory_banks WHERE bank_name = ?').get(name);
    const cached = this.banks.get(name);
    let sum: PhaseSum;
    if (cached && row && cached.signature === signatureOf(row.fact_count ?? 0, row.vector)) {
      sum = cached.sum.add(vector, sign);
    } else {
      // The fact being written is already in (or already out of) `facts` inside this transaction.
      sum = this.sumFromFacts(sqlite, category);
    }
    this.write(sqlite, name, sum);
  }

  /** Forget everything (after a failed transaction: what was cached may not have been committed). */
  clear(): void {
    this.banks.clear();
  }

  private sumFromFacts(sqlite: Database, category: string): PhaseSum {
    this.rebuilds++;
    const sum = new PhaseSum(this.dim);
    const rows = sqlite.query<{ hrr_vector: Uint8Array }, [string]>('SELECT hrr_vector FROM facts WHERE category = ? AND hrr_vector IS NOT NULL ORDER BY fact_id').iterate(category);
    for (const r of rows) {
      try {
        sum.add(bytesToPhases(r.hrr_vector, this.dim));
      } catch {
        // A vector of another dimension: the plugin would fail this rebuild; leave it out of the bank.
      }
    }
    return sum;
  }

  private write(sqlite: Database, name: string, sum: PhaseSum): void {
    if (sum.count <= 0) {
      sqlite.query('DELETE FROM memory_banks WHERE bank_name = ?').run(name);
      this.banks.delete(name);
      return;
    }
    const blob = phasesToBytes(sum.phases());
    sqlite
      .query(
        `INSERT INTO memory_banks (bank_name, vector, dim, fact_count, updated_at)
         VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)
         ON CONFLICT(bank_name) DO UPDATE SET vector = excluded.vector, dim = excluded.dim,
           fact_count = excluded.fact_count, updated_at = excluded.updated_at`,
      )
      .run(name, blob, this.dim, sum.count);
    // Asked on every write: the agent may add the column while we run.
    if (sqlite.query("SELECT 1 FROM pragma_table_info('memory_banks') WHERE name = 'vector_sum'").get()) {
      sqlite.query('UPDATE memory_banks SET vector_sum = ? WHERE bank_name = ?').run(complexSumBytes(sum), name);
    }
    // Re-inserted so the Map's order is least recently written first.
    this.banks.delete(name);
    this.banks.set(name, { sum, signature: signatureOf(sum.count, blob) });
    if (this.banks.size > this.maxCached) this.banks.delete(this.banks.keys().next().value as string);
  }
}
