/**
 * The saved skills index's text (src/modules/skills/saved-format.ts, format 4: one JSON object, its
 * header on the first line, then a record a line, all but the first after a comma, then `]}`) taken
 * apart and put back, for tests that spoil or edit it.
 */
export interface SavedIndexFile {
  head: Record<string, unknown>;
  rows: unknown[][];
}

export function parseSavedIndex(text: string): SavedIndexFile {
  const { skills, ...head } = JSON.parse(text) as { skills: unknown[][] };
  return { head, rows: skills };
}

/** The file's text; `count` is the rows' number unless given (a test may make it lie). */
export function savedIndexText({ head, rows }: SavedIndexFile): string {
  const top = JSON.stringify({ ...head, count: head.count ?? rows.length, skills: [] }).slice(0, -2);
  return `${top}\n${rows.map((r, i) => `${i ? ',' : ''}${JSON.stringify(r)}\n`).join('')}]}\n`;
}

/** The same records as format 3 wrote them: one JSON object on one line. */
export function onePieceText({ head, rows }: SavedIndexFile): string {
  const { count: _, ...rest } = head;
  return JSON.stringify({ ...rest, version: 3, skills: rows });
}
