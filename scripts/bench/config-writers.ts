/**
 * config.yaml edited by the sidecar while Hermes writes it too: a Python process writing the way
 * Hermes does (hermes_config_writer.py: load, set one key, dump the whole tree, os.replace, copy in
 * place when the rename fails) adds `h_k<i>` keys in a loop while POST /api/config adds `a_k<j>` keys
 * and GET /api/config runs alongside. Prints how many acknowledged edits of each side survived and
 * what the GETs answered. Needs python3 with PyYAML; --bind (config.yaml bind-mounted as a file of its
 * own, as `docker run -v ./config.yaml:…` does) needs root. Not part of `bun run bench`: it counts
 * outcomes, not time (docs/skills-config.md, "Hermes writing config.yaml too").
 *
 *   bun scripts/bench/config-writers.ts [--bind] [--posts 300] [--hermes 300]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { closeDeps, openDeps } from '../../src/deps';
import { silentLogger } from '../../src/lib/log';

const { values } = parseArgs({
  options: { bind: { type: 'boolean', default: false }, posts: { type: 'string', default: '300' }, hermes: { type: 'string', default: '300' } },
});
const dir = mkdtempSync(join(tmpdir(), 'optx-cfgwriters-'));
const home = join(dir, 'home');
mkdirSync(home);
const config = join(home, 'config.yaml');
const base = 'base: keep\nmodel:\n  default: m\n' + Array.from({ length: 60 }, (_, i) => `pad_${i}: value number ${i}\n`).join('');
let file = config;
if (values.bind) {
  file = join(dir, 'host-config.yaml');
  writeFileSync(file, base);
  writeFileSync(config, '');
  if (Bun.spawnSync(['mount', '--bind', file, config]).exitCode !== 0) throw new Error('mount --bind failed (needs root)');
} else writeFileSync(config, base);

const req = loadConfig({ argv: [], env: { HERMES_HOME: home, OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' }, cwd: dir, home: dir });
if (req.kind !== 'run') throw new Error('unexpected CLI request');
const deps = await openDeps(req.config, { log: silentLogger });
const app = createApp(deps);
const call = async (method: string, body?: unknown) => {
  const res = await app.handle(new Request('http://localhost/api/config', { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined }));
  return { status: res.status, body: (await res.json()) as { code?: string; config?: Record<string, unknown> } };
};

const hermes = Bun.spawn(['python3', join(import.meta.dir, 'hermes_config_writer.py'), config, 'h', values.hermes as string], { stdout: 'pipe', stderr: 'inherit' });
const posts: Record<string, number> = {};
const gets: Record<string, number> = {};
const acked: string[] = [];
let running = true;
const getter = (async () => {
  while (running) {
    const r = await call('GET');
    const c = r.body.config;
    const kind = r.status !== 200 ? `${r.status} ${r.body.code}` : c?.base === 'keep' && c.pad_59 === 'value number 59' ? 'whole' : Object.keys(c ?? {}).length ? 'partial' : 'empty';
    gets[kind] = (gets[kind] ?? 0) + 1;
    await Bun.sleep(0);
  }
})();
for (let j = 0; j < Number(values.posts); j++) {
  const r = await call('POST', { key: `a_k${j}`, value: j });
  const kind = r.status === 200 ? '200' : `${r.status} ${r.body.code}`;
  posts[kind] = (posts[kind] ?? 0) + 1;
  if (r.status === 200) acked.push(`a_k${j}`);
  await Bun.sleep(0);
}
const h = JSON.parse(await new Response(hermes.stdout).text()) as { done: number; bad_reads: number };
await hermes.exited;
running = false;
await getter;
let final: Record<string, unknown> | null = null;
try {
  final = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
} catch {
  // reported as corrupt below
}
const hermesKept = final ? Object.keys(final).filter((k) => k.startsWith('h_k')).length : 0;
console.log(
  JSON.stringify(
    {
      bind: values.bind,
      posts,
      sidecar_edits_acknowledged: acked.length,
      sidecar_edits_lost: final ? acked.filter((k) => !(k in final)).length : null,
      hermes_writes: h.done,
      hermes_refused_reads: h.bad_reads,
      hermes_writes_lost: final ? h.done - hermesKept : null,
      final_file: final === null ? 'does not parse' : final.base === 'keep' ? 'whole' : 'lost content',
      gets,
    },
    null,
    2,
  ),
);
closeDeps(deps);
if (values.bind) Bun.spawnSync(['umount', '-l', config]);
rmSync(dir, { recursive: true, force: true });
