/**
 * The pricing table of metered calls: per-model USD prices per 1k input and output tokens plus a
 * margin per call, read from TEMPO_PRICING (JSON or YAML) or the built-in table. Prices are held in
 * integer micro-USD; a call's cost is computed in integers and each component is rounded up to the
 * next micro-dollar, so the ledger only ever holds exact integers.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, visit } from 'yaml';
import { ownRecord } from '../../lib/api-schemas';
import { z } from '../../lib/zod';
import { ConfigError } from '../../config';
import { fromBaseUnits, lostDigits, MoneyFormatError, toBaseUnits } from '../../lib/money';

export const MICRO_DECIMALS = 6;

export interface ModelPrice {
  inputPer1k: bigint;
  outputPer1k: bigint;
  margin: bigint;
}

export interface PricingTable {
  token: string;
  source: string;
  /** Price of models not listed; null means unlisted models are refused. */
  fallback: ModelPrice | null;
  /** The entries as the table names them (what GET /pricing shows). */
  models: ReadonlyMap<string, ModelPrice>;
  /** The same entries by lower-cased name, the key a requested model is looked up by. */
  byKey: ReadonlyMap<string, ModelPrice>;
}

export interface CallCost {
  input: bigint;
  output: bigint;
  margin: bigint;
  total: bigint;
}

const Price = z.union([z.number().check(z.nonnegative()), z.string().check(z.trim(), z.regex(/^\d+(\.\d+)?$/, { error: 'expected a decimal amount' }))]);
const Entry = z.strictObject({
  input_per_1k_usd: Price,
  output_per_1k_usd: Price,
  margin_per_call_usd: z.optional(Price),
});
const ModelName = z.string().check(z.minLength(1), z.maxLength(200));
/**
 * `models` as `[name, entry]` pairs in the file's order. Not z.record: it rebuilds the map by assignment,
 * which drops a model named `__proto__` without a word (it was then billed at the default price).
 */
const Models = z.pipe(
  ownRecord(z.unknown(), 'expected a map of model names to prices'),
  z.transform((map, payload) => Object.entries(map).flatMap(([name, raw]) => {
    const parsed = z.safeParse(z.tuple([ModelName, Entry]), [name, raw]);
    if (parsed.success) return [parsed.data];
    for (const issue of parsed.error.issues) payload.issues.push({ ...issue, path: [name, ...issue.path.slice(1)], input: raw } as (typeof payload.issues)[number]);
    return [];
  })),
);
const PricingFile = z.strictObject({
  token: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(32))),
  margin_per_call_usd: z.optional(Price),
  default: z.optional(Entry),
  models: z._default(Models, []),
});
type PricingFile = z.infer<typeof PricingFile>;

/** The built-in table: one default price for every model; override it with TEMPO_PRICING. */
const BUILT_IN_PRICING: PricingFile = {
  token: 'USDC',
  margin_per_call_usd: '0.001',
  default: { input_per_1k_usd: '0.003', output_per_1k_usd: '0.015' },
  models: [],
};

export function loadPricing(path: string | null): PricingTable {
  if (!path) return buildTable(BUILT_IN_PRICING, 'built-in');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Invalid TEMPO_PRICING: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  let raw: unknown;
  try {
    raw = parseExact(text);
  } catch {
    throw new ConfigError(`Invalid TEMPO_PRICING: ${path} is neither JSON nor YAML.`);
  }
  const parsed = z.safeParse(PricingFile, raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`Invalid TEMPO_PRICING: ${path}: ${issue?.path.join('.') || 'table'}: ${issue?.message ?? 'invalid'}.`);
  }
  return buildTable(parsed.data, path);
}

/**
 * The table as a plain value, a price written as a number read from its digits: the double the parser
 * makes of it holds 15–17 significant digits (12345678901234.567891 was read as …568, and
 * 0.0030000000000000001, more places than micro-USD have, as 0.003). Throws what yaml's `parse` would.
 */
function parseExact(text: string): unknown {
  const doc = parseDocument(text);
  if (doc.errors[0]) throw doc.errors[0];
  visit(doc, {
    Scalar(_, node) {
      const exact = typeof node.value === 'number' && node.source !== undefined ? lostDigits(node.source, node.value) : null;
      if (exact !== null) node.value = exact;
    },
  });
  return doc.toJS();
}

