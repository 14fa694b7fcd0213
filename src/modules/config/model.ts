import { JsonObject, ownRecord } from '../../lib/api-schemas';
import { finiteNumbers, z } from '../../lib/zod';

/** Keys that would reach Object.prototype when a tree is rebuilt from JSON or YAML. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Deeper trees are refused before any recursive code sees them. */
const MAX_DEPTH = 32;
const MAX_SEGMENT = 256;
/**
 * Keys and list items in one request body. An edit's work grows with them (rendering the values, and
 * the one parse per round of paths: yaml-batch.ts): a 40,000-key value took 3 s to write and left a file
 * every later read took a second to parse. A whole Hermes config.yaml has a few hundred. This bound is
 * also what keeps an edit of many paths short (docs/skills-config.md has the measured worst cases).
 */
export const MAX_EDIT_NODES = 2048;
/** Why a key cannot be a config key, or null when it can. */
function keyProblem(key: string): string | null {
  if (!key) return 'has an empty key segment';
  if (FORBIDDEN_KEYS.has(key)) return `uses the reserved name ${key}`;
  if (key.length > MAX_SEGMENT) return `has a key longer than ${MAX_SEGMENT} characters`;
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'has a control character in a key';
  return null;
}

/** `a.b.c` → segments; every segment must be a valid key. */
function keyPathProblem(path: string): string | null {
  const segments = path.split('.');
  if (segments.length > MAX_DEPTH) return `is deeper than ${MAX_DEPTH} levels`;
  for (const s of segments) {
    const p = keyProblem(s);
    if (p) return p;
  }
  return null;
}

/**
 * Walks raw JSON input and reports the first key that is not allowed, or a nesting deeper than
 * MAX_DEPTH. It must see the body before zod does: zod builds new objects and silently drops a
 * `__proto__` key, where the SPEC wants a 422. Iterative, as input depth is attacker-controlled.
 */
export function treeProblem(root: unknown): { path: string; message: string } | null {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  let nodes = 0;
  while (stack.length) {
    if (++nodes > MAX_EDIT_NODES + 1) return { path: '', message: `has more than ${MAX_EDIT_NODES} keys and list items` };
    const { value, path, depth } = stack.pop() as { value: unknown; path: string; depth: number };
    if (!value || typeof value !== 'object') continue;
    if (depth > MAX_DEPTH) return { path, message: `is nested deeper than ${MAX_DEPTH} levels` };
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(value)) {
      const where = path ? `${path}.${key}` : key;
      const p = keyProblem(key);
      if (p) return { path: where, message: p };
      stack.push({ value: (value as Record<string, unknown>)[key], path: where, depth: depth + 1 });
    }
  }
  return null;
}

// A value written to config.yaml holds only finite numbers (finiteNumbers, below): JSON.parse reads 1e400 as
// Infinity, which the YAML writer put down as `.inf` (a float Hermes then used, max_turns infinite) and GET showed as null.

const KeyPath = z.string().check(
  z.maxLength(4096),
  z.superRefine((s, ctx) => {
    const p = keyPathProblem(s);
    if (p) ctx.addIssue({ code: 'custom', message: `key path ${p}` });
  }),
);

export const ConfigPostBody = z
  .object({
    key: z.optional(KeyPath).check(z.meta({ description: 'Dot path such as `model.default`' })),
    value: z.optional(z.unknown()).check(finiteNumbers(), z.meta({ description: 'Any JSON value; required with `key`' })),
    updates: z.optional(z.record(KeyPath, z.unknown())).check(finiteNumbers(), z.meta({ description: 'Several dot paths and their values, applied in order' })),
  })
  .check(
    z.superRefine((b, ctx) => {
      if ((b.key === undefined) === (b.updates === undefined)) ctx.addIssue({ code: 'custom', message: 'send either key and value, or updates' });
      else if (b.key !== undefined && b.value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: 'value is required with key' });
      else if (b.updates && Object.keys(b.updates).length === 0) ctx.addIssue({ code: 'custom', path: ['updates'], message: 'updates must not be empty' });
    }),
  );
export type ConfigPostBody = z.infer<typeof ConfigPostBody>;

export const ConfigPatchBody = z.record(z.string(), z.unknown()).check(finiteNumbers(), z.meta({ description: 'A partial config tree, deep-merged into config.yaml' }));

const ModelFields = {
  provider: z.optional(z.string().check(z.maxLength(256))),
  model: z.optional(z.string().check(z.maxLength(512))),
  base_url: z.optional(z.string().check(z.maxLength(2048))),
  api_mode: z.optional(z.string().check(z.maxLength(128))),
};

export const ModelBody = z.optional(z.object(ModelFields));
export const ModelQuery = z.object(ModelFields);
export type ModelFields = z.infer<typeof ModelQuery>;

export const ConfigResponse = z.object({
  config: JsonObject,
  env: ownRecord(z.string(), 'expected the .env variables'),
  config_path: z.string(),
  hermes_home: z.string(),
  model: z.nullable(z.string()),
  provider: z.nullable(z.string()),
  base_url: z.nullable(z.string()),
});

export const UpdatedResponse = z.object({ updated: z.literal(true), keys: z.array(z.string()) });

export const ModelInfo = z.object({
  provider: z.nullable(z.string()),
  model: z.nullable(z.string()),
  base_url: z.nullable(z.string()),
  api_mode: z.nullable(z.string()),
  context_length: z.nullable(z.number()),
  max_tokens: z.nullable(z.number()),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const ModelUpdatedResponse = z.extend(ModelInfo, { updated: z.literal(true), keys: z.array(z.string()) });

export { ErrorBody } from '../../lib/api-schemas';
