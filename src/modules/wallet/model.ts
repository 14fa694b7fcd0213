/**
 * Schemas of the wallet routes. Money is always an exact decimal string (`"12.5"`); where the base
 * units matter they are given too, as a string of digits (`amount_base_units`).
 */
import { asSent, errorBodyWith, ownRecord } from '../../lib/api-schemas';
import { ClientTime, queryInt, wellFormed, z } from '../../lib/zod';
import { SAFE_ID, SAFE_ID_RULE } from '../../lib/ids';
import { GazeSessionId } from '../gaze/model';

const Money = z.string().check(z.describe('exact decimal amount, e.g. "12.5"'));
const Id = z.string().check(z.regex(SAFE_ID, { error: `expected an id of ${SAFE_ID_RULE}` }));
// Well-formed: the event row is SQLite text (UTF-8), where half an emoji was kept as U+FFFD.
const Actor = z.string().check(z.trim(), z.minLength(1), z.maxLength(128), wellFormed(), z.describe('who performs the action (recorded in the event row)'));
const limit = (max: number, def: number) => z._default(queryInt(1, max), def);
const offset = z._default(queryInt(0, Number.MAX_SAFE_INTEGER), 0);

export { ErrorBody } from '../../lib/api-schemas';
/** HEDGEHOG's refusals (422) and failures (502) carry its HTTP status. */
export const HedgehogErrorBody = errorBodyWith({ upstream_status: z.optional(z.number().check(z.int())) });
/** A metered call refused by TEMPO_CALLER_BUDGET_USD (402 and 429; each route status describes its code). */
export const BudgetRefusalBody = errorBodyWith({
  caller_id: z.string(),
  budget_usd: Money,
  spent_usd: Money,
  held_usd: z.optional(Money).check(z.describe("held by the caller's calls in flight")),
  call_max_usd: z.optional(z.nullable(Money)).check(z.describe("this call's maximum cost; null without max_tokens (no bound)")),
});

// ---- balances ------------------------------------------------------------------------------

const TokenBalance = z.object({ balance: z.nullable(Money), decimals: z.nullable(z.number().check(z.int())), error: z.optional(z.string()) });

const SolanaBalance = z.object({
  address: z.string(),
  network: z.enum(['mainnet-beta', 'devnet']),
  explorer: z.string(),
  balance_sol: z.nullable(Money),
  tokens: ownRecord(z.extend(TokenBalance, {
    mint: z.string(),
    ui_balance: z.optional(z.nullable(Money)).check(z.describe(
      'only for a Token-2022 mint with the ScaledUiAmount or InterestBearing extension: the figure wallets show (the node\'s uiAmountString, multiplier or interest applied, summed over the accounts); null when the node gave none. `balance` stays the raw amount',
    )),
  }), 'expected balances by token symbol'),
  error: z.optional(z.string()),
});
export type SolanaBalance = z.infer<typeof SolanaBalance>;

const EvmChainBalance = z.object({
  chain: z.string(),
  chain_id: z.number().check(z.int()),
  name: z.string(),
  native_symbol: z.nullable(z.string()).check(z.describe('null on Tempo, which has no native token')),
  native_balance: z.nullable(Money),
  tokens: ownRecord(z.extend(TokenBalance, { contract: z.string() }), 'expected balances by token symbol'),
  error: z.optional(z.string()),
});
export type EvmChainBalance = z.infer<typeof EvmChainBalance>;

export const Wallets = z.object({
  solana: z.nullable(SolanaBalance),
  solana_devnet: z.nullable(SolanaBalance),
  evm: z.nullable(z.object({ address: z.string(), chains: z.array(EvmChainBalance) })),
});
export type Wallets = z.infer<typeof Wallets>;

const EscrowTotals = z.object({ locked: Money, released: Money, refunded: Money, expired: Money, count: z.number().check(z.int()) });
export type EscrowTotals = z.infer<typeof EscrowTotals>;

