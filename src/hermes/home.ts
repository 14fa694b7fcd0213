/**
 * The agent's home directory (`HERMES_HOME`): where its files are, and a cached read of its
 * `config.yaml` that notices edits by modification time and size. The files belong to the agent;
 * this module only reads them.
 */
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

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
   * throws, so callers decide whether that is an error for them.
   */
  readConfig(): ConfigTree {
    let key: string;
    try {
      const st = statSync(this.paths.config);
      key = `${st.mtimeMs}:${st.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    if (this.cache?.key === key) return this.cache.tree;
    const parsed: unknown = parse(readFileSync(this.paths.config, 'utf8'));
    const tree = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as ConfigTree) : {};
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
