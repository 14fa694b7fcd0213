/**
 * Where skills live and what config.yaml says about them: `$HERMES_HOME/skills` first, then every
 * `skills.external_dirs` entry (a list or one string; `$VAR`/`${VAR}` expanded as `os.path.expandvars`
 * does, from the agent's `.env` over the environment (hermes/agent-env.ts), then `~`; relative paths
 * taken from HERMES_HOME, duplicates and the local dir itself dropped — as Hermes does), and
 * the names in `skills.disabled` (a list, or the JSON-array string `hermes config set` writes).
 *
 * Skill ids (SPEC §4: opaque, URL-safe, stable): the skill folder's path below its root, each
 * segment kept when it is `[A-Za-z0-9_-]` and otherwise escaped byte by byte as `~HH` (UTF-8, upper
 * hex), segments joined by `.`. Local skills have no prefix (`devops.docker-compose`); external ones
 * start with `~x` and 8 hex digits of the SHA-256 of their root's path (`~x1a2b3c4d.tools.jq`), so an
 * id does not change when external_dirs is reordered. A root that is itself one skill has the bare
 * prefix as id (`~root` for the local root). `~` never starts an escape followed by `r` or `x`, so
 * the three forms cannot collide. Ids are only ever looked up in the index, never turned into paths.
 */
import { isAbsolute, resolve } from 'node:path';
import { expandShellVars, type EnvLookup } from '../../hermes/agent-env';
import { ConfigFileError, type ConfigTree, type HermesHome } from '../../hermes/home';
import { userHome } from '../../lib/home';
import { scrubString } from '../config/scrub';

export interface SkillRoot {
  path: string;
  source: 'local' | 'external';
  /** '' for the local root, `~x<hash>` for an external one. */
  idPrefix: string;
  /**
   * How messages name the root: its path, or the config entry as written (scrubbed of credentials)
   * when it names variables or holds a credential. `$VAR` may expand to a key (the agent's .env, the
   * sidecar's HERMES_API_KEY, MPP_SECRET_KEY…): a client that may edit config.yaml would read it back in a warning.
   */
  label: string;
}

export interface SkillsSettings {
  roots: SkillRoot[];
  disabled: ReadonlySet<string>;
  /** Identifies the roots: a new key means a new scan. */
  rootsKey: string;
  /** Identifies the disabled set: a new key means new `enabled` flags, not a new scan. */
  disabledKey: string;
  warnings: string[];
}

const SAFE = /[A-Za-z0-9_-]/;
const ALL_SAFE = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextEncoder();

export function encodeSegment(segment: string): string {
  if (ALL_SAFE.test(segment)) return segment;
  let out = '';
  for (const ch of segment) {
    if (SAFE.test(ch)) out += ch;
    else for (const b of utf8.encode(ch)) out += `~${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function skillId(root: SkillRoot, segments: readonly string[]): string {
  const rel = segments.map(encodeSegment).join('.');
  if (!rel) return root.idPrefix || '~root';
  return root.idPrefix ? `${root.idPrefix}.${rel}` : rel;
}

function expand(entry: string, home: string, env: EnvLookup): string {
  const vars = expandShellVars(entry, env).value;
  // No home known (HOME unset, no passwd entry): the `~` is left as written rather than failing the listing.
  const user = vars === '~' || vars.startsWith('~/') ? userHome() : null;
  const tilde = user === null ? vars : vars === '~' ? user : user + vars.slice(1);
  return isAbsolute(tilde) ? resolve(tilde) : resolve(home, tilde);
}

function stringList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((x) => String(x).trim()).filter(Boolean);
  if (typeof v !== 'string') return [];
  const s = v.trim();
  if (s.startsWith('[')) {
    // `hermes config set` can store a list as '["a", "b"]' (or the Python form "['a', 'b']").
    return [...s.matchAll(/"([^"]*)"|'([^']*)'/g)].map((m) => (m[1] ?? m[2] ?? '').trim()).filter(Boolean);
  }
  return s ? [s] : [];
}

/**
 * The settings for the current config.yaml. A config that does not parse leaves only the local root,
 * with a warning saying so (the listing still works; the agent itself would not start).
 */
export interface SettingsRead {
  /** null when config.yaml does not parse. */
  tree: ConfigTree | null;
  /** The agent's variables the roots were expanded with. */
  env: EnvLookup | null;
  settings: SkillsSettings;
}

export function readSkillsSettings(home: HermesHome, previous: SettingsRead | null): SettingsRead {
  const local: SkillRoot = { path: home.paths.skills, source: 'local', idPrefix: '', label: home.paths.skills };
  let tree: ConfigTree;
  try {
    tree = home.readConfig();
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    const warning = `${err.message} skills.external_dirs and skills.disabled are not applied until it is fixed.`;
    return { tree: null, env: null, settings: { roots: [local], disabled: new Set(), rootsKey: local.path, disabledKey: '', warnings: [warning] } };
  }
  // HermesHome hands out the same tree and lookup until config.yaml or .env changes.
  const env = home.env.current();
  if (previous?.tree === tree && previous.env === env) return previous;

  const skills = tree.skills && typeof tree.skills === 'object' && !Array.isArray(tree.skills) ? (tree.skills as Record<string, unknown>) : {};
  const roots = [local];
  const seen = new Set([local.path]);
  for (const entry of stringList(skills.external_dirs)) {
    const path = expand(entry, home.paths.home, env);
    if (seen.has(path)) continue;
    seen.add(path);
    // A credential in the entry (a git URL `https://user:token@…` taken for a folder) is masked as GET
    // /api/config masks it; the resolved path would show it, and with one slash the scrubber misses it.
    const shown = scrubString(entry, 'command');
    const label = entry.includes('$') || shown !== entry ? shown : path;
    roots.push({ path, source: 'external', idPrefix: `~x${new Bun.CryptoHasher('sha256').update(path).digest('hex').slice(0, 8)}`, label });
  }
  const disabled = new Set(stringList(skills.disabled));
  return {
    tree,
    env,
    settings: {
      roots,
      disabled,
      rootsKey: roots.map((r) => r.path).join('\0'),
      disabledKey: [...disabled].sort().join('\0'),
      warnings: [],
    },
  };
}
