/**
 * Skill records as a scan makes them (withKeys), without a tree on disk: for the saved index's tests and
 * benchmark, which need thousands of them. ~500 bytes each once saved.
 */
import { withKeys, type SkillRecord } from '../../src/modules/skills/scan';

/** `n` records; `tag` goes into every id and description, so two sets are told apart. */
export function skillRecords(n: number, tag = 'a'): SkillRecord[] {
  return Array.from({ length: n }, (_, i) =>
    withKeys({
      id: `category-${i % 20}.skill-${tag}-${i}`,
      name: `skill-${tag}-${i}`,
      description: `Runs task ${i % 50} (${tag}) against the staging cluster and reports what changed since the last run`,
      category: `category-${i % 20}`,
      tags: ['ops', `tag-${i % 30}`],
      version: '1.0.0',
      author: 'Hermes',
      platforms: ['linux', 'macos'],
      path: `/home/hermes/.hermes/skills/category-${i % 20}/skill-${tag}-${i}/SKILL.md`,
      source: 'local',
      error: null,
      stamp: [1_000_000 + i, 2048 + (i % 100), 1765100000000.123, 1765100000000.123],
      racy: false,
    }),
  );
}
