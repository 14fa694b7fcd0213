/**
 * config.yaml and .env of the agent's home (SPEC §10): redacted reads, and edits that change only
 * what they name. Every edit is a list of `path = value` operations computed against the file as it
 * is when the edit runs (inside the file's queue), applied as in-place text edits, and checked before
 * anything is written: the new file must parse to exactly the old tree with the operations applied.
 */
import { ConfigFileError, ConfigParseError, ConfigUnreadableError, configTreeOf, parsed, parseHermesYaml, type ConfigRead, type ConfigTree, type HermesHome } from '../../hermes/home';
import { effectiveModel, modelSection } from '../../hermes/model-section';
import { parseDotenv } from '../../lib/dotenv';
import { ApiError, badRequest, unprocessable } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import { type ConfigPostBody, type ModelFields, type ModelInfo } from './model';
import { redactConfig, redactEnv } from './redact';
import { findPlaceholder, isMaskedKeyAt, scrubString } from './scrub';
import { editFile } from './store';
import { setAll, type EditOp } from './yaml-batch';
import { PathConflict, setInTree } from './yaml-edit';

const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
const str = (v: unknown) => (typeof v === 'string' ? v : null);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : null);

/** A config.yaml or .env that does not parse or cannot be read, as the API answers it; anything else as it is. */
function rethrow(err: unknown): never {
  if (err instanceof ConfigUnreadableError) throw new ApiError(503, 'config_unreadable', `${err.message} Nothing was changed.`);
  if (err instanceof ConfigFileError) throw new ApiError(409, 'config_invalid', `${err.message} Fix the file by hand; nothing was changed.`);
  throw err;
}

/** What `tree` holds at `path` (own keys only), or undefined. */
function valueAt(tree: unknown, path: readonly string[]): unknown {
  let v = tree;
  for (const seg of path) v = isMap(v) && Object.hasOwn(v, seg) ? v[seg] : undefined;
  return v;
}

/** The index of the first segment of `path` that is a masked key, not a key the file has there; -1 if none. */
function maskedSegment(tree: ConfigTree, path: readonly string[]): number {
  return path.findIndex((seg, i) => isMaskedKeyAt(seg, valueAt(tree, path.slice(0, i))));
}

/** Parses config text into a fresh tree (never the shared cache: the edit check mutates it). */
function treeOf(text: string): ConfigTree {
  try {
    return configTreeOf(parseHermesYaml(text));
  } catch (err) {
    return rethrow(err);
  }
}

export class ConfigService {
  constructor(
    private readonly home: HermesHome,
    private readonly log: Logger,
  ) {}

  private configRead(): ConfigRead {
    try {
      return this.home.readConfigAnchored();
    } catch (err) {
      return rethrow(err);
    }
  }

  read() {
    const anchored = this.configRead();
    const config = redactConfig(anchored.tree, anchored.anchored, anchored.sharedKeys);
    const info = shownModelInfo(anchored.tree, config);
    let env: string | null;
    try {
      env = this.home.readEnvText();
    } catch (err) {
      return rethrow(err);
    }
    return {
      config,
      env: redactEnv(parseDotenv(env ?? '')),
      config_path: this.home.paths.config,
      hermes_home: this.home.paths.home,
      model: info.model,
      provider: info.provider,
      base_url: info.base_url,
    };
  }

  model(): ModelInfo {
    const read = this.configRead();
    return shownModelInfo(read.tree, redactConfig(read.tree, read.anchored, read.sharedKeys));
  }

  /** POST /api/config: one dot path and its value, or several, applied in order. */
  async set(body: ConfigPostBody): Promise<{ updated: true; keys: string[] }> {
    const entries = body.key !== undefined ? [[body.key, body.value] as const] : Object.entries(body.updates ?? {});
    const ops = entries.map(([key, value]) => ({ path: key.split('.'), value }));
    const { ops: applied } = await this.edit(() => ops);
    return { updated: true, keys: applied.map((o) => o.path.join('.')) };
  }

  /** PATCH /api/config: deep merge of a partial tree (maps merge, anything else replaces). */
  async patch(patch: Record<string, unknown>): Promise<{ updated: true; keys: string[] }> {
    const { ops } = await this.edit((tree) => patchOps(tree, patch));
    return { updated: true, keys: ops.map((o) => o.path.join('.')) };
  }

  /** POST /api/config/model: Hermes' own keys under `model:`, turning a string `model:` into a map. */
  async setModel(fields: ModelFields): Promise<ModelInfo & { updated: true; keys: string[] }> {
    if (!Object.values(fields).some((v) => v !== undefined)) {
      throw unprocessable('Send at least one of provider, model, base_url, api_mode.', [{ path: '', message: 'no field given' }]);
    }
    const { ops, text } = await this.edit((tree) => modelOps(tree, fields));
    let read: ConfigRead;
    try {
      read = parsed(text);
    } catch (err) {
      return rethrow(err);
    }
    return { updated: true, keys: ops.map((o) => o.path.join('.')), ...shownModelInfo(read.tree, redactConfig(read.tree, read.anchored, read.sharedKeys)) };
  }

  private editFailed(ops: EditOp[]): ApiError {
    this.log.error('config edit check failed', { keys: ops.map((o) => o.path.join('.')) });
    return new ApiError(500, 'config_edit_failed', 'The edit could not be made without changing other settings; nothing was changed.');
  }

