/**
 * Skills listing benchmark: builds a realistic tree (categories, support folders, a few broken files),
 * then measures a cold listing (a new index: every SKILL.md read and parsed), a warm listing (nothing
 * changed; and for comparison with every SKILL.md stat'ed on each request), the listing right
 * after one new skill appears, and the warm HTTP round trip of
 * GET /api/skills (routing, the kept JSON text, reading the body). Targets: 2,000 skills under 50 ms
 * cold, 2 ms warm (the whole answer).
 *
 *   bun scripts/bench/skills.ts [--skills 2000] [--categories 20] [--rounds 5] [--warm 500]
 */
import { report } from './lib';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { closeDeps, openDeps } from '../../src/deps';
import { HermesHome } from '../../src/hermes/home';
import { silentLogger } from '../../src/lib/log';
import { RACY_MS } from '../../src/modules/skills/stamps';
import { SkillsIndex } from '../../src/modules/skills/service';

const { values } = parseArgs({
  options: {
    skills: { type: 'string', default: '2000' },
    categories: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    warm: { type: 'string', default: '500' },
  },
});
const SKILLS = Number(values.skills);
const CATEGORIES = Number(values.categories);
const ROUNDS = Number(values.rounds);
const WARM = Number(values.warm);

const body = Array.from({ length: 30 }, (_, i) => `Step ${i}: do the thing carefully and check the result before going on.`).join('\n');

function skillText(c: number, s: number): string {
  if (s % 250 === 7) return `---\nname: [broken\n---\n${body}\n`;
  return `---
name: skill-${c}-${s}
description: Does task ${s} of category ${c} with care
version: 1.${s % 10}.0
author: Hermes Bench
platforms: [linux, macos]
tags: [bench, cat${c}, t${s % 13}]
metadata:
  hermes:
    tags: [extra]
    related_skills: [skill-${c}-${s + 1}]
---
# Skill ${s}

${body}
`;
}

function buildHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'optx-bench-skills-'));
  const perCategory = Math.ceil(SKILLS / CATEGORIES);
  let made = 0;
  for (let c = 0; c < CATEGORIES && made < SKILLS; c++) {
    for (let s = 0; s < perCategory && made < SKILLS; s++, made++) {
      const dir = join(home, 'skills', `category-${c}`, `skill-${s}`);
      mkdirSync(join(dir, 'references'), { recursive: true });
      writeFileSync(join(dir, 'SKILL.md'), skillText(c, s));
      writeFileSync(join(dir, 'references', 'notes.md'), '# notes\n');
      if (s % 5 === 0) {
        mkdirSync(join(dir, 'scripts'));
        writeFileSync(join(dir, 'scripts', 'run.sh'), 'echo hi\n');
      }
    }
  }
  return home;
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `median ${at(0.5).toFixed(3)} ms  p95 ${at(0.95).toFixed(3)} ms  min ${(s[0] as number).toFixed(3)} ms  mean ${mean.toFixed(3)} ms  (n=${s.length})`;
}

async function time(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs fn n times, one after the other. */
async function repeat(n: number, fn: (i: number) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

/** CPU time of this process (every thread, user + system) for fn: the reads run on Bun's I/O threads. */
async function cpuTime(fn: () => unknown): Promise<number> {
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

const home = buildHome();
try {
  // Let directory timestamps age past the racy window so warm numbers show the steady state.
  await Bun.sleep(RACY_MS + 100);
  const hermes = new HermesHome(home);
  let listed = 0;
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${navigator.hardwareConcurrency} cores`);
  const cold = await repeat(ROUNDS, () => time(async () => (listed = (await new SkillsIndex(hermes).list({ offset: 0 })).total)));
  console.log(`skills listed: ${listed}`);
  console.log(`cold  (new index)        ${stats(cold)}`);
  const coldCpu = await repeat(ROUNDS, () => cpuTime(() => new SkillsIndex(hermes).list({ offset: 0 })));
  console.log(`cold  CPU time           ${stats(coldCpu)}`);

  const index = new SkillsIndex(hermes);
  await index.list({ offset: 0 });
  const warm = await repeat(WARM, () => time(() => index.list({ offset: 0 })));
  console.log(`warm  (nothing changed)  ${stats(warm)}`);
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  report({ area: 'skills', metric: `list ${listed} skills, cold (every file read and parsed)`, value: `${mid(cold).toFixed(1)} ms`, target: '< 50 ms', ok: mid(cold) < 50 });
  const filtered = await repeat(WARM, (i) => time(() => index.list({ search: `task ${i % 50}`, offset: 0 })));
  console.log(`warm  (search filter)    ${stats(filtered)}`);
  // What the once-a-second SKILL.md recheck saves: stat'ing every file on every request instead.
  const eager = new SkillsIndex(hermes, { eagerLimit: Number.POSITIVE_INFINITY });
  await eager.list({ offset: 0 });
  const eagerWarm = await repeat(Math.min(WARM, 50), () => time(() => eager.list({ offset: 0 })));
  console.log(`warm, every SKILL.md stat'ed each time (not the default) ${stats(eagerWarm)}`);

  const added = await repeat(ROUNDS, (i) => {
    const dir = join(home, 'skills', 'category-0', `added-${i}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'SKILL.md'), skillText(0, 100_000 + i));
    return time(() => index.list({ offset: 0 }));
  });
  console.log(`after a new SKILL.md     ${stats(added)}`);

  const req = loadConfig({ argv: [], env: { HERMES_HOME: home, OPTX_DATA_DIR: join(home, 'data'), LOG_LEVEL: 'silent' }, cwd: home, home });
  if (req.kind !== 'run') throw new Error('unexpected CLI request');
  const deps = await openDeps(req.config, { log: silentLogger });
  const app = createApp(deps);
  await (await app.handle(new Request('http://localhost/api/skills'))).text();
  const http: number[] = [];
  for (let i = 0; i < Math.min(WARM, 200); i++) {
    const t0 = performance.now();
    await (await app.handle(new Request('http://localhost/api/skills'))).text();
    http.push(performance.now() - t0);
  }
  console.log(`warm HTTP GET /api/skills (whole response, JSON) ${stats(http)}`);
  // What a client waits for when nothing changed: the whole HTTP answer, not only the index lookup.
  report({ area: 'skills', metric: `list ${listed} skills, warm: whole GET /api/skills answer (index lookup alone ${mid(warm).toFixed(3)} ms)`, value: `${mid(http).toFixed(3)} ms`, target: '< 2 ms', ok: mid(http) < 2 });
  closeDeps(deps);
} finally {
  rmSync(home, { recursive: true, force: true });
}
