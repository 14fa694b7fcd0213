/**
 * The agent's home directory (`HERMES_HOME`): where its files are, and a cached read of its
 * `config.yaml` that notices edits by modification time, size and inode (an atomic rename by the
 * config editor or by Hermes gives a new inode even within one clock tick).
 *
 * config.yaml is read the way Hermes (PyYAML) reads it: YAML 1.1 with PyYAML's types (yaml-schema.ts),
 * and a repeated key is not an error (the last one wins).
 */
import { statSync, type Stats } from 'node:fs';
import { fileStateKey, isWhole, readSettledSync, type FileSnapshot } from '../lib/files';
import { join } from 'node:path';
import { isAlias, isCollection, LineCounter, parseDocument, visit, type ErrorCode, type Node } from 'yaml';
import { AgentEnv } from './agent-env';
import { type AnchoredValue, anchoredValues, type SharedKey } from './anchored';
import { effectiveModel } from './model-section';
import { HERMES_YAML_OPTIONS } from './yaml-schema';

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

/**
 * An agent file's text (config.yaml, .env) and the state it was read in (null when it does not
 * exist), read again while a writer rewrites it in place (src/lib/files.ts).
 */
export function readAgentSnapshot(path: string, name: string): FileSnapshot | null {
  try {
    return readSettledSync(path);
  } catch (err) {
    throw new ConfigUnreadableError(name, err);
  }
}

/**
 * What is wrong, by the parser's error code. The parser's own messages can quote the file (an alias
 * name, a tag, an escape sequence — and an unquoted password starting with `*` is an alias name), so
 * only these fixed words and the position ever reach a response.
 */
const PARSE_PROBLEMS: Partial<Record<ErrorCode, string>> = {
  BAD_INDENT: 'bad indentation',
  TAB_AS_INDENT: 'a tab used for indentation',
  MISSING_CHAR: 'a missing quote, bracket, comma or colon',
  UNEXPECTED_TOKEN: 'unexpected text',
  BAD_DQ_ESCAPE: 'an invalid escape sequence in a double-quoted string',
  BAD_SCALAR_START: 'a plain value starting with a reserved character',
  BLOCK_AS_IMPLICIT_KEY: 'a key that is not on one line',
  MULTILINE_IMPLICIT_KEY: 'a key that is not on one line',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters',
  BLOCK_IN_FLOW: 'a block value inside [ ] or { }',
  BAD_ALIAS: 'an invalid alias',
  ALIAS_PROPS: 'an alias with an anchor or tag',
  MULTIPLE_ANCHORS: 'more than one anchor on a value',
  MULTIPLE_TAGS: 'more than one tag on a value',
  BAD_PROP_ORDER: 'an anchor or tag in the wrong place',
  TAG_RESOLVE_FAILED: 'an unknown tag',
  BAD_COLLECTION_TYPE: 'a tag that does not fit its value',
  BAD_DIRECTIVE: 'an invalid % directive',
  MULTIPLE_DOCS: 'more than one document',
  DUPLICATE_KEY: 'a duplicate key',
  NON_STRING_KEY: 'a key that is not a string',
  RESOURCE_EXHAUSTION: 'too many aliases',
};

/** Line and column (from 1) of `at` in `text`, as the parser reports them. */
function positionIn(text: string, at: number): { line: number; col: number } {
  const before = text.slice(0, at);
  return { line: before.split('\n').length, col: at - before.lastIndexOf('\n') };
}

/**
 * config.yaml's text, when it is UTF-8: Hermes (PyYAML) refuses the file otherwise. Read anyway, the
 * bytes were shown as U+FFFD, and an edit wrote U+FFFD back in their place, changing a line it did not
 * touch (a Latin-1 `é` in a comment).
 */
export function configText(snap: FileSnapshot): string {
  if (snap.notUtf8At === null) return snap.text;
  const { line, col } = positionIn(snap.text, snap.notUtf8At);
  throw new ConfigParseError('bytes that are not UTF-8 text', line, col);
}

/**
 * What PyYAML's reader refuses anywhere in the stream, comments included ("unacceptable character"):
 * control characters other than tab and line breaks, U+FFFE/U+FFFF, and half a surrogate pair. The
 * yaml package takes them, so a file Hermes cannot load was shown and edited as if it were fine.
 */
const NOT_PRINTABLE = /[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Parses config text; a syntax error or an alias to no anchor becomes a ConfigParseError without any source text in it. */
export function parseHermesYaml(text: string): ReturnType<typeof parseDocument> {
  const odd = NOT_PRINTABLE.exec(text);
  if (odd) {
    const { line, col } = positionIn(text, odd.index);
    const code = odd[0].codePointAt(0) ?? 0;
    throw new ConfigParseError(`a character YAML does not allow (U+${code.toString(16).toUpperCase().padStart(4, '0')})`, line, col);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...HERMES_YAML_OPTIONS, lineCounter });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    throw new ConfigParseError(PARSE_PROBLEMS[err.code] ?? 'invalid YAML', pos?.line ?? null, pos?.col ?? null);
  }
  // An alias whose anchor is not defined before it, or that sits inside the very value it names
  // (`a: &a [*a]`, a tree without end: redacting or sending it overflowed the stack, a 500): found
  // here, where its position is known (the yaml package only notices the first while building the
  // tree, in an error naming the alias). The latest definition of a name is the one an alias means.
  // A key that is a list or map, written so or an alias of one, is refused as PyYAML refuses it
  // ("found unhashable key"): the yaml package spells it as text, in place and through a `<<` merge
  // differently (`[*k]` merged is the secret `*k` names), and that text was shown, on stderr too.
  const anchors = new Map<string, unknown>();
  let bad: { at: number; reason: string } | null = null;
  visit(doc, {
    Node(key, node, path) {
      const target = isAlias(node) ? anchors.get(node.source) : node;
      if (key === 'key' && isCollection(target)) {
        bad = { at: node.range?.[0] ?? 0, reason: 'a key that is a list or map' };
        return visit.BREAK;
      }
      if (isAlias(node)) {
        if (target && !path.includes(target as Node)) return;
        bad = { at: node.range?.[0] ?? 0, reason: target ? 'an alias (*name) inside the value it names' : 'an alias (*name) to an anchor that is not defined before it' };
        return visit.BREAK;
      }
      if (node.anchor) anchors.set(node.anchor, node);
    },
  });
  if (bad !== null) {
    const { at, reason } = bad as { at: number; reason: string };
    const { line, col } = lineCounter.linePos(at);
    throw new ConfigParseError(reason, line, col);
  }
  return doc;
}

