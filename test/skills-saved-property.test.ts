/**
 * The saved skills index (since format 2) holds each record's sort and search keys as a scan made them: a new
 * process listing from it must answer exactly as one that scans the tree afresh, whatever the names,
 * tags and categories hold (accents, NFD, full-width, CJK, ß, İ, case).
 */
import { afterAll, describe, expect, spyOn, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { HermesHome } from '../src/hermes/home';
import { Pace } from '../src/modules/skills/pace';
import { SkillsIndex } from '../src/modules/skills/service';
import { RACY_MS } from '../src/modules/skills/stamps';
import { tempDir } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';

const root = tempDir('optx-skills-saved-prop-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PIECES = ['a', 'B', 'docker', 'Café', 'Cafe\u0301', 'ＦＵＬＬ', 'full', 'ß', 'SS', 'İ', 'i', 'ﬁ', 'データ', 'ﾃﾞｰﾀ', 'Ωmega', 'ÉCOLE', ' ', '-', 'z'];
const word = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 4 }).map((p) => p.join(''));
const CATEGORIES = ['ops', 'OPS', 'Ops', 'Café', 'Cafe\u0301', 'ＯＰＳ', 'データ', 'straße'];
const skill = fc.record({
  category: fc.option(fc.constantFrom(...CATEGORIES), { nil: null }),
  folder: word,
  name: word,
  description: word,
  tags: fc.array(word, { maxLength: 3 }),
});
type Skill = typeof skill extends fc.Arbitrary<infer T> ? T : never;
const skills10 = fc.array(skill, { minLength: 1, maxLength: 10 });
const asked4 = fc.array(fc.oneof(word, fc.constantFrom(...CATEGORIES)), { maxLength: 4 });
const queries = (pieces: readonly string[]) => [
  '',
  ...pieces.flatMap((p) => [`search=${encodeURIComponent(p)}`, `tag=${encodeURIComponent(p)}`, `category=${encodeURIComponent(p)}`]),
];

const writeSkill = (home: string, rel: string, s: { name: string; description: string; tags: string[] }) =>
  writeFile(join(home, 'skills', rel, 'SKILL.md'), skillMd({ name: JSON.stringify(s.name), description: JSON.stringify(s.description), tags: JSON.stringify(s.tags) }));

/** Saves the index of `home`'s tree under `dir` (its clock counting every stamp settled); makes indexes of that home, with or without the saved file. */
async function savedIndex(home: string, dir: string): Promise<(saved: boolean) => SkillsIndex> {
  const savePath = join(dir, 'skills-index.json');
  const now = () => Date.now() + RACY_MS + 1000;
  const make = (saved: boolean) => new SkillsIndex(new HermesHome(home), saved ? { savePath, now } : { now });
  const saving = make(true);
  await saving.listJson({ offset: 0 });
  saving.flushSave();
  return make;
}

let run = 0;
describe('a listing from the saved index is the listing of a fresh scan', () => {
  test('the same JSON text for every filter, and the same skill by id, also after skills were added or edited', async () => {
    await fc.assert(
      fc.asyncProperty(skills10, asked4, fc.array(fc.tuple(fc.nat(), skill), { maxLength: 3 }), async (skills, asked, edits) => {
        const dir = join(root, `run${run++}`);
        const home = join(dir, 'home');
        const write = (s: Skill, i: number) => {
          const rel = s.category === null ? `${s.folder}-${i}` : `${s.category}/${s.folder}-${i}`;
          writeSkill(home, rel, s);
        };
        skills.forEach(write);
        const make = await savedIndex(home, dir);
        // While no process runs: skills added, or edited in place (same folder) after a timestamp tick, as
        // skills-saved.test.ts does, so the edit moves the stamp (the saving index's clock counts them settled).
        if (edits.length) await Bun.sleep(25);
        for (const [at, s] of edits) {
          const i = at % skills.length;
          const { category, folder } = skills[i] as Skill;
          if (at % 2) write(s, skills.length + at);
          else write({ ...s, category, folder }, i);
        }
        const fresh = make(false);
        const loaded = make(true);
        const qs = queries([...asked, ...skills.flatMap((s) => [s.tags[0] ?? s.name, s.category ?? s.description])]);
        const answer = async (index: SkillsIndex) => {
          const out: string[] = [];
          for (const q of qs) out.push(await index.listJson({ ...Object.fromEntries(new URLSearchParams(q)), offset: 0 }));
          const ids = (JSON.parse(out[0] as string) as { skills: { id: string }[] }).skills.map((s) => s.id);
          for (const id of ids) out.push(JSON.stringify(await index.get(id)));
          return out;
        };
        const a = await answer(fresh);
        const b = await answer(loaded);
        expect(loaded.filesRead).toBeLessThanOrEqual(edits.length);
        expect(b).toEqual(a);
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 60 },
    );
  });

  // Format 4 (saved-format.ts): the paced warm-up parses the file a chunk of lines at a time, split at newline
  // bytes. Text JSON escapes (newlines, quotes) or keeps raw (U+2028/U+2029, NEL), half an emoji, and a
  // record longer than a chunk must come back exactly as the one-piece parse and a fresh scan give them.
  test('loaded by the paced warm-up too, whatever the text holds', async () => {
    const PIECES_RAW = ['a', '\n', '\r\n', '\u2028', '\u2029', '\u0085', '\ud800', '\udc00', '😀', '"', '\\', ',', ']', '[', '\t', 'é', 'x'.repeat(40_000)];
    const text = fc.array(fc.constantFrom(...PIECES_RAW), { minLength: 1, maxLength: 4 }).map((p) => p.join(''));
    const raw = fc.record({ category: fc.option(fc.constantFrom('ops', 'data'), { nil: null }), name: text, description: text, tags: fc.array(text, { maxLength: 2 }) });
    // Every slice used up at once: a turn of the event loop between all the load's steps.
    const due = spyOn(Pace.prototype, 'due').mockImplementation(function (this: Pace) {
      return !this.urgent;
    });
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(raw, { minLength: 1, maxLength: 40 }), async (skills) => {
          const dir = join(root, `run${run++}`);
          const home = join(dir, 'home');
          skills.forEach((s, i) => {
            const rel = s.category === null ? `f${i}` : `${s.category}/f${i}`;
            writeSkill(home, rel, s);
          });
          const make = await savedIndex(home, dir);
          const expected = await make(false).listJson({ offset: 0 });
          const warmed = make(true);
          await warmed.warm();
          const onePiece = make(true);
          expect([await warmed.listJson({ offset: 0 }), warmed.filesRead]).toEqual([expected, 0]);
          expect([await onePiece.listJson({ offset: 0 }), onePiece.filesRead]).toEqual([expected, 0]);
          rmSync(dir, { recursive: true, force: true });
        }),
        { numRuns: 30 },
      );
    } finally {
      due.mockRestore();
    }
  });
});