export const WalletOverview = z.object({
  agent: z.string(),
  wallets: Wallets,
  tokens: z.object({
    solana: z.array(z.object({ symbol: z.string(), mint: z.string(), network: z.enum(['mainnet', 'devnet']) })),
    evm: z.array(z.object({ chain: z.string(), chain_id: z.number().check(z.int()), symbol: z.string(), contract: z.string(), decimals: z.nullable(z.number().check(z.int())) })),
  }),
  escrow: z.extend(EscrowTotals, {
    token: z.string().check(z.describe('the token the top-level totals are for (the default escrow token)')),
    by_token: ownRecord(EscrowTotals, 'expected totals by token').check(z.describe('totals per token symbol, every symbol escrowed in')),
  }),
  fetched_at: z.string(),
  cached: z.boolean(),
  age_s: z.number().check(z.int()),
});

export const BalancesResponse = z.object({ wallets: Wallets, fetched_at: z.string(), duration_ms: z.number() });

// ---- metered calls -------------------------------------------------------------------------

export const TempoCallBody = z
  .object({
    caller_id: Id,
    // Well-formed: the ledger row names it, and SQLite (UTF-8) kept half an emoji as U+FFFD.
    model: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(200), wellFormed())),
    messages: z.optional(asSent(z.array(z.looseObject({ role: z.string().check(z.minLength(1)) })).check(z.minLength(1), z.maxLength(1000)))),
    prompt: z.optional(z.string().check(z.minLength(1), z.maxLength(1_000_000))),
    max_tokens: z.optional(z.number().check(z.int(), z.positive(), z.lte(1_000_000))),
    temperature: z.optional(z.number().check(z.gte(0), z.lte(2))),
    tools: z.optional(asSent(z.array(z.looseObject({})).check(z.maxLength(128)))),
  })
  .check(z.refine((b) => (b.messages === undefined) !== (b.prompt === undefined), { message: 'send either messages or prompt (exactly one)', path: ['messages'] }));
export type TempoCallBody = z.infer<typeof TempoCallBody>;

const CallUsage = z.object({ prompt_tokens: z.number().check(z.int()), completion_tokens: z.number().check(z.int()), total_tokens: z.number().check(z.int()), reported: z.boolean() });
const Billing = z.object({ input_cost_usd: Money, output_cost_usd: Money, cost_usd: Money, margin_usd: Money, total_usd: Money, token: z.string() });

const CallRecord = z.object({
  call_id: z.string(),
  caller_id: z.string(),
  model: z.string(),
  usage: CallUsage,
  billing: Billing,
  latency_ms: z.number().check(z.int()),
  created_at: z.string(),
});
export type CallRecord = z.infer<typeof CallRecord>;

export const TempoCallResponse = z.extend(CallRecord, {
  result: z.object({ role: z.string(), content: z.nullable(z.string()), tool_calls: z.nullable(z.array(z.unknown())), finish_reason: z.nullable(z.string()) }),
});

export const UsageQuery = z.object({
  caller_id: z.optional(Id),
  since: z.optional(ClientTime).check(z.describe('ISO 8601 date or date-time (UTC when it has no zone); calls at or after it')),
  limit: limit(500, 50),
  offset,
});

export const UsageResponse = z.object({
  calls: z.array(CallRecord),
  totals: z.object({ total_calls: z.number().check(z.int()), total_tokens: z.number().check(z.int()), total_cost_usd: Money, total_margin_usd: Money, total_billed_usd: Money }),
  caller_id: z.nullable(z.string()),
  since: z.nullable(z.string()),
  total: z.number().check(z.int()),
  limit: z.number().check(z.int()),
  offset: z.number().check(z.int()),
});

const PriceEntry = z.object({ input_per_1k_usd: Money, output_per_1k_usd: Money, margin_per_call_usd: Money });
export const PricingResponse = z.object({
  token: z.string(),
  source: z.string(),
  unit: z.literal('usd_per_1k_tokens'),
  rounding: z.string(),
  default: z.nullable(PriceEntry),
  models: ownRecord(PriceEntry, 'expected prices by model'),
  caller_budget_usd: z.nullable(Money),
});

