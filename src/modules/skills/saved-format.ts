/**
 * The saved skills index's file (saved.ts; docs/skills-config.md, "Kept across restarts"), format 4: one
 * JSON object, as format 3, laid out a record a line:
 *   {"version":4,"keys":…,"rootsKey":…,"count":N,"skills":[
 *   [first record]
 *   ,[each other record]
 *   ]}
 * Format 3 had no newlines, and its one `JSON.parse` held the event loop of the paced warm-up ~70–110 ms at
 * 20,000 skills (7.8 MB). A listing waiting for the file still parses it whole (what costs it least); the
 * paced warm-up parses a chunk of lines at a time, wrapped in `[` `]`: JSON.stringify escapes every newline
 * inside a string, so a newline byte always ends a record, and it is never part of a multi-byte UTF-8
 * sequence, so each chunk is decoded alone.
 *
 * Each record is saved as a positional array with its sort and search keys, so loading does not work them out
 * again (withKeys, scan.ts): with named fields and the keys folded at load, loading 2,000 records took ~20 ms
 * of a new process's first listing. The keys depend on foldKey and the runtime's Unicode tables, so the file
 * names both (`keys`); a file made with others is not used.
 */
import { FOLD_KEY_VERSION } from '../../lib/text';
import { isNullableString, isString, isStrings } from './model';
import type { SkillRecord } from './scan';
import { rootsHash } from './saved-files';
import type { FileStamp } from './stamps';

/** Raise when a record's fields or their meaning, or the file's layout, change: a file of another version is not used. */
export const SAVED_FORMAT = 4;
/**
 * The records as one JSON object: read (in one piece) once after an upgrade, and saved again as format 4.
 * Its rows are format 4's: a change to the rows (SAVED_FORMAT raised past 4) must stop reading it.
 */
const ONE_PIECE_FORMAT = 3;
/**
 * Paced, a step parses at least this much text, up to the end of a line (~65 records): ~0.6 ms (median)
 * in a new process, so a slice (pace.ts, 4 ms) ends close to its time.
 */
const CHUNK_BYTES = 32 * 1024;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
/** The file's last line, after the records. */
const TAIL = ']}';

/**
 * What the saved keys were folded with: foldKey's version and the runtime's Unicode version (normalize and
 * toLowerCase follow its tables). A file whose `keys` differ would not match the keys a scan makes now.
 * Not foldKey run on a sample: the first normalize() of a process loads ICU data, ~4 ms, which an ASCII tree never needs.
 */
export const keysTag = (): string => `${FOLD_KEY_VERSION}/${process.versions.unicode ?? '?'}`;

/** A record as saved: every field but `racy`, in this order; `searchKeys` is `[name, description, ...tagKeys]`. */
type SavedRow = [
  id: string, name: string, description: string, category: string | null, tags: string[], version: string | null, author: string | null,
  platforms: string[], path: string, source: 'local' | 'external', error: 'parse_failed' | null, stamp: FileStamp,
  sortKey: string, nameKey: string, descriptionKey: string, tagKeys: string[], categoryKey: string | null,
];
const ROW_LENGTH = 17;

const isStamp = (v: unknown): v is FileStamp =>
  Array.isArray(v) && v.length === 4 && Number.isFinite(v[0]) && Number.isFinite(v[1]) && Number.isFinite(v[2]) && Number.isFinite(v[3]);

/** Each row checked by hand: as a zod object per record, 2,000 records took 50 ms of CPU in a new process. */
function isSavedRow(v: unknown): v is SavedRow {
  return Array.isArray(v) && v.length === ROW_LENGTH && isString(v[0]) && isString(v[1]) && isString(v[2]) && isNullableString(v[3]) &&
    isStrings(v[4]) && isNullableString(v[5]) && isNullableString(v[6]) && isStrings(v[7]) && isString(v[8]) &&
    (v[9] === 'local' || v[9] === 'external') && (v[10] === null || v[10] === 'parse_failed') && isStamp(v[11]) &&
    isString(v[12]) && isString(v[13]) && isString(v[14]) && isStrings(v[15]) && v[15].length === v[4].length && isNullableString(v[16]) &&
    (v[16] === null) === (v[3] === null);
}

const toRow = (r: SkillRecord): SavedRow => [
  r.id, r.name, r.description, r.category, r.tags, r.version, r.author, r.platforms, r.path, r.source, r.error, r.stamp,
  r.sortKey, r.searchKeys[0] as string, r.searchKeys[1] as string, r.tagKeys, r.categoryKey,
];

const fromRow = (w: SavedRow): SkillRecord => ({
  id: w[0], name: w[1], description: w[2], category: w[3], tags: w[4], version: w[5], author: w[6], platforms: w[7], path: w[8],
  source: w[9], error: w[10], stamp: w[11], racy: false, sortKey: w[12], searchKeys: [w[13], w[14], ...w[15]], tagKeys: w[15], categoryKey: w[16],
});