  private async edit(plan: (tree: ConfigTree) => EditOp[]): Promise<{ ops: EditOp[]; text: string }> {
    let ops: EditOp[] = [];
    const text = await editFile(this.home.paths.config, (before) => {
      // One tree serves both: the plan only reads it, and it is changed into the expected tree after.
      const expected = treeOf(before);
      ops = plan(expected);
      for (const op of ops) {
        const masked = maskedSegment(expected, op.path);
        const where = masked >= 0 ? op.path.slice(0, masked + 1).join('.') : findPlaceholder(op.value, op.path.join('.'), undefined, valueAt(expected, op.path));
        if (where) throw badRequest('redacted_value', `${where} holds a redacted placeholder (***) or is a masked key; send the real value, or leave the key out to keep it.`);
      }
      let after: string;
      try {
        after = setAll(before, ops);
      } catch (err) {
        if (err instanceof PathConflict) {
          throw new ApiError(409, 'config_path_conflict', `Cannot set ${err.path.join('.')}: ${err.at} ${err.reason}. Nothing was changed.`);
        }
        // The text of an earlier operation did not parse: a bug of the editor, never of the input.
        if (err instanceof ConfigParseError) throw this.editFailed(ops);
        throw err;
      }
      for (const op of ops) setInTree(expected, op.path, op.value);
      let result: ConfigTree;
      try {
        result = configTreeOf(parseHermesYaml(after));
      } catch {
        throw this.editFailed(ops);
      }
      // Refuse to write a file that says anything but the old tree with the operations applied.
      if (!Bun.deepEquals(result, expected, true)) throw this.editFailed(ops);
      return after;
    }).catch(rethrow);
    return { ops, text };
  }
}

/** The settings Hermes runs with (its canonical `model` section), as written: a `${VAR}` is not expanded here. */
function modelInfo(tree: ConfigTree): ModelInfo {
  const m = modelSection(tree);
  const baseUrl = str(m.base_url);
  return {
    provider: str(m.provider),
    model: effectiveModel(tree),
    base_url: baseUrl === null ? null : scrubString(baseUrl, 'text'),
    api_mode: str(m.api_mode),
    context_length: num(m.context_length),
    max_tokens: num(m.max_tokens),
  };
}

/**
 * The model settings as the redacted tree shows them: a secret that an alias repeats into `model.*`
 * (`default: *k`, `&k` on an api_key) is masked there, and was shown in clear in these fields. The
 * counts are taken from the tree itself: they are numbers, never masked, and a quoted one ("4096",
 * masked under a `…tokens` key) still reads as the count Hermes uses.
 */
function shownModelInfo(tree: ConfigTree, redacted: ConfigTree): ModelInfo {
  const raw = modelInfo(tree);
  return { ...modelInfo(redacted), context_length: raw.context_length, max_tokens: raw.max_tokens };
}

/** Deep-merge operations for `patch` against `current`, plus Hermes Workspace's top-level model fields. */
function patchOps(current: ConfigTree, patch: Record<string, unknown>): EditOp[] {
  const { provider, base_url, model, ...rest } = patch;
  const movesToModel = 'provider' in patch || 'base_url' in patch;
  if (!movesToModel && typeof model !== 'string') return mergeOps(current, patch, []);
  const ops = mergeOps(current, rest, []);
  const moved: ModelFields & Record<string, unknown> = {};
  if ('provider' in patch) moved.provider = provider as string;
  if ('base_url' in patch) moved.base_url = base_url as string;
  if (typeof model === 'string' || model === undefined) {
    // Workspace sends {model:"name", provider, base_url} at top level: they are Hermes' model.* keys.
    if (!movesToModel && !isMap(current.model)) return [...ops, { path: ['model'], value: model }];
    return [...ops, ...modelOps(current, { ...moved, ...(typeof model === 'string' ? { model } : {}) })];
  }
  // An explicit model value merges as usual; provider/base_url then land inside it.
  return [...ops, ...mergeOps(current, { model }, []), ...Object.entries(moved).map(([k, v]) => ({ path: ['model', k], value: v }))];
}

function mergeOps(current: unknown, patch: Record<string, unknown>, base: string[]): EditOp[] {
  const ops: EditOp[] = [];
  for (const [key, value] of Object.entries(patch)) {
    const path = [...base, key];
    // Own keys only: `toString` or `hasOwnProperty` read through the prototype is a function, not a setting.
    const cur = isMap(current) && Object.hasOwn(current, key) ? current[key] : undefined;
    if (isMap(value) && isMap(cur)) ops.push(...mergeOps(cur, value, path));
    else if (isMap(value) && cur !== undefined && cur !== null) {
      throw new ApiError(409, 'config_path_conflict', `Cannot merge a map into ${path.join('.')}: it is ${Array.isArray(cur) ? 'a list' : 'a scalar value'}. Nothing was changed.`);
    } else ops.push({ path, value });
  }
  return ops;
}

const MODEL_KEYS: Record<keyof ModelFields, string> = { provider: 'provider', model: 'default', base_url: 'base_url', api_mode: 'api_mode' };

function modelOps(current: ConfigTree, fields: ModelFields): EditOp[] {
  const entries = (Object.keys(MODEL_KEYS) as (keyof ModelFields)[]).filter((k) => fields[k] !== undefined).map((k) => [MODEL_KEYS[k], fields[k]] as const);
  if (isMap(current.model)) return entries.map(([k, v]) => ({ path: ['model', k], value: v }));
  // `model: name` becomes `model: {default: name, …}` so the name is kept.
  const value: Record<string, unknown> = typeof current.model === 'string' ? { default: current.model } : {};
  for (const [k, v] of entries) value[k] = v;
  return [{ path: ['model'], value }];
}
