/**
 * `facts.search_text` of Hermes' holographic plugin versions with CJK search
 * (plugins/memory/holographic/cjk_tokenize.py): the lower-cased content and tags cut into runs of
 * CJK characters and runs of `[A-Za-z0-9_.]`, every CJK run of two or more characters as its
 * overlapping bigrams, joined by spaces. Their FTS5 table indexes this column beside content and tags,
 * and their search turns a query into the same bigrams, so a fact whose search_text is empty is never
 * found by a CJK word inside a sentence. Ported character for character: the two sides must agree.
 *
 * The ranges are the plugin's (they include CJK punctuation such as `。` and `：`, which therefore join
 * a run). All are in the BMP, so a run holds no surrogate pair and slicing by UTF-16 unit is slicing
 * by character, as in Python. Lower-casing only matters for the ASCII run class here, and JavaScript's
 * toLowerCase gives what Python's str.lower gives for every character that lower-cases into it
 * (`K` Kelvin → `k`, `İ` → `i` + U+0307).
 */
import type { Database } from 'bun:sqlite';

const RUN = /[\u2e80-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+|[A-Za-z0-9_.]+/gu;
const CJK_FIRST = /^[\u2e80-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]/u;

/** tokenize_for_index: CJK runs as overlapping bigrams (a single character alone), other runs whole. */
export function tokenizeForIndex(text: string): string[] {
  if (!text) return [];
  const tokens: string[] = [];
  for (const [run] of text.toLowerCase().matchAll(RUN)) {
    if (!CJK_FIRST.test(run) || run.length === 1) {
      tokens.push(run);
      continue;
    }
    for (let i = 0; i < run.length - 1; i++) tokens.push(run.slice(i, i + 2));
  }
  return tokens;
}

/** build_search_text: the tokens of the content, then those of the comma-separated tags. */
export function buildSearchText(content: string, tags: string): string {
  return [...tokenizeForIndex(content), ...tokenizeForIndex(tags)].join(' ');
}

/**
 * The search_text of a new fact when the file's `facts` has that column, else null (the column is
 * the plugin's to add; an older file is written as before). Asked on every write: the agent adds the
 * column, and rebuilds its index with it, when a newer plugin first opens the file while we run.
 */
export function searchTextIfIndexed(sqlite: Database, content: string, tags: string): string | null {
  const has = sqlite.query("SELECT 1 FROM pragma_table_info('facts') WHERE name = 'search_text'").get() !== null;
  return has ? buildSearchText(content, tags) : null;
}