// ---- escrow --------------------------------------------------------------------------------

export const EscrowStatus = z.enum(['locked', 'released', 'refunded', 'expired']);
export type EscrowStatus = z.infer<typeof EscrowStatus>;
/** 409 (not locked / not refundable) and 410 (expired) give the escrow's status. */
export const EscrowStateBody = errorBodyWith({ status: EscrowStatus });
const Recipient = z.string().check(z.trim(), z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9_.:-]+$/, { error: 'expected an address or id' }));

export const EscrowLockBody = z.object({
  task_id: Id,
  // A number whose digits a double loses reaches this as its text (lib/body.ts): the cap's words fit both.
  amount: z.union([z.number(), z.string().check(z.maxLength(128, { error: 'at most 128 characters written out in decimal digits' }))])
    .check(z.describe('> 0, at most the token\'s decimals; a string keeps every digit')),
  token: z._default(z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: 'expected a token symbol' })), 'OPTX'),
  recipient: z.optional(Recipient),
  gaze_required: z._default(z.boolean(), true),
  ttl_seconds: z._default(z.number().check(z.int(), z.gte(60), z.lte(604_800)), 86_400),
  actor: z.optional(Actor),
});
export type EscrowLockBody = z.infer<typeof EscrowLockBody>;

/** Body fields holding money sent as a JSON number, by route path: the body reader keeps their digits (lib/body.ts). */
export const EXACT_NUMBER_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([['/api/wallet/escrow', ['amount']]]);

export const Escrow = z.object({
  escrow_id: z.string(),
  task_id: z.string(),
  amount: Money,
  amount_base_units: z.string(),
  decimals: z.number().check(z.int()),
  token: z.string(),
  status: EscrowStatus,
  recipient: z.nullable(z.string()),
  gaze_required: z.boolean(),
  created_at: z.string(),
  expires_at: z.string(),
  released_at: z.nullable(z.string()),
  released_to: z.nullable(z.string()),
  refunded_at: z.nullable(z.string()),
});
export type Escrow = z.infer<typeof Escrow>;

const EscrowEvent = z.object({ from: z.nullable(z.string()), to: z.string(), actor: z.string(), at: z.string(), detail: z.nullable(z.record(z.string(), z.unknown())) });
export const EscrowDetail = z.extend(Escrow, { events: z.array(EscrowEvent) });

export const EscrowListQuery = z.object({ status: z.optional(EscrowStatus), task_id: z.optional(Id), limit: limit(500, 50), offset });
export const EscrowListResponse = z.object({ escrows: z.array(Escrow), total: z.number().check(z.int()), limit: z.number().check(z.int()), offset: z.number().check(z.int()) });

export const EscrowReleaseBody = z.object({ escrow_id: Id, recipient: Recipient, gaze_session_id: z.optional(GazeSessionId), actor: z.optional(Actor) });
export type EscrowReleaseBody = z.infer<typeof EscrowReleaseBody>;
export const EscrowReleaseResponse = z.object({
  escrow_id: z.string(),
  status: z.literal('released'),
  amount: Money,
  token: z.string(),
  recipient: z.string(),
  released_at: z.string(),
  settlement: z.literal('pending_on_chain'),
});

export const EscrowRefundBody = z.optional(z.object({ actor: z.optional(Actor), reason: z.optional(z.string().check(z.maxLength(500))) }));
export type EscrowRefundBody = z.infer<typeof EscrowRefundBody>;
export const EscrowRefundResponse = z.object({ escrow_id: z.string(), status: z.literal('refunded'), amount: Money, token: z.string(), refunded_at: z.string() });

// Not held to the id rule of bodies: a path id that names no escrow is a 404, as for tasks and memories.
export const EscrowParams = z.object({ id: z.string().check(z.minLength(1)) });
