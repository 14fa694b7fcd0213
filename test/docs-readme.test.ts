/**
 * The README as a new user reads it: the requests of "First requests" are sent to the real app (with a
 * fake Hermes 0.17 upstream) as curl sends them, and each answer is checked against the `# →` line
 * under it; the configuration table is checked against the variable table `--help` prints.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { helpText } from '../src/config';
import { VARS, type VarDef } from '../src/config/vars';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { makeTestApp, readSse, type TestApp } from './helpers/app';

const ROOT = join(import.meta.dir, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text of a `## ` section, up to the next one. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no "## ${title}" section`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

interface Example {
  line: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  status: number;
  shown: string;
}

/** The curl lines of the section's first `sh` block, each with the `# → <status> <answer>` line under it. */
function examples(): Example[] {
  const block = /```sh\n([\s\S]*?)```/.exec(section('First requests'))?.[1] ?? '';
  const lines = block.split('\n').filter((l) => l.trim());
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const line = lines[i] as string;
    const answer = /^# → (\d{3}) (.+)$/.exec(lines[i + 1] ?? '');
    if (!answer) throw new Error(`no "# → <status> <answer>" line under: ${line}`);
    out.push({ line, ...parseCurl(line), status: Number(answer[1]), shown: answer[2] as string });
  }
  return out;
}

/** The few curl options the README uses; any other stops the test, so the examples stay checkable. */
function parseCurl(line: string): Omit<Example, 'line' | 'status' | 'shown'> {
  const words = [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? (m[2] as string));
  if (words.shift() !== 'curl') throw new Error(`not a curl command: ${line}`);
  let method: string | undefined;
  let body: string | undefined;
  let url: string | undefined;
  const headers: Record<string, string> = {};
  while (words.length) {
    const w = words.shift() as string;
    if (w === '-s' || w === '-N' || w === '-sN') continue;
    if (w === '-X') method = words.shift();
    else if (w === '-d') body = words.shift();
    else if (w === '-H') {
      const [name, ...value] = (words.shift() as string).split(':');
      headers[(name as string).toLowerCase()] = value.join(':').trim();
    } else if (!w.startsWith('-') && !url) url = w;
    else throw new Error(`curl option the test does not know: ${w} (in ${line})`);
  }
  const path = /^(?:http:\/\/)?localhost:8643(\/.*)$/.exec(url ?? '')?.[1];
  if (!path) throw new Error(`expected a localhost:8643 URL: ${line}`);
  // curl -d labels its body as a form; the sidecar reads JSON whatever the label (README, "Choices").
  if (body !== undefined) headers['content-type'] ??= 'application/x-www-form-urlencoded';
  return { method: method ?? (body === undefined ? 'GET' : 'POST'), path, headers, body };
}

const MORE = '…';

/** A shown answer as JSON: a trailing `…` in an object or list becomes a marker meaning "and more". */
function shownJson(text: string): unknown {
  return JSON.parse(text.replace(/,\s*…\s*\}/g, `,"${MORE}":true}`).replace(/,\s*…\s*\]/g, `,"${MORE}"]`));
}

/** Where `actual` differs from what the README shows: extra fields only where it shows `…`, strings with `…` as patterns. */
function differences(shown: unknown, actual: unknown, at = '$'): string[] {
  if (typeof shown === 'string' && shown.includes(MORE)) {
    const [head, ...rest] = shown.split(MORE);
    const tail = rest.at(-1) ?? '';
    const ok = typeof actual === 'string' && actual.startsWith(head as string) && actual.endsWith(tail);
    return ok ? [] : [`${at}: ${JSON.stringify(actual)} does not match ${JSON.stringify(shown)}`];
  }
  if (Array.isArray(shown)) {
    if (!Array.isArray(actual)) return [`${at}: expected a list, got ${JSON.stringify(actual)}`];
    const open = shown.at(-1) === MORE;
    const items = open ? shown.slice(0, -1) : shown;
    if (open ? actual.length < items.length : actual.length !== items.length) return [`${at}: ${actual.length} items, the README shows ${items.length}${open ? ' or more' : ''}`];
    return items.flatMap((s, k) => differences(s, actual[k], `${at}[${k}]`));
  }
  if (shown && typeof shown === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return [`${at}: expected an object, got ${JSON.stringify(actual)}`];
    const { [MORE]: open, ...fields } = shown as Record<string, unknown>;
    const got = actual as Record<string, unknown>;
    const problems = Object.entries(fields).flatMap(([k, v]) => (k in got ? differences(v, got[k], `${at}.${k}`) : [`${at}.${k}: missing`]));
    if (!open) problems.push(...Object.keys(got).filter((k) => !(k in fields)).map((k) => `${at}.${k}: sent but not shown`));
    return problems;
  }
  return Object.is(shown, actual) ? [] : [`${at}: ${JSON.stringify(actual)}, the README shows ${JSON.stringify(shown)}`];
}

