/**
 * Config edit benchmark: a realistic 440-line config.yaml (comments, nested sections, lists, a flow
 * map), edited through the service as the routes do: a settings UI saving whole sections (a PATCH of
 * 80 leaves), a POST of 64 dot paths, and the largest bodies the 2,048-node bound lets through.
 * Each figure is the median of --rounds edits, the file restored between them.
 *
 *   bun scripts/bench/config-edit.ts [--rounds 7]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HermesHome } from '../../src/hermes/home';
import { ApiError } from '../../src/lib/errors';
import { silentLogger } from '../../src/lib/log';
import { ConfigService } from '../../src/modules/config/service';
import { flag, fmt, median, report } from './lib';

const rounds = flag('rounds', 7);

/** Sections as a Hermes config.yaml has them, `leaves` keys each, with comments and blank lines. */
function section(name: string, leaves: number): string {
  const lines = [`# ${name} settings`, `${name}:`];
  for (let i = 0; i < leaves; i++) {
    if (i % 5 === 0) lines.push(`  # group ${i / 5}`);
    lines.push(`  ${name}_key_${i}: ${i % 3 === 0 ? `"text ${i}"` : i % 3 === 1 ? i * 10 : 'true'}${i % 4 === 0 ? '   # note' : ''}`);
  }
  return `${lines.join('\n')}\n\n`;
}

function mcpServers(n: number): string {
  const lines = ['mcp_servers:'];
  for (let i = 0; i < n; i++) {
    lines.push(`  server${i}:`, `    command: npx`, `    args: ["-y", "@mcp/server-${i}"]`, `    env:`, `      LOG_LEVEL: info`, `      TIMEOUT: ${i}`, `    enabled: true   # on`);
  }
  return `${lines.join('\n')}\n\n`;
}

export function bigConfig(): string {
  const head = '# Hermes Agent configuration\n# Edited by hand; keep the comments.\n\nmodel:\n  default: anthropic/claude-sonnet-4   # the model\n  provider: openrouter\n  base_url: https://openrouter.ai/api/v1\n\ntoolsets:\n- hermes-cli\n- web\n\n';
  return head + section('display', 60) + section('terminal', 60) + section('memory', 60) + mcpServers(30) + section('compression', 40) + section('agent', 40);
}

const text = bigConfig();
const home = mkdtempSync(join(tmpdir(), 'bench-config-'));
const path = join(home, 'config.yaml');
const service = new ConfigService(new HermesHome(home), silentLogger);

const leaves = (name: string, n: number, v: (i: number) => unknown) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${name}_key_${i}`, v(i)]));

async function time(label: string, run: () => Promise<unknown>): Promise<void> {
  const ms: number[] = [];
  let outcome = 'ok';
  for (let r = 0; r < rounds; r++) {
    writeFileSync(path, text);
    const t0 = performance.now();
    try {
      await run();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      outcome = `${err.status} ${err.code}`;
    }
    ms.push(performance.now() - t0);
  }
  const value = `${fmt(median(ms), 1)} ms${outcome === 'ok' ? '' : ` (answered ${outcome})`}`;
  console.log(`${label.padEnd(64)} ${value}`);
  report({ area: 'config', metric: label, value });
}

try {
  console.log(`config.yaml: ${text.split('\n').length} lines, ${text.length} bytes; median of ${rounds}`);
  await time('PATCH of 4 sections, 80 leaves (settings UI save)', () =>
    service.patch({ display: leaves('display', 20, (i) => `v${i}`), terminal: leaves('terminal', 20, (i) => i), memory: leaves('memory', 20, () => false), mcp_servers: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`server${i}`, { enabled: false }])) }),
  );
  await time('POST updates of 64 dot paths', () => service.set({ updates: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`agent.agent_key_${i % 40}${i >= 40 ? `_new${i}` : ''}`, i])) }));
  await time('PATCH of every leaf of the file (300 leaves)', () =>
    service.patch(Object.fromEntries(['display', 'terminal', 'memory'].map((s) => [s, leaves(s, 60, (i) => i)]).concat([['compression', leaves('compression', 40, () => 1)], ['agent', leaves('agent', 40, () => 2)]]))),
  );
  await time('PATCH of 2,046 new keys into one map (body bound)', () => service.patch({ display: Object.fromEntries(Array.from({ length: 2046 }, (_, i) => [`n${i}`, i])) }));
  await time('POST updates of 2,047 paths, 2 per existing map key', () =>
    service.set({ updates: Object.fromEntries(Array.from({ length: 2047 }, (_, i) => [`${['display', 'terminal', 'memory'][i % 3]}.x${i}`, i])) }),
  );
  // Paths that each go through what the one before set: every one needs the file as the one before left it.
  const chain: Record<string, unknown> = {};
  for (let i = 0; i < 1000; i++) {
    chain[`c${i}`] = null;
    chain[`c${i}.k`] = i;
  }
  await time('POST updates of 2,000 paths, each pair dependent (c.k after c)', () => service.set({ updates: chain }));
  const deep: Record<string, unknown> = {};
  for (let d = 1; d <= 32; d++) deep[Array.from({ length: d }, () => 'd').join('.')] = d === 32 ? 1 : null;
  await time('POST updates of 32 nested paths (d, d.d, d.d.d, …)', () => service.set({ updates: deep }));
  if (readFileSync(path, 'utf8') === text) console.log('(the last edit left the file unchanged)');
} finally {
  rmSync(home, { recursive: true, force: true });
}