/** The plain tree of a parsed config: `{}` for an empty file or a root that is not a map. */
export function configTreeOf(doc: ReturnType<typeof parseDocument>): ConfigTree {
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Alias bombs surface here, not in doc.errors; the message may name an alias, so it is not used.
    const bomb = /alias count/i.test((err as Error).message);
    throw new ConfigParseError(bomb ? 'aliases that expand to too many nodes' : 'aliases that cannot be resolved', null, null);
  }
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as ConfigTree) : {};
}

export type { AnchoredValue, SharedKey };

/** The parsed config.yaml, its anchored values, and the keys an alias or anchor shares (anchored.ts). */
export interface ConfigRead {
  tree: ConfigTree;
  anchored: AnchoredValue[];
  sharedKeys: SharedKey[];
}

export interface HermesPaths {
  home: string;
  config: string;
  env: string;
  stateDb: string;
  skills: string;
}

function hermesPaths(home: string): HermesPaths {
  return {
    home,
    config: join(home, 'config.yaml'),
    env: join(home, '.env'),
    stateDb: join(home, 'state.db'),
    skills: join(home, 'skills'),
  };
}

export type ConfigTree = Record<string, unknown>;

const emptyRead = (): ConfigRead => ({ tree: {}, anchored: [], sharedKeys: [] });

/** config.yaml text parsed into its tree and anchored values (throws ConfigFileError as a read does). */
export function parsed(text: string): ConfigRead {
  const doc = parseHermesYaml(text);
  // The tree first: it turns what the yaml package refuses (a merge of a scalar) into a ConfigParseError.
  const tree = configTreeOf(doc);
  const { values, keys } = anchoredValues(doc);
  return { tree, anchored: values, sharedKeys: keys };
}

export class HermesHome {
  readonly paths: HermesPaths;
  private cache: ({ key: string } & ConfigRead) | null = null;
  /** The last whole read of .env. */
  private envText: string | null = null;
  /** The variables config.yaml's `${VAR}` read in the agent: its `.env` over the process environment. */
  readonly env: AgentEnv;

  constructor(home: string) {
    this.paths = hermesPaths(home);
    this.env = new AgentEnv(this.paths.env);
  }

  /**
   * The parsed config.yaml; `{}` when the file does not exist. A file that exists but does not parse
   * or cannot be read throws a ConfigFileError, so callers decide whether that is an error for them.
   * The tree is shared by every caller: never mutate it.
   */
  readConfig(): ConfigTree {
    return this.readConfigAnchored().tree;
  }

  /**
   * .env's text; null when it does not exist. Caught mid-rewrite in place (Hermes saving it where it
   * cannot be renamed over, an editor), the last whole read stands in: read as it is, a truncated
   * .env showed no keys at all.
   */
  readEnvText(): string | null {
    const snap = readAgentSnapshot(this.paths.env, '.env');
    if (!snap) return (this.envText = null);
    if (!isWhole(snap)) return this.envText ?? (snap.settled ? '' : snap.text);
    return (this.envText = snap.text);
  }

  /** readConfig() with the anchored values, which redaction needs: an alias can repeat a secret under a key that is not secret. */
  readConfigAnchored(): ConfigRead {
    // A home without config.yaml is asked on every /health: answered without an exception thrown and
    // caught each time (5.4 → 3.1 µs a read). Other failures (ENOTDIR, EACCES) still throw.
    let st: Stats | undefined;
    try {
      st = statSync(this.paths.config, { throwIfNoEntry: false });
    } catch (err) {
      throw new ConfigUnreadableError('config.yaml', err);
    }
    if (!st) return emptyRead();
    if (this.cache?.key === fileStateKey(st)) return this.cache;
    const snap = readAgentSnapshot(this.paths.config, 'config.yaml');
    if (!snap) return emptyRead();
    // Caught mid-rewrite (truncated and not written yet, or changing under every read): the last
    // whole read is the better answer, and nothing is cached, so the next call reads again.
    if (!isWhole(snap)) return this.cache ?? (snap.settled ? emptyRead() : parsed(configText(snap)));
    this.cache = { key: fileStateKey(snap.stat), ...parsed(configText(snap)) };
    return this.cache;
  }

  /**
   * True when config.yaml declares at least one MCP server Hermes would start: it skips one with
   * `enabled: false` (YAML 1.1 `no`/`off` parse as false too). An unreadable file counts as none.
   */
  hasMcpServers(): boolean {
    try {
      const servers = this.readConfig().mcp_servers;
      if (!servers || typeof servers !== 'object') return false;
      return Object.values(servers).some((s) => !(s && typeof s === 'object' && (s as { enabled?: unknown }).enabled === false));
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