function buildTable(file: PricingFile, source: string): PricingTable {
  const micro = (v: string | number, where: string): bigint => {
    try {
      return toBaseUnits(v, MICRO_DECIMALS);
    } catch (err) {
      if (err instanceof MoneyFormatError) throw new ConfigError(`Invalid TEMPO_PRICING: ${source}: ${where}: at most 6 decimal places (micro-USD).`);
      throw err;
    }
  };
  const defaultMargin = micro(file.margin_per_call_usd ?? 0, 'margin_per_call_usd');
  const price = (e: z.infer<typeof Entry>, where: string): ModelPrice => ({
    inputPer1k: micro(e.input_per_1k_usd, `${where}.input_per_1k_usd`),
    outputPer1k: micro(e.output_per_1k_usd, `${where}.output_per_1k_usd`),
    margin: e.margin_per_call_usd === undefined ? defaultMargin : micro(e.margin_per_call_usd, `${where}.margin_per_call_usd`),
  });
  const models = new Map(file.models.map(([name, e]) => [name, price(e, `models.${name}`)]));
  const byKey = new Map<string, ModelPrice>();
  for (const [name, p] of models) {
    if (byKey.has(name.toLowerCase())) throw new ConfigError(`Invalid TEMPO_PRICING: ${source}: models.${name}: listed twice (model names are matched ignoring case).`);
    byKey.set(name.toLowerCase(), p);
  }
  return { token: file.token ?? 'USDC', source, fallback: file.default ? price(file.default, 'default') : null, models, byKey };
}

/**
 * A model's entry, matched ignoring case and, when the full name is not listed, without a provider
 * prefix (`openai/gpt-4o` → `gpt-4o`): gateways serve those spellings as the same model, so they must
 * not fall to the default price. Else the default (null: refused).
 */
export function priceFor(table: PricingTable, model: string | undefined): ModelPrice | null {
  if (model === undefined) return table.fallback;
  const key = model.toLowerCase();
  return table.byKey.get(key) ?? table.byKey.get(key.slice(key.lastIndexOf('/') + 1)) ?? table.fallback;
}

/** Tokens × micro-USD per 1k ÷ 1000, rounded up: a fraction of a micro-dollar is billed as one. */
export function costOf(price: ModelPrice, inputTokens: number, outputTokens: number): CallCost {
  const part = (tokens: number, per1k: bigint) => (BigInt(tokens) * per1k + 999n) / 1000n;
  const input = part(inputTokens, price.inputPer1k);
  const output = part(outputTokens, price.outputPer1k);
  return { input, output, margin: price.margin, total: input + output + price.margin };
}

/**
 * The most a call can cost before it is made, for its budget hold (docs/wallet.md): the price of the
 * model it names — or, naming none, the dearest of each component in the table, since it is priced as
 * whichever model answers — for `inputBound` prompt tokens and `maxTokens` completion tokens. Without
 * max_tokens the answer's length, and so the cost, has no bound: null.
 */
export function maxCostOf(table: PricingTable, model: string | undefined, inputBound: number, maxTokens: number | undefined): bigint | null {
  if (maxTokens === undefined) return null;
  const price = model === undefined ? dearest(table) : priceFor(table, model);
  return price === null ? null : costOf(price, inputBound, maxTokens).total;
}

function dearest(table: PricingTable): ModelPrice | null {
  const all = [...(table.fallback ? [table.fallback] : []), ...table.models.values()];
  if (all.length === 0) return null;
  const max = (pick: (p: ModelPrice) => bigint) => all.map(pick).reduce((a, b) => (b > a ? b : a));
  return { inputPer1k: max((p) => p.inputPer1k), outputPer1k: max((p) => p.outputPer1k), margin: max((p) => p.margin) };
}

export const usd = (micro: bigint): string => fromBaseUnits(micro, MICRO_DECIMALS);

const priceView = (p: ModelPrice) => ({ input_per_1k_usd: usd(p.inputPer1k), output_per_1k_usd: usd(p.outputPer1k), margin_per_call_usd: usd(p.margin) });

export function pricingView(table: PricingTable, budgetMicro: bigint | null) {
  return {
    token: table.token,
    source: table.source,
    unit: 'usd_per_1k_tokens' as const,
    rounding: 'each cost component is rounded up to 0.000001' as const,
    default: table.fallback ? priceView(table.fallback) : null,
    models: Object.fromEntries([...table.models].map(([name, p]) => [name, priceView(p)])),
    caller_budget_usd: budgetMicro === null ? null : usd(budgetMicro),
  };
}
