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

function parseYaml(yaml: string): Record<string, unknown> | null {
  let parsed: unknown;
  try {
    parsed = Bun.YAML.parse(yaml);
  } catch {
    return null;
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

function list(v: unknown): string[] {
  const items = Array.isArray(v) ? v.map(text) : typeof v === 'string' ? v.split(',').map((s) => s.trim()) : [];
  return [...new Set(items.filter(Boolean))];
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

/** A file that cannot be read, decoded or parsed: listed under its folder name with `error`. */
export function brokenSkill(folder: string, body = ''): ParsedSkill {
  return {
    meta: { name: folder, description: firstBodyLine(body), tags: [], version: null, author: null, platforms: [] },
    frontmatter: null,
    error: 'parse_failed',
  };
}

/** Parses SKILL.md text; `folder` names the skill when the frontmatter does not. Never throws. */
export function parseSkill(content: string, folder: string): ParsedSkill {
  const split = splitFrontmatter(content);
  if (!split) return brokenSkill(folder);
  const fm = split.yaml === null ? {} : parseYaml(split.yaml);
  if (!fm) return brokenSkill(folder, split.body);
  const tags = list(fm.tags);
  return {
    meta: {
      name: text(fm.name) || folder,
      description: text(fm.description) || firstBodyLine(split.body),
      tags: tags.length ? tags : list(hermesTags(fm)),
      version: versionOf(fm.version, split.yaml ?? ''),
      author: authorOf(fm.author),
      platforms: list(fm.platforms),
    },
    frontmatter: fm,
    error: null,
  };
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
