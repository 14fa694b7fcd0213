/**
 * The first GET /api/skills of a freshly started compiled executable (dist/hermes-optx-api), as a user
 * meets the listing after a restart. Used by scripts/bench/skills.ts, which builds the tree.
 *
 * Timed by the server itself: the access log's `ms` (src/main.ts: from the request reaching the
 * server to the response it returns; LOG_LEVEL=info, as deployed by default), no debug build needed.
 * Beside it, from the client over one keep-alive connection: a GET /health right after the banner,
 * then GET /api/skills, the listing's round trip minus the /health one. That difference is not
 * comparable between builds: code shared by both routes that a build compiles lazily is paid by
 * /health and so subtracted (`bun` on the sources: its /health took ~30 ms more than the binary's).
 *
 * The executable starts with the JIT reluctant and restores the normal policy once its first upstream
 * probe has settled (scripts/build.ts, src/main.ts), which it announces with the `upstream mode:`
 * line: whether that line was out before the listing was asked for is recorded with each run.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinary } from './binary';
import { spawnWithPort, type Child } from './lib';
import { SKILLS_INDEX_FILE } from '../../src/modules/skills/saved';
import { indexFileFor } from '../../src/modules/skills/saved-files';

export interface BinaryListing {
  /** The server's own time for GET /api/skills (its access log). */
  ms: number;
  /** GET /api/skills round trip minus the GET /health one before it. */
  diffMs: number;
  healthMs: number;
  skillsMs: number;
  /** The first probe had settled (JIT policy restored) before GET /api/skills was sent. */
  switched: boolean;
  total: number;
}

export type Upstream = 'none' | 'fake';
export interface BinaryRuns {
  /** Keyed `${saved ? 'saved' : 'none'}/${upstream}`. */
  [kind: string]: BinaryListing[];
}

const UNREACHABLE = 'http://127.0.0.1:9';

async function timed(url: string): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text.slice(0, 200)}`);
  return { ms: performance.now() - t0, text };
}

async function oneListing(binary: string, home: string, dataDir: string, upstream: string): Promise<BinaryListing> {
  const logFile = join(dataDir, 'stderr.log');
  const server = await spawnWithPort([binary, '--host', '127.0.0.1', '--port', '0'], {
    HERMES_HOME: home, OPTX_DATA_DIR: dataDir, HERMES_AGENT_URL: upstream, HERMES_API_KEY: 'bench-key', LOG_LEVEL: 'info', LOG_FORMAT: 'json',
  }, /listening on http:\/\/[^:]+:(\d+)/, { stderrFile: logFile });
  let measured;
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const health = await timed(`${base}/health`);
    const switched = server.output().includes('upstream mode:');
    const skills = await timed(`${base}/api/skills`);
    const { total } = JSON.parse(skills.text) as { total: number };
    measured = { diffMs: skills.ms - health.ms, healthMs: health.ms, skillsMs: skills.ms, switched, total };
  } finally {
    await server.stop();
  }
  const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"path":"/api/skills"'));
  if (!line) throw new Error(`no access log line for GET /api/skills in ${logFile}`);
  return { ms: (JSON.parse(line) as { ms: number }).ms, ...measured };
}

/**
 * `processes` runs of each kind (no saved index / the one saved from `savePath`, its roots' file; no upstream reachable / the
 * fake Hermes up), the kinds alternated so that a change in the machine's load touches them alike.
 */
export async function runBinaryListings(home: string, savePath: string, processes: number, binary = ensureBinary()): Promise<BinaryRuns> {
  const dir = mkdtempSync(join(tmpdir(), 'optx-bench-skills-bin-'));
  let fake: Child | undefined;
  try {
    fake = await spawnWithPort(['bun', 'scripts/bench/serve-fake-hermes.ts'], {}, /port (\d+)/);
    const upstreams: Record<Upstream, string> = { none: UNREACHABLE, fake: `http://127.0.0.1:${fake.port}` };
    const runs: BinaryRuns = {};
    for (let i = 0; i < processes; i++) {
      for (const upstream of ['none', 'fake'] as const) {
        for (const saved of [false, true]) {
          const kind = `${saved ? 'saved' : 'none'}/${upstream}`;
          // A data dir per kind, kept across its runs (a restart, not a first start); the index file is
          // put back or removed each time, since the server saves its own after listing.
          const dataDir = join(dir, kind.replace('/', '-'));
          mkdirSync(dataDir, { recursive: true });
          // The file of the home's roots (saved-files.ts), where the server looks for it and saves it.
          for (const name of readdirSync(dataDir)) if (name.startsWith('skills-index')) rmSync(join(dataDir, name), { force: true });
          const roots = join(home, 'skills');
          if (saved) copyFileSync(indexFileFor(savePath, roots), indexFileFor(join(dataDir, SKILLS_INDEX_FILE), roots));
          (runs[kind] ??= []).push(await oneListing(binary, home, dataDir, upstreams[upstream]));
        }
      }
    }
    return runs;
  } finally {
    await fake?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
