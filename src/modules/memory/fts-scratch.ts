/**
 * Text matching for the backend that has no FTS5 of its own (spacetimedb), decided by FTS5 itself: the
 * rows read go into an in-memory FTS5 table with the tokenizer the other two backends index with, and
 * each query term is the phrase they MATCH. Matching with JavaScript's idea of FTS5's words differed:
 * FTS5 keeps Greek accents, splits Indic words at their vowel signs, removes only a single accent from
 * a Latin letter and folds case with Unicode 6.1 tables, so spacetimedb found `Οδυσσευς` in
 * `Ὀδυσσεύς` (and more) where holographic and sqlite do not.
 */
import { Database } from 'bun:sqlite';
import { ftsMatchExpression, substringTerms } from './query-text';

let scratch: Database | null = null;

/** For each document, how many of `terms` occur in its content or tags, as FTS5 matches them (or as substrings, query-text.ts). */
export function termHits(docs: { content: string; tags: string }[], terms: string[]): number[] {
  const db = (scratch ??= open());
  const hits = docs.map(() => 0);
  // Synchronous from BEGIN to ROLLBACK, so no other search can see or add rows in between.
  db.run('BEGIN');
  try {
    const insert = db.query('INSERT INTO docs (rowid, content, tags) VALUES (?, ?, ?)');
    docs.forEach((d, i) => insert.run(i, d.content, d.tags));
    const match = db.query<{ rowid: number }, [string]>('SELECT rowid FROM docs WHERE docs MATCH ?');
    for (const term of terms) {
      const found = new Set(match.all(ftsMatchExpression([term])).map((r) => r.rowid));
      // A CJK or Thai word inside a longer run is a substring, as the other backends look for it.
      const [forms] = substringTerms([term]);
      if (forms) docs.forEach((d, i) => forms.some((f) => d.content.includes(f) || d.tags.includes(f)) && found.add(i));
      for (const i of found) hits[i] = (hits[i] ?? 0) + 1;
    }
  } finally {
    db.run('ROLLBACK');
  }
  return hits;
}

function open(): Database {
  const db = new Database(':memory:');
  db.run('CREATE VIRTUAL TABLE docs USING fts5(content, tags)');
  return db;
}
