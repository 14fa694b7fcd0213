/** Shared helpers for the benchmarks: child processes that announce their port, timing, statistics. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dir, '../..');

/**
 * A small config.yaml as a real agent home has one (a model, an MCP server, skills settings). /health
 * reports whether MCP servers are configured, so a sidecar's first /health parses it.
 */
const AGENT_CONFIG_YAML = `# Hermes Agent configuration
model:
  default: anthropic/claude-sonnet-4
  provider: openrouter
  base_url: https://openrouter.ai/api/v1
toolsets: [hermes-cli]
mcp_servers:
  github:
    command: npx
    args: ["-y", "@modelcontextprotocol/server-github"]
    env:
      GITHUB_PERSONAL_ACCESS_TOKEN: ghp_not_a_real_token_0000
skills:
  external_dirs: []
  disabled: []
`;

export function writeAgentConfig(home: string): void {
  writeFileSync(join(home, 'config.yaml'), AGENT_CONFIG_YAML);
}

export interface Child {
  proc: Bun.Subprocess<'ignore', 'pipe', 'ignore'>;
  port: number;
  stop(): Promise<void>;
  /** Everything the child wrote to stdout so far (the banner, later status lines). */
  output(): string;
}

export interface SpawnOptions {
  /** A file for the child's stderr (a benchmark reading the access log's timings); discarded without one. */
  stderrFile?: string;
  /** How long the child has to announce its port (default 15 s). */
  deadlineMs?: number;
}

/**
 * Spawns a process and waits for `pattern` (with one capture group: the port) on its stdout.
 * Its stderr (request logs) is discarded, as a deployment would ship it elsewhere, unless `stderrFile`
 * says where to write it. A child that exits or stays silent past the deadline is stopped and the call
 * fails: a benchmark reports it, rather than waiting forever with the child left running.
 */
export async function spawnWithPort(cmd: string[], env: Record<string, string>, pattern: RegExp, opts: SpawnOptions = {}): Promise<Child> {
  const { stderrFile, deadlineMs = 15_000 } = opts;
  const stderr = stderrFile ? Bun.file(stderrFile) : 'ignore';
  const proc = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: 'pipe', stderr, cwd: ROOT }) as Child['proc'];
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let out = '';
  let port = 0;
  // A read waits for the child's next output: the deadline must end the wait itself, not only the loop.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<{ done: true; value: undefined }>((resolve) => {
    timer = setTimeout(() => resolve({ done: true, value: undefined }), deadlineMs);
  });
  try {
    while (!port) {
      const { value, done } = await Promise.race([reader.read(), late]);
      if (done) break;
      out += dec.decode(value, { stream: true });
      const m = pattern.exec(out);
      if (m) port = Number(m[1]);
    }
  } finally {
    clearTimeout(timer);
  }
  if (!port) {
    proc.kill('SIGKILL');
    await proc.exited;
    await reader.cancel().catch(() => {});
    throw new Error(`${cmd.join(' ')} did not announce a port within ${deadlineMs / 1000} s: ${out}`);
  }
  reader.releaseLock();
  // Keep draining stdout so the child never blocks on a full pipe; kept for output().
  void proc.stdout.pipeTo(new WritableStream({ write: (chunk) => void (out += dec.decode(chunk, { stream: true })) }));
  return {
    proc,
    port,
    async stop() {
      proc.kill('SIGTERM');
      await proc.exited;
    },
    output: () => out,
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

export const fmt = (n: number, digits = 2) => n.toFixed(digits);

/** RSS of a process in MB, from /proc (Linux); `field` RssAnon gives the part that is not mapped files. */
export async function rssMb(pid: number, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

export function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/**
 * The largest gap between 1 ms timer ticks while `work` runs (how long it held the event loop at once),
 * and the time `work` took.
 */
export async function loopStall(work: () => Promise<unknown> | void): Promise<{ gap: number; took: number }> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  try {
    await Bun.sleep(5);
    last = performance.now();
    gap = 0;
    const t = performance.now();
    await work();
    const took = performance.now() - t;
    await Bun.sleep(3);
    return { gap: Math.max(gap, performance.now() - last), took };
  } finally {
    // A throwing `work` must not leave the probe ticking: a bench that catches it would never exit.
    clearInterval(timer);
  }
}

export interface BenchRow {
  area: string;
  metric: string;
  value: string;
  target?: string;
  /** Whether the target is met; absent for figures without a target. */
  ok?: boolean;
}

/** One machine-readable line per figure; `bun run bench` collects them into docs/benchmarks.md. */
export function report(row: BenchRow): void {
  console.log(`BENCH_ROW ${JSON.stringify(row)}`);
}
