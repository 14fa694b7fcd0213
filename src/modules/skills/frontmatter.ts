/**
 * Reading one SKILL.md (SPEC §8): YAML frontmatter between `---` lines, then a markdown body.
 * `name` defaults to the folder name, `description` to the first body line that is not a heading,
 * tags come from `tags` or else `metadata.hermes.tags` (a list, or a comma-separated string).
 *
 * Frontmatter is parsed with Bun's native YAML parser: it is roughly ten times faster than the yaml
 * package, which matters when a cold listing parses thousands of files. A frontmatter whose aliases
 * make it cyclic or exponentially large counts as broken: it could not be sent as JSON.
 */

export interface SkillMeta {
  name: string;
  description: string;
  tags: string[];
  version: string | null;
  author: string | null;
  platforms: string[];
}

export interface ParsedSkill {
  meta: SkillMeta;
  /** null when the file is broken. */
  frontmatter: Record<string, unknown> | null;
  error: 'parse_failed' | null;
}

const OPEN = /^---[ \t]*\r?\n/;
const CLOSE = /^---[ \t]*(?:\r?\n|$)/m;
const MAX_NODES = 10_000;

/** `{yaml, body}`; `yaml` is null when there is no frontmatter, and the whole result null when it never closes. */
function splitFrontmatter(text: string): { yaml: string | null; body: string } | null {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const open = OPEN.exec(src);
  if (!open) return { yaml: null, body: src };
  const rest = src.slice(open[0].length);
  const close = CLOSE.exec(rest);
  if (!close) return null;
  return { yaml: rest.slice(0, close.index), body: rest.slice(close.index + close[0].length) };
}

/**
 * True when the tree is small enough to send as JSON. Bun's parser returns plain objects and arrays,
 * but YAML aliases can share nodes (an alias bomb) or make cycles; counting visits against a budget
 * catches both without copying anything (a cycle simply never ends within the budget).
 */
function fitsBudget(root: unknown): boolean {
  let left = MAX_NODES;
  const stack: unknown[] = [root];
  while (stack.length) {
    const v = stack.pop();
    if (--left < 0) return false;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) for (const item of v) stack.push(item);
    else for (const k in v) stack.push((v as Record<string, unknown>)[k]);
  }
  return true;
}

/** The frontmatter map; null when it is not a map or too big, `undefined` when it does not parse. */
function parseYaml(yaml: string): Record<string, unknown> | null | undefined {
  let parsed: unknown;
  try {
    parsed = Bun.YAML.parse(yaml);
  } catch {
    return undefined;
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed) || !fitsBudget(parsed)) return null;
  return parsed as Record<string, unknown>;
}

function text(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** A list, or a string read as Hermes reads `tags`: `a, b` or `[a, "b"]`. */
function list(v: unknown): string[] {
  let items: string[] = [];
  if (Array.isArray(v)) items = v.map(text);
  else if (typeof v === 'string') {
    const s = v.trim();
    const inner = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
    items = inner.split(',').map((item) => withoutEndQuotes(item.trim()));
  }
  return [...new Set(items.filter(Boolean))];
}

/**
 * The item without the quotes at either end. A scan, not `/["']+$/`: the regex tried every start in a
 * run of quotes inside an item and read the run to its end from each, so a hub skill whose `tags`
 * held `x`, 60,000 quotes and `x` kept a cold listing busy 6 s.
 */
function withoutEndQuotes(item: string): string {
  const isQuote = (c: string | undefined) => c === '"' || c === "'";
  let start = 0;
  let end = item.length;
  while (start < end && isQuote(item[start])) start++;
  while (end > start && isQuote(item[end - 1])) end--;
  return item.slice(start, end);
}

/**
 * What Hermes reads from frontmatter its YAML parser refuses (most often an unquoted colon, as in
 * `description: Use when: …`): each `key: value` line split at its first colon. The skill keeps the
 * name the agent knows it by, and is matched against skills.disabled with it, while still flagged
 * parse_failed. *Choice:* one pair of quotes around a value is dropped (Hermes keeps them).
 */
function fallbackFields(yaml: string): Record<string, unknown> {
  const fields: Record<string, unknown> = Object.create(null);
  for (const line of yaml.trim().split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const value = line.slice(colon + 1).trim();
    fields[line.slice(0, colon).trim()] = /^(["']).*\1$/.test(value) && value.length > 1 ? value.slice(1, -1) : value;
  }
  return fields;
}

function firstBodyLine(body: string): string {
  let at = 0;
  while (at < body.length) {
    const nl = body.indexOf('\n', at);
    const line = body.slice(at, nl < 0 ? body.length : nl).trim();
    if (line && !line.startsWith('#')) return line;
    if (nl < 0) break;
    at = nl + 1;
  }
  return '';
}

/** `version: 1.10` parses as the number 1.1; the text of the file is what the author meant. */
function versionOf(v: unknown, yaml: string): string | null {
  if (typeof v === 'number') {
    const raw = /^version:[ \t]*([0-9][^\s#]*)/m.exec(yaml);
    return raw ? (raw[1] as string) : String(v);
  }
  return text(v) || null;
}

function authorOf(v: unknown): string | null {
  if (Array.isArray(v)) return list(v).join(', ') || null;
  return text(v) || null;
}

function hermesTags(fm: Record<string, unknown>): unknown {
  const metadata = fm.metadata;
  if (!metadata || typeof metadata !== 'object') return undefined;
  const hermes = (metadata as Record<string, unknown>).hermes;
  return hermes && typeof hermes === 'object' ? (hermes as Record<string, unknown>).tags : undefined;
}

function metaOf(fm: Record<string, unknown>, folder: string, body: string, yaml: string): SkillMeta {
  const tags = list(fm.tags);
  return {
    name: text(fm.name) || folder,
    description: text(fm.description) || firstBodyLine(body),
    tags: tags.length ? tags : list(hermesTags(fm)),
    version: versionOf(fm.version, yaml),
    author: authorOf(fm.author),
    platforms: list(fm.platforms),
  };
}

/** A file that cannot be read, decoded or parsed: listed with `error`, under its folder name unless `fields` name it. */
export function brokenSkill(folder: string, body = '', fields: Record<string, unknown> = {}): ParsedSkill {
  return { meta: metaOf(fields, folder, body, ''), frontmatter: null, error: 'parse_failed' };
}

/** Parses SKILL.md text; `folder` names the skill when the frontmatter does not. Never throws. */
function parseSkill(content: string, folder: string): ParsedSkill {
  const split = splitFrontmatter(content);
  if (!split) return brokenSkill(folder);
  const yaml = split.yaml ?? '';
  const fm = split.yaml === null ? {} : parseYaml(yaml);
  if (fm === undefined) return brokenSkill(folder, split.body, fallbackFields(yaml));
  if (!fm) return brokenSkill(folder, split.body);
  return { meta: metaOf(fm, folder, split.body, yaml), frontmatter: fm, error: null };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A file that is not UTF-8 is broken (Hermes reads SKILL.md as UTF-8 and skips one that is not). */
export function parseSkillBytes(bytes: Uint8Array, folder: string): ParsedSkill {
  let content: string;
  try {
    content = strictUtf8.decode(bytes);
  } catch {
    return brokenSkill(folder);
  }
  return parseSkill(content, folder);
}