/** The file's text, a part per record (saved-write.ts writes them a slice per turn); records read while racy are left out. */
export function* savedText(rootsKey: string, skills: readonly SkillRecord[]): Generator<string> {
  const kept = skills.filter((r) => !r.racy);
  const head = JSON.stringify({ version: SAVED_FORMAT, keys: keysTag(), rootsKey: rootsHash(rootsKey), count: kept.length, skills: [] });
  yield `${head.slice(0, -2)}\n`;
  let first = true;
  for (const r of kept) {
    yield `${first ? '' : ','}${JSON.stringify(toRow(r))}\n`;
    first = false;
  }
  yield `${TAIL}\n`;
}

/** The records by path, and whether the file is of this format (one of an older format is to be saved again). */
export interface Loaded {
  records: Map<string, SkillRecord>;
  current: boolean;
}

/**
 * The whole object (`skills` holding every record), or the header line's (`skills` empty: the records
 * follow), checked by hand; a string says why the file is not used.
 */
function checkHead(json: unknown, rootsKey: string, whole: boolean): string | { count: number; rows: SavedRow[] } {
  const f = json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  if (f.version !== SAVED_FORMAT && f.version !== ONE_PIECE_FORMAT) return `format version ${JSON.stringify(f.version) ?? 'missing'}, not ${SAVED_FORMAT}`;
  const count = f.version === SAVED_FORMAT ? f.count : Array.isArray(f.skills) ? f.skills.length : undefined;
  const rows = Array.isArray(f.skills) && (whole || f.skills.length === 0) && f.skills.every(isSavedRow);
  if (!isString(f.keys) || !isString(f.rootsKey) || !Number.isSafeInteger(count) || (count as number) < 0 || !rows) return 'not the expected shape';
  if (f.keys !== keysTag()) return 'search keys folded by another version';
  if (f.rootsKey !== rootsHash(rootsKey)) return 'made for other skill roots';
  if (whole && count !== (f.skills as unknown[]).length) return `torn: ${(f.skills as unknown[]).length} of the ${count} records its header counts`;
  return { count: count as number, rows: f.skills as SavedRow[] };
}

/**
 * Adds the records of a chunk of lines (its leading comma dropped) to `records`; returns how many, or why the
 * file is not used.
 */
function addChunk(lines: string, records: Map<string, SkillRecord>): number | string {
  let rows: unknown[];
  try {
    rows = JSON.parse(`[${lines}]`) as unknown[];
  } catch {
    return 'not whole JSON';
  }
  if (!rows.every(isSavedRow)) return 'not the expected shape';
  for (const row of rows as SavedRow[]) records.set(row[8], fromRow(row));
  return rows.length;
}

/** The whole object in one JSON.parse: a file read whole, or one of format 3 (one line, no newline). */
function parseWhole(text: string, rootsKey: string): Loaded | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'not whole JSON';
  }
  const checked = checkHead(json, rootsKey, true);
  if (typeof checked === 'string') return checked;
  const current = (json as { version: unknown }).version === SAVED_FORMAT;
  // Cut at its last newline it still parses, and the paced load refuses it: a torn file is never used either way.
  if (current && !text.endsWith(`\n${TAIL}\n`)) return 'torn: it does not end with its last line';
  const records = new Map<string, SkillRecord>();
  for (const row of checked.rows) records.set(row[8], fromRow(row));
  return { records, current };
}

/**
 * The records the file holds for these roots, or why they cannot be used. Read whole (a listing waits
 * for it): one JSON.parse, as format 3 was parsed. Read as bytes (paced): the header line, then a chunk of
 * lines per step (the paced warm-up gives the event loop a turn between steps).
 */
export function* parseSteps(file: string | Buffer, rootsKey: string): Generator<void, Loaded | string> {
  const headEnd = typeof file === 'string' ? -1 : file.indexOf(NEWLINE);
  if (headEnd < 0) return parseWhole(typeof file === 'string' ? file : file.toString('utf8'), rootsKey);
  const bytes = file as Buffer;
  let head: unknown;
  try {
    head = JSON.parse(`${bytes.toString('utf8', 0, headEnd)}${TAIL}`);
  } catch {
    return 'not whole JSON';
  }
  const checked = checkHead(head, rootsKey, false);
  if (typeof checked === 'string') return checked;
  const records = new Map<string, SkillRecord>();
  // The records' lines end where the last line, TAIL, begins; a file that does not end with it is torn.
  const stop = bytes.length - TAIL.length - 1;
  if (stop <= headEnd || bytes.toString('utf8', stop - 1) !== `\n${TAIL}\n`) return 'torn: it does not end with its last line';
  let count = 0;
  for (let start = headEnd + 1; start < stop; ) {
    yield;
    const end = bytes.indexOf(NEWLINE, Math.min(start + CHUNK_BYTES, stop - 1));
    // Every record's line but the first begins with a comma: a chunk after the first drops it.
    const first = start === headEnd + 1;
    if (end === start || (bytes[start] === COMMA) === first) return 'not the expected shape';
    const added = addChunk(bytes.toString('utf8', first ? start : start + 1, end), records);
    if (typeof added === 'string') return added;
    count += added;
    if (count > checked.count) return `more records than its header counts (${checked.count})`;
    start = end + 1;
  }
  if (count !== checked.count) return `torn: ${count} of the ${checked.count} records its header counts`;
  return { records, current: true };
}
