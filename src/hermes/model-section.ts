/**
 * The `model` section as every reader in Hermes sees it: its config loader canonicalizes it before
 * anything reads it (NousResearch/hermes-agent hermes_cli/config.py `_normalize_root_model_keys`).
 * Reading `model.*` as written said null where the agent used a value: the root-level
 * `provider`/`base_url`/`context_length` of older layouts, the `api_base` alias, `model.model` or
 * `model.name` for `model.default`, or `default: {model, provider}`. `${VAR}` is left as written:
 * the section is shown to clients, and an expansion may be a key.
 */
import type { ConfigTree } from './home';

type Section = Record<string, unknown>;

// A YAML 1.1 timestamp is a Date here and a datetime in Hermes: a value, not a map.
const isMap = (v: unknown): v is Section => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Python's truthiness, which every step below tests with. */
function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  return isMap(v) ? Object.keys(v).length > 0 : true;
}

/** `str(v or "").strip()` */
const pyText = (v: unknown) => (truthy(v) ? String(v).trim() : '');

export function modelSection(tree: ConfigTree): Section {
  const raw = tree.model;
  const model: Section = isMap(raw) ? { ...raw } : truthy(raw) ? { default: raw } : {};
  // `{model|default, provider}` under default/model/name: the model, and its provider unless one other than auto is set.
  for (const key of ['default', 'model', 'name']) {
    const v = model[key];
    if (!isMap(v)) continue;
    model[key] = pyText(truthy(v.model) ? v.model : v.default);
    const nested = pyText(v.provider);
    const outer = pyText(model.provider);
    if (nested && (!outer || outer === 'auto')) model.provider = nested;
  }
  for (const key of ['provider', 'base_url', 'context_length']) {
    if (truthy(tree[key]) && !truthy(model[key])) model[key] = tree[key];
  }
  for (const alias of [tree.api_base, model.api_base]) {
    if (truthy(alias) && !truthy(model.base_url)) model.base_url = alias;
  }
  delete model.api_base;
  const alias = truthy(model.model) ? model.model : model.name;
  if (!truthy(model.default) && truthy(alias)) model.default = alias;
  if (truthy(model.default)) {
    delete model.model;
    delete model.name;
  }
  return model;
}

/** The model Hermes runs: the canonical `model.default`, when it is text. */
export function effectiveModel(tree: ConfigTree): string | null {
  const v = modelSection(tree).default;
  return typeof v === 'string' && v ? v : null;
}
