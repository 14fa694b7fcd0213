/**
 * Which memory_store.db the sidecar shares with the agent: HOLOGRAPHIC_DB_PATH when set, else the
 * plugin's own `plugins.hermes-memory-store.db_path` from config.yaml, else `$HERMES_HOME/memory_store.db`.
 * A user who moved the plugin's file otherwise got two separate memories.
 *
 * The setting is resolved as the agent resolves it (NousResearch/hermes-agent,
 * plugins/memory/holographic/__init__.py `initialize` and store.py `MemoryStore.__init__`):
 * 1. Hermes' config loader expands `${VAR}` and `${env:VAR}` from the agent's environment — its
 *    `$HERMES_HOME/.env` over the process environment (hermes/agent-env.ts) — an unset one kept as
 *    written; `${HERMES_HOME}` is the agent's home;
 * 2. the plugin replaces `$HERMES_HOME` and `${HERMES_HOME}` with the agent's home (plain text replacement);
 * 3. `Path(db_path).expanduser()`: `~` and `~/…` are the user's home;
 * 4. a relative path is opened from the working directory.
 * A missing, null, empty or non-text value is the default file (the plugin fails on the last two).
 *
 * A `${VAR}` other than HERMES_HOME may expand to a key (.env holds the agent's, the sidecar's
 * environment its own), and config.yaml can be written through /api/config: responses and logs name
 * such a file by the entry as written, never by its expansion.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { expandConfigRefs, type EnvLookup } from '../../hermes/agent-env';
import { ConfigFileError, type ConfigTree, type HermesHome } from '../../hermes/home';
import type { Logger } from '../../lib/log';

export type MemoryFileSource = 'HOLOGRAPHIC_DB_PATH' | 'config.yaml' | 'default';

export interface MemoryFile {
  path: string;
  /** How responses and logs name the file: its path, or the config entry as written when that names variables. */
  shown: string;
  from: MemoryFileSource;
}

export interface MemoryFileSettings {
  /** HOLOGRAPHIC_DB_PATH, resolved; null when not set. */
  explicit: string | null;
  /** The home `~` stands for; null when none is known: the `~` is then left as written, a relative path (warned about), where the agent's expanduser fails. */
  userHome: string | null;
  /** Where a relative path is taken from. */
  workDir: string;
}

/** The plugin's db_path resolved as the agent resolves it; null when the setting names no file. */
function resolvePluginDbPath(value: unknown, hermesHome: string, env: EnvLookup, s: MemoryFileSettings): (MemoryFile & { relative: boolean }) | null {
  if (typeof value !== 'string' || value === '') return null;
  const expanded = expandConfigRefs(value, (name) => (name === 'HERMES_HOME' ? hermesHome : env(name)));
  const namesVariables = expanded.names.some((name) => name !== 'HERMES_HOME');
  const replaced = expanded.value.replaceAll('$HERMES_HOME', hermesHome).replaceAll('${HERMES_HOME}', hermesHome);
  const home = s.userHome;
  const tilde = home === null ? replaced : replaced === '~' ? home : replaced.startsWith('~/') ? join(home, replaced.slice(2)) : replaced;
  const relative = !isAbsolute(tilde);
  const path = relative ? resolve(s.workDir, tilde) : resolve(tilde);
  return { path, shown: namesVariables ? value : path, from: 'config.yaml', relative };
}

function pluginSetting(tree: ConfigTree): unknown {
  const plugins = tree.plugins;
  const section = plugins && typeof plugins === 'object' ? (plugins as Record<string, unknown>)['hermes-memory-store'] : undefined;
  return section && typeof section === 'object' ? (section as Record<string, unknown>).db_path : undefined;
}

/**
 * Resolves the file on every call, so a db_path changed in config.yaml, or a variable it names changed
 * in .env, is followed (the agent reads both again when a session starts). Both files are read
 * through HermesHome's caches: one stat each when unchanged.
 */
export class MemoryFileLocator {
  private tree: ConfigTree | null = null;
  private env: EnvLookup | null = null;
  private last: MemoryFile | null = null;

  constructor(
    private readonly home: HermesHome,
    private readonly settings: MemoryFileSettings,
    private readonly log: Logger,
  ) {}

  locate(): MemoryFile {
    const { explicit } = this.settings;
    if (explicit !== null) return { path: explicit, shown: explicit, from: 'HOLOGRAPHIC_DB_PATH' };
    let tree: ConfigTree;
    try {
      tree = this.home.readConfig();
    } catch (err) {
      if (!(err instanceof ConfigFileError)) throw err;
      // The agent keeps the config it loaded while the file does not parse, and starts on its defaults.
      return this.last ?? this.fallback();
    }
    // HermesHome hands out the same tree and lookup until a file changes: warnings once per change.
    const env = this.home.env.current();
    if (tree === this.tree && env === this.env && this.last) return this.last;
    this.tree = tree;
    this.env = env;
    this.last = this.fromTree(tree, env);
    return this.last;
  }

  private fromTree(tree: ConfigTree, env: EnvLookup): MemoryFile {
    const value = pluginSetting(tree);
    const file = resolvePluginDbPath(value, this.home.paths.home, env, this.settings);
    if (file) {
      const { relative, ...located } = file;
      if (relative) this.log.warn('memory: plugins.hermes-memory-store.db_path is relative; the sidecar opens it from its working directory, the agent from its own', { db_path: located.shown });
      return located;
    }
    if (value !== undefined && value !== null) this.log.warn('memory: plugins.hermes-memory-store.db_path in config.yaml is not a path; using the default file', { type: typeof value });
    return this.fallback();
  }

  private fallback(): MemoryFile {
    const path = join(this.home.paths.home, 'memory_store.db');
    return { path, shown: path, from: 'default' };
  }
}
