/**
 * The HRR dimension of Hermes' holographic plugin, from its own setting in config.yaml
 * (`plugins.hermes-memory-store.hrr_dim`, default 1024, read with Python's `int()`). Every vector in
 * memory_store.db has that dimension: the plugin decodes each stored vector at its dimension and
 * fails its search, and the bank rebuild of its next insert, on a vector of any other size.
 * A text value is expanded first, as Hermes' config loader does (`hrr_dim: ${HRR_DIM}`, from .env
 * or the environment); what names a variable is logged as written, its expansion may be a key.
 */
import { expandConfigRefs } from '../../hermes/agent-env';
import type { HermesHome } from '../../hermes/home';
import type { Logger } from '../../lib/log';
import { HRR_DIM } from './hrr';

/** Larger than any sensible setting; a bigger value is taken for a typo rather than allocated. */
const MAX_DIM = 65536;

export function pluginHrrDim(home: HermesHome, log: Logger): number {
  let raw: unknown;
  try {
    const plugins = home.readConfig().plugins;
    const section = plugins && typeof plugins === 'object' ? (plugins as Record<string, unknown>)['hermes-memory-store'] : undefined;
    raw = section && typeof section === 'object' ? (section as Record<string, unknown>).hrr_dim : undefined;
  } catch {
    // An unreadable config.yaml: the agent cannot read it either, and falls back to its default.
    return HRR_DIM;
  }
  if (raw === undefined || raw === null) return HRR_DIM;
  const text = typeof raw === 'string' ? expandConfigRefs(raw, home.env.current()).value : null;
  // int(2048), int(2048.0) and int("2048") all give 2048.
  const n = typeof raw === 'number' ? Math.trunc(raw) : text !== null && /^\s*[+]?\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isInteger(n) && n >= 1 && n <= MAX_DIM) return n;
  log.warn(`memory: plugins.hermes-memory-store.hrr_dim in config.yaml is not a dimension from 1 to ${MAX_DIM}; using ${HRR_DIM}`, { hrr_dim: String(raw).slice(0, 40) });
  return HRR_DIM;
}
