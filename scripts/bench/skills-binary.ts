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
 *
 * `delays`: the client waits that long after the banner before its /health and listing (a user who
 * opens the skills page a moment after a restart). `warm`: SKILLS_WARM of the server; off by default, so
 * that "first listing" means nothing was built before it. `compare`: another build, run alternately with
 * the first one (old/new pairs on a shared machine).
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
  /** Keyed by `binaryKind`. */
  [kind: string]: BinaryListing[];
}

export interface BinaryOptions {
  binary?: string;
  /** Another build, alternated with `binary` run by run; its kinds end in `/compare`. */
  compare?: string;
  /** ms between the banner and the client's first request; default [0]. */
  delays?: number[];
  /** SKILLS_WARM of the server (default false: nothing built before the listing). */
  warm?: boolean;
  upstreams?: Upstream[];
}

/** `saved/none` (the saved index, no upstream), then `/<delay>ms` when not 0 and `/compare` for the other build. */
export function binaryKind(saved: boolean, upstream: Upstream, delay = 0, compare = false): string {
  return `${saved ? 'saved' : 'none'}/${upstream}${delay ? `/${delay}ms` : ''}${compare ? '/compare' : ''}`;
}

const UNREACHABLE = 'http://127.0.0.1:9';

async function timed(url: string): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text.slice(0, 200)}`);
  return { ms: performance.now() - t0, text };
}

async function oneListing(binary: string, home: string, dataDir: string, upstream: string, delay: number, warm: boolean): Promise<BinaryListing> {
  const logFile = join(dataDir, 'stderr.log');
  const server = await spawnWithPort([binary, '--host', '127.0.0.1', '--port', '0'], {
    HERMES_HOME: home, OPTX_DATA_DIR: dataDir, HERMES_AGENT_URL: upstream, HERMES_API_KEY: 'bench-key', LOG_LEVEL: 'info', LOG_FORMAT: 'json', SKILLS_WARM: String(warm),
  }, /listening on http:\/\/[^:]+:(\d+)/, { stderrFile: logFile });
  let measured;
  try {
    const base = `http://127.0.0.1:${server.port}`;
    if (delay) await Bun.sleep(delay);
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
 * `processes` runs of each kind (no saved index / the one saved from `savePath`, its roots' file; each
 * upstream; each delay; each build), the kinds alternated so that a change in the machine's load touches them alike.
 */
export async function runBinaryListings(home: string, savePath: string, processes: number, opts: BinaryOptions = {}): Promise<BinaryRuns> {
  const builds = [{ binary: opts.binary ?? ensureBinary(), compare: false }, ...(opts.compare ? [{ binary: opts.compare, compare: true }] : [])];
  const dir = mkdtempSync(join(tmpdir(), 'optx-bench-skills-bin-'));
  let fake: Child | undefined;
  try {
    const wanted = opts.upstreams ?? ['none', 'fake'];
    if (wanted.includes('fake')) fake = await spawnWithPort(['bun', 'scripts/bench/serve-fake-hermes.ts'], {}, /port (\d+)/);
    const upstreams: Record<Upstream, string> = { none: UNREACHABLE, fake: `http://127.0.0.1:${fake?.port ?? 9}` };
    const runs: BinaryRuns = {};
    for (let i = 0; i < processes; i++) {
      for (const upstream of wanted) {
        for (const delay of opts.delays ?? [0]) {
          for (const saved of [false, true]) {
            for (const build of builds) {
              const kind = binaryKind(saved, upstream, delay, build.compare);
              // A data dir per kind, kept across its runs (a restart, not a first start); the index file is
              // put back or removed each time, since the server saves its own after listing.
              const dataDir = join(dir, kind.replaceAll('/', '-'));
              mkdirSync(dataDir, { recursive: true });
              // The file of the home's roots (saved-files.ts), where the server looks for it and saves it.
              for (const name of readdirSync(dataDir)) if (name.startsWith('skills-index')) rmSync(join(dataDir, name), { force: true });
              const roots = join(home, 'skills');
              if (saved) copyFileSync(indexFileFor(savePath, roots), indexFileFor(join(dataDir, SKILLS_INDEX_FILE), roots));
              (runs[kind] ??= []).push(await oneListing(build.binary, home, dataDir, upstreams[upstream], delay, opts.warm ?? false));
            }
          }
        }
      }
    }
    return runs;
  } finally {
    await fake?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
