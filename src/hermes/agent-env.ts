/**
 * The environment the agent resolves config.yaml against, and its two ways of expanding variables.
 *
 * Hermes loads `$HERMES_HOME/.env` over its process environment at start, and again on each gateway
 * turn (NousResearch/hermes-agent hermes_cli/env_loader.py `load_hermes_dotenv`: python-dotenv with
 * `override=True`, so .env wins, its `${VAR}` interpolated). A setting naming a variable set only in
 * .env (`db_path: ${MEMORY_DIR}/memory_store.db`) used to stay unexpanded here: the sidecar opened
 * another file than the agent, and two memories grew apart silently. The sidecar's own environment
 * stands in for the agent's process environment (both are normally started from the same one).
 *
 * An expansion may be a key (.env holds them all): callers show a value that named variables as
 * written, never expanded.
 */
import { statSync } from 'node:fs';
import { interpolateDotenv, parseDotenvPairs } from '../lib/dotenv';
import { fileStateKey, isWhole, readSettledSync } from '../lib/files';

export type EnvLookup = (name: string) => string | undefined;

/** A value with its variables expanded, and the names that were (an unset one is kept as written). */
export interface Expanded {
  value: string;
  names: string[];
}

const processEnv: EnvLookup = (name) => process.env[name];

/** `.env` as the agent loaded it, read again when the file changes (one stat per call otherwise). */
export class AgentEnv {
  private stamp: string | null = null;
  /** Same object until .env changes, so callers can keep what they derived from it. */
  private lookup: EnvLookup = processEnv;
  /** The variables of .env itself, interpolated as the agent loads them. */
  private vars: ReadonlyMap<string, string> = new Map();

  constructor(private readonly path: string) {}

  /** The agent's environment: .env over the process environment. */
  current(): EnvLookup {
    this.refresh();
    return this.lookup;
  }

  /** A variable as .env itself sets it (interpolated); undefined when the file does not. */
  fromFile(name: string): string | undefined {
    this.refresh();
    return this.vars.get(name);
  }

  private refresh(): void {
    const stamp = stampOf(this.path);
    if (stamp === this.stamp) return;
    try {
      const snap = readSettledSync(this.path);
      // Caught mid-rewrite in place (truncated, or changing under every read): the last whole read
      // stands, and the file is read again next time. Read as it was, the agent's key went missing
      // and that request went upstream without one (401).
      if (snap && !isWhole(snap)) return;
      const vars = snap ? interpolateDotenv(parseDotenvPairs(snap.text), processEnv) : new Map<string, string>();
      this.vars = vars;
      this.lookup = snap ? (name) => (vars.has(name) ? vars.get(name) : process.env[name]) : processEnv;
      this.stamp = stamp;
    } catch {
      // Unreadable for a moment (permissions, a file replaced): the last read stays, and the file is tried again.
    }
  }
}

/** fileStateKey: with the change time, a `.env` copied over with `cp -p` (same inode and mtime) is read again too. */
function stampOf(path: string): string {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? fileStateKey(st) : 'missing';
  } catch {
    return 'unreadable';
  }
}

const CONFIG_REF = /\$\{([^}]+)\}/g;
const SECRET_SOURCE = /^[a-z][a-z0-9_-]*:/;

/** The variable a `${…}` of config.yaml reads: `NAME` or `env:NAME`; null for another source (`vault:…`). */
function configRefName(body: string): string | null {
  const ref = body.trim();
  if (ref.startsWith('env:')) return ref.slice(4).trim() || null;
  return SECRET_SOURCE.test(ref) ? null : ref;
}

/**
 * Hermes' config loader (hermes_cli/config.py `_expand_env_vars`), applied to every string of
 * config.yaml the agent reads through load_config (plugin settings among them): `${NAME}` and
 * `${env:NAME}`, spaces inside the braces ignored; `$NAME` without braces is left alone.
 */
export function expandConfigRefs(value: string, lookup: EnvLookup): Expanded {
  const names: string[] = [];
  const out = value.replace(CONFIG_REF, (ref, body: string) => {
    const name = configRefName(body);
    const v = name === null ? undefined : lookup(name);
    if (v === undefined) return ref;
    names.push(name as string);
    return v;
  });
  return { value: out, names };
}

const SHELL_VAR = /\$([A-Za-z0-9_]+|\{[^}]*\})/g;

/**
 * Python's `os.path.expandvars` (POSIX), which Hermes applies to skills.external_dirs after the .env
 * load: `$NAME` (ASCII letters, digits, `_`) and `${anything}`, taken as written.
 */
export function expandShellVars(value: string, lookup: EnvLookup): Expanded {
  const names: string[] = [];
  const out = value.replace(SHELL_VAR, (ref, word: string) => {
    const name = word.startsWith('{') ? word.slice(1, -1) : word;
    const v = lookup(name);
    if (v === undefined) return ref;
    names.push(name);
    return v;
  });
  return { value: out, names };
}
