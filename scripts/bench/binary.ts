/**
 * The compiled executable: time from spawn to the first 200 from /health, idle RSS after start-up,
 * and the file size. Builds dist/hermes-optx-api first if it is missing.
 *
 * Most of the RSS is the executable's own pages, and how many of them a process maps depends on how
 * the file came into the page cache: right after it was written (a build, a copy onto the host) the
 * kernel maps ~5 MB more of it than when it was read from disk (after a reboot, or once its pages were
 * evicted). Both are measured, on a fresh copy of the executable each round: first as written, then
 * after evicting its pages (`dd iflag=nocache`, which needs GNU coreutils).
 *
 * The agent home is a fresh one with a small config.yaml (a model, an MCP server, skills settings) as a
 * real agent has: /health reports whether MCP servers are configured, so the first /health parses it.
 *   bun scripts/bench/binary.ts [--runs 5]
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flag, fmt, median, report, ROOT, rssMb, writeAgentConfig } from './lib';

export interface BinaryResult {
  /** First start: the data dir and the agent's memory file are created and migrated. */
  startMs: number;
  /** A restart on an existing data dir, the usual case for a deployed sidecar. */
  restartMs: number;
  /** Started right after the executable was written (copied). */
  idleRssMb: number;
  /** The part of RSS that is not the mapped executable (heap, JIT code, buffers). */
  idleAnonMb: number;
  /** Started with the executable's pages evicted first, as after a reboot; null when eviction failed. */
  idleRssFromDiskMb: number | null;
  sizeMb: number;
}

const BINARY = join(ROOT, 'dist/hermes-optx-api');

async function oneRun(binary: string, port: number, home: string): Promise<{ startMs: number; rss: number; anon: number }> {
  const t0 = performance.now();
  const proc = Bun.spawn([binary, '--host', '127.0.0.1', '--port', String(port)], {
    env: { PATH: process.env.PATH ?? '', HERMES_HOME: home, HERMES_AGENT_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'warn' },
    stdout: 'ignore',
    stderr: 'ignore',
  });
  let startMs = NaN;
  while (performance.now() - t0 < 10_000) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.status === 200) {
        startMs = performance.now() - t0;
        break;
      }
    } catch {
      // not listening yet
    }
    await Bun.sleep(1);
  }
  await Bun.sleep(2000); // settle: first probe done, JIT quiet
  const rss = await rssMb(proc.pid);
  const anon = await rssMb(proc.pid, 'RssAnon');
  proc.kill('SIGTERM');
  await proc.exited;
  return { startMs, rss, anon };
}

/** Drops the executable's pages from the page cache (written back first, since dirty pages stay). */
function evictFromPageCache(file: string): boolean {
  const sync = Bun.spawnSync(['sync', file]);
  const dd = Bun.spawnSync(['dd', `if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  return sync.exitCode === 0 && dd.exitCode === 0;
}

/** dist/hermes-optx-api, built first if it is missing. */
export function ensureBinary(): string {
  if (!existsSync(BINARY)) {
    const b = Bun.spawnSync(['bun', 'run', 'build'], { cwd: ROOT });
    if (b.exitCode !== 0) throw new Error('build failed');
  }
  return BINARY;
}

export async function runBinaryBench(runs = 5): Promise<BinaryResult> {
  ensureBinary();
  const starts: number[] = [];
  const rss: number[] = [];
  const anon: number[] = [];
  const restarts: number[] = [];
  const fromDisk: number[] = [];
  let evicted = true;
  // A port the system just handed out and that nothing holds (a random one could be taken, and /health
  // would then be answered by whatever holds it).
  const port = () => {
    const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    const p = s.port;
    s.stop(true);
    return p;
  };
  const dir = mkdtempSync(join(tmpdir(), 'optx-bench-bin-'));
  try {
    for (let i = 0; i < runs; i++) {
      const home = mkdtempSync(join(dir, 'home-'));
      writeAgentConfig(home);
      const copy = join(dir, `hermes-optx-api-${i}`);
      copyFileSync(BINARY, copy);
      const r = await oneRun(copy, port(), home);
      starts.push(r.startMs);
      rss.push(r.rss);
      anon.push(r.anon);
      restarts.push((await oneRun(copy, port(), home)).startMs);
      evicted &&= evictFromPageCache(copy);
      if (evicted) fromDisk.push((await oneRun(copy, port(), home)).rss);
      rmSync(copy); // ~120 MB each: not kept until the end
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    startMs: median(starts), restartMs: median(restarts), idleRssMb: median(rss), idleAnonMb: median(anon),
    idleRssFromDiskMb: evicted ? median(fromDisk) : null, sizeMb: statSync(BINARY).size / 1024 / 1024,
  };
}

if (import.meta.main) {
  const r = await runBinaryBench(flag('runs', 5));
  console.log('binary: dist/hermes-optx-api');
  console.log(`  start → first healthy /health  ${fmt(r.startMs, 1)} ms first start, ${fmt(r.restartMs, 1)} ms restart (medians)   target < 200 ms`);
  console.log(`  idle RSS, executable just copied        ${fmt(r.idleRssMb, 1)} MB (anonymous ${fmt(r.idleAnonMb, 1)} MB)   target < 60 MB`);
  console.log(`  idle RSS, executable read from disk     ${r.idleRssFromDiskMb === null ? 'not measured: its pages could not be evicted (needs GNU dd)' : `${fmt(r.idleRssFromDiskMb, 1)} MB`}`);
  console.log(`  size                           ${fmt(r.sizeMb, 1)} MB`);
  report({ area: 'binary', metric: 'start → first healthy /health: first start (creates the data) / restart', value: `${fmt(r.startMs, 1)} / ${fmt(r.restartMs, 1)} ms`, target: '< 200 ms', ok: r.startMs < 200 && r.restartMs < 200 });
  report({ area: 'binary', metric: 'idle RSS, executable just written (built or copied onto the host; of which anonymous)', value: `${fmt(r.idleRssMb, 1)} MB (${fmt(r.idleAnonMb, 1)} MB)`, target: '< 60 MB', ok: r.idleRssMb < 60 });
  if (r.idleRssFromDiskMb === null) report({ area: 'binary', metric: 'idle RSS, executable read from disk (as after a reboot)', value: 'not measured (no GNU dd to evict the file)', target: '< 60 MB', ok: false });
  else report({ area: 'binary', metric: 'idle RSS, executable read from disk (as after a reboot)', value: `${fmt(r.idleRssFromDiskMb, 1)} MB`, target: '< 60 MB', ok: r.idleRssFromDiskMb < 60 });
  report({ area: 'binary', metric: 'size', value: `${fmt(r.sizeMb, 1)} MB` });
}