describe('README "First requests"', () => {
  let fake: FakeHermes;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeHermes({ version: '0.17' });
    t = await makeTestApp({ env: { HERMES_AGENT_URL: fake.url, HERMES_API_KEY: fake.apiKey ?? '' } });
    await t.deps.probe.probeNow();
  });
  afterAll(async () => {
    t.close();
    await fake.stop();
  });

  test('the section has requests to check, each with its answer line', () => {
    expect(examples().length).toBeGreaterThanOrEqual(5);
  });

  test('the checker itself: a renamed field, an unshown field and a wrong status are caught', () => {
    expect(differences(shownJson('{"a":1,…}'), { a: 1, b: 2 })).toEqual([]);
    expect(differences(shownJson('{"a":1}'), { a: 1, b: 2 })).toEqual(['$.b: sent but not shown']);
    expect(differences(shownJson('{"id":"task_…"}'), { id: 'esc_1' })).not.toEqual([]);
    expect(differences(shownJson('{"r":[{"x":1,…}],…}'), { r: [{ x: 1, y: 2 }], t: 1 })).toEqual([]);
    expect(differences(shownJson('{"r":[{"x":1,…}]}'), { r: [] })).not.toEqual([]);
  });

  test('each request answers what the line under it shows, in order', async () => {
    const problems: string[] = [];
    for (const ex of examples()) {
      const res = await t.fetch(ex.path, { method: ex.method, headers: ex.headers, body: ex.body });
      if (res.status !== ex.status) problems.push(`${ex.line}: status ${res.status}, the README shows ${ex.status}`);
      if (ex.shown.startsWith('event:')) {
        const shown = [...ex.shown.matchAll(/event: ([\w.]+)/g)].map((m) => m[1]);
        const sent = (await readSse(res)).map((f) => f.event);
        // The shown events in order, the last one last: `…` between them stands for any others.
        let k = 0;
        for (const name of sent) if (name === shown[k]) k++;
        if (k < shown.length || sent.at(-1) !== shown.at(-1)) problems.push(`${ex.line}: events ${sent.join(', ')}, the README shows ${shown.join(' … ')}`);
      } else {
        problems.push(...differences(shownJson(ex.shown), await res.json()).map((d) => `${ex.line}: ${d}`));
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('README configuration table and --help', () => {
  const byEnv = new Map((VARS as readonly VarDef[]).map((v) => [v.env, v]));
  /** `[default: …]` of each variable as --help prints it ('' when none). */
  const helpDefaults = new Map(
    helpText()
      .split('\n')
      .map((l) => /^ {2}(?:--[a-z-]+ <value> \| )?([A-Z][A-Z0-9_]+) .*?(?:\[default: (.*)\])?$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => [m[1] as string, m[2] ?? '']),
  );
  const rows = section('Configuration')
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| flag'))
    .map((l) => l.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, '')));

  /** A README default as --help writes it: no backticks, sizes in bytes, "none"/"—" as no default. */
  const normal = (text: string) => {
    const t = text.replace(/`/g, '').trim();
    const mib = /^(\d+) MiB$/.exec(t);
    if (mib) return String(Number(mib[1]) * 1024 * 1024);
    if (t === 'none' || t === '—') return '';
    if (t === 'off') return 'false';
    return t.toLowerCase();
  };

  test('every variable and flag of the table exists, with the flag --help gives it, and the same default', () => {
    expect(rows.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const [flagCell = '', varCell = '', defaultCell = ''] of rows) {
      const vars = [...varCell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] as string);
      for (const name of vars) if (!byEnv.has(name)) problems.push(`${name}: in the README table, unknown to --help`);
      const flags = [...flagCell.matchAll(/`(--[a-z-]+)`/g)].map((m) => m[1]);
      const helpFlags = vars.map((n) => byEnv.get(n)?.flag).filter(Boolean);
      if (flags.join() !== helpFlags.join()) problems.push(`${vars.join(', ')}: README flags ${flags.join() || 'none'}, --help ${helpFlags.join() || 'none'}`);
      // One default per variable, in order ("30, 5"; "`0.0.0.0` / `8643`"); the last may itself hold commas.
      const parts = defaultCell.split(/ \/ |, /);
      const defaults = [...parts.slice(0, vars.length - 1), parts.slice(vars.length - 1).join(', ')];
      vars.forEach((name, k) => {
        const want = (helpDefaults.get(name) ?? '').toLowerCase();
        if (normal(defaults[k] ?? '') !== want) problems.push(`${name}: README default "${defaults[k]}", --help "${helpDefaults.get(name)}"`);
      });
    }
    expect(problems).toEqual([]);
  });

  test('every flag is in the table, and every variable --help lists is described in README.md or docs/', () => {
    const docs = [README, ...readdirSync(join(ROOT, 'docs')).map((f) => readFileSync(join(ROOT, 'docs', f), 'utf8'))].join('\n');
    const table = rows.map((r) => r.join(' | ')).join('\n');
    const missing = (VARS as readonly VarDef[]).flatMap((v) => [
      ...(v.flag && !table.includes(`\`${v.flag}\``) ? [`${v.flag} is not in the README table`] : []),
      ...(!docs.includes(v.env) ? [`${v.env} is described nowhere`] : []),
    ]);
    expect(missing).toEqual([]);
  });
});
