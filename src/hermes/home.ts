/**
 * The agent's home directory (`HERMES_HOME`): where its files are, and a cached read of its
 * `config.yaml` that notices edits by modification time, size and inode (an atomic rename by the
 * config editor or by Hermes gives a new inode even within one clock tick).
 *
 * config.yaml is read the way Hermes (PyYAML) reads it: YAML 1.1 (`yes`/`on` are booleans, merge
 * keys work) and a repeated key is not an error (the last one wins).
 */
import { statSync } from 'node:fs';
import { readRegularFileSync } from '../lib/files';
import { join } from 'node:path';
import { parseDocument, type DocumentOptions, type ParseOptions, type SchemaOptions, type Tags } from 'yaml';

const YAML_BOOL = 'tag:yaml.org,2002:bool';
const YAML_FLOAT = 'tag:yaml.org,2002:float';

/**
 * The yaml package's YAML 1.1 schema, brought in line with PyYAML where they differ on values a
 * Hermes config really holds: `y`/`n` stay strings (PyYAML has no such booleans), and a float needs a
 * digit — the package reads `cwd: .` as NaN, PyYAML as the string ".".
 */
function pyyamlTags(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag !== 'object' || !('test' in tag) || !tag.test) return tag;
    if (tag.tag === YAML_BOOL) {
      const test = tag.test.test('true') ? /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/ : /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/;
      return { ...tag, test };
    }
    if (tag.tag === YAML_FLOAT && !tag.format && tag.test.test('1.5') && tag.test.test('.')) {
      return { ...tag, test: /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]*[0-9][0-9_]*)$/ };
    }
    return tag;
  });
}

export const HERMES_YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = { version: '1.1', uniqueKeys: false, customTags: pyyamlTags };

/** An agent file (config.yaml, .env) that cannot be used; callers treat both kinds below alike. */
export class ConfigFileError extends Error {}

/**
 * config.yaml does not parse. The message names the line and column but never quotes the file:
 * the offending line may hold a secret.
 */
export class ConfigParseError extends ConfigFileError {
  override name = 'ConfigParseError';
  constructor(readonly reason: string, readonly line: number | null, readonly column: number | null) {
    super(`config.yaml does not parse: ${reason}${line ? ` (line ${line}, column ${column})` : ''}.`);
  }
}

/** The file exists but cannot be read: not a regular file (a directory, a FIFO), no permission, an I/O error. */
export class ConfigUnreadableError extends ConfigFileError {
  override name = 'ConfigUnreadableError';
  constructor(file: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | null)?.code;
    const reason = code === 'ENOTREG' || code === 'EISDIR' ? 'it is not a regular file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? String(cause));
    super(`${file} cannot be read: ${reason}.`, { cause });
  }
}

/** Reads an agent file; a missing one is null, one that cannot be read a ConfigUnreadableError. */
export function readAgentFile(path: string, name: string): string | null {
  try {
    return readRegularFileSync(path).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigUnreadableError(name, err);
  }
}

/** Parses config text; a syntax error becomes a ConfigParseError without any source text in it. */
export function parseHermesYaml(text: string): ReturnType<typeof parseDocument> {
  const doc = parseDocument(text, HERMES_YAML_OPTIONS);
  const err = doc.errors[0];
  if (err) {
    // yaml's messages end with " at line L, column C:" and a quoted excerpt of the source; keep the reason only.
    const reason = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '').trim() || err.code;
    const pos = err.linePos?.[0];
    throw new ConfigParseError(reason, pos?.line ?? null, pos?.col ?? null);
  }
  return doc;
}

/** The plain tree of a parsed config: `{}` for an empty file or a root that is not a map. */
export function configTreeOf(doc: ReturnType<typeof parseDocument>): ConfigTree {
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Unresolved aliases and alias bombs surface here, not in doc.errors.
    throw new ConfigParseError((err as Error).message.split('\n')[0] ?? 'unreadable YAML', null, null);
  }
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as ConfigTree) : {};
}

export interface HermesPaths {
  home: string;
  config: string;
  env: string;
  stateDb: string;
  skills: string;
}

export function hermesPaths(home: string): HermesPaths {
  return {
    home,
    config: join(home, 'config.yaml'),
    env: join(home, '.env'),
    stateDb: join(home, 'state.db'),
    skills: join(home, 'skills'),
  };
}

export type ConfigTree = Record<string, unknown>;

export class HermesHome {
  readonly paths: HermesPaths;
  private cache: { key: string; tree: ConfigTree } | null = null;

  constructor(home: string) {
    this.paths = hermesPaths(home);
  }

  /**
   * The parsed config.yaml; `{}` when the file does not exist. A file that exists but does not parse
   * or cannot be read throws a ConfigFileError, so callers decide whether that is an error for them.
   * The tree is shared by every caller: never mutate it.
   */
  readConfig(): ConfigTree {
    let key: string;
    try {
      const st = statSync(this.paths.config);
      key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ConfigUnreadableError('config.yaml', err);
    }
    if (this.cache?.key === key) return this.cache.tree;
    const text = readAgentFile(this.paths.config, 'config.yaml');
    if (text === null) return {};
    const tree = configTreeOf(parseHermesYaml(text));
    this.cache = { key, tree };
    return tree;
  }

  /** True when config.yaml declares at least one MCP server; an unreadable file counts as none. */
  hasMcpServers(): boolean {
    try {
      const servers = this.readConfig().mcp_servers;
      return !!servers && typeof servers === 'object' && Object.keys(servers).length > 0;
    } catch {
      return false;
    }
  }

  /** The model config.yaml names; null when none or the file cannot be read. */
  configuredModel(): string | null {
    try {
      return effectiveModel(this.readConfig());
    } catch {
      return null;
    }
  }
}

/** The effective model name of a config tree: `model` when a string, else `model.default` or `model.model`. */
export function effectiveModel(tree: ConfigTree): string | null {
  const m = tree.model;
  if (typeof m === 'string') return m || null;
  if (m && typeof m === 'object' && !Array.isArray(m)) {
    const o = m as Record<string, unknown>;
    const v = o.default ?? o.model;
    return typeof v === 'string' && v ? v : null;
  }
  return null;
}
