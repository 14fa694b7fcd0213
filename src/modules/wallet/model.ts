/**
 * Schemas of the wallet routes. Money is always an exact decimal string (`"12.5"`); where the base
 * units matter they are given too, as a string of digits (`amount_base_units`).
 */
import { z } from 'zod';
import { SAFE_ID } from '../../lib/ids';

const Money = z.string().describe('exact decimal amount, e.g. "12.5"');
const Id = z.string().regex(SAFE_ID, { error: 'expected an id of letters, digits, _ . : - (at most 128)' });
const Actor = z.string().trim().min(1).max(128).describe('who performs the action (recorded in the event row)');
const limit = (max: number, def: number) => z.coerce.number().int().min(1).max(max).default(def);
const offset = z.coerce.number().int().min(0).default(0);

export const ApiErrorBody = z.object({
  detail: z.string(),
  code: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

// ---- balances ------------------------------------------------------------------------------

const TokenBalance = z.object({ balance: Money.nullable(), decimals: z.number().int().nullable(), error: z.string().optional() });

const SolanaBalance = z.object({
  address: z.string(),
  network: z.enum(['mainnet-beta', 'devnet']),
  explorer: z.string(),
  balance_sol: Money.nullable(),
  tokens: z.record(z.string(), TokenBalance.extend({ mint: z.string() })),
  error: z.string().optional(),
});

const EvmChainBalance = z.object({
  chain: z.string(),
  chain_id: z.number().int(),
  name: z.string(),
  native_symbol: z.string().nullable().describe('null on Tempo, which has no native token'),
  native_balance: Money.nullable(),
  tokens: z.record(z.string(), TokenBalance.extend({ contract: z.string() })),
  error: z.string().optional(),
});

export const Wallets = z.object({
  solana: SolanaBalance.nullable(),
  solana_devnet: SolanaBalance.nullable(),
  evm: z.object({ address: z.string(), chains: z.array(EvmChainBalance) }).nullable(),
});

const EscrowTotals = z.object({ locked: Money, released: Money, refunded: Money, expired: Money, count: z.number().int() });

export const WalletOverview = z.object({
  agent: z.string(),
  wallets: Wallets,
  tokens: z.object({
    solana: z.array(z.object({ symbol: z.string(), mint: z.string(), network: z.enum(['mainnet', 'devnet']) })),
    evm: z.array(z.object({ chain: z.string(), chain_id: z.number().int(), symbol: z.string(), contract: z.string(), decimals: z.number().int().nullable() })),
  }),
  escrow: EscrowTotals.extend({
    token: z.string().describe('the token the top-level totals are for (the default escrow token)'),
    by_token: z.record(z.string(), EscrowTotals),
  }),
  fetched_at: z.string(),
  cached: z.boolean(),
  age_s: z.number().int(),
});

export const BalancesResponse = z.object({ wallets: Wallets, fetched_at: z.string(), duration_ms: z.number() });

// ---- metered calls -------------------------------------------------------------------------

export const TempoCallBody = z
  .object({
    caller_id: Id,
    model: z.string().trim().min(1).max(200).optional(),
    messages: z.array(z.looseObject({ role: z.string().min(1) })).min(1).max(1000).optional(),
    prompt: z.string().min(1).max(1_000_000).optional(),
    max_tokens: z.number().int().positive().max(1_000_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
    tools: z.array(z.looseObject({})).max(128).optional(),
  })
  .refine((b) => (b.messages === undefined) !== (b.prompt === undefined), { message: 'send either messages or prompt (exactly one)', path: ['messages'] });
export type TempoCallBody = z.infer<typeof TempoCallBody>;

const CallUsage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int(), reported: z.boolean() });
const Billing = z.object({ input_cost_usd: Money, output_cost_usd: Money, cost_usd: Money, margin_usd: Money, total_usd: Money, token: z.string() });

const CallRecord = z.object({
  call_id: z.string(),
  caller_id: z.string(),
  model: z.string(),
  usage: CallUsage,
  billing: Billing,
  latency_ms: z.number().int(),
  created_at: z.string(),
});
export type CallRecord = z.infer<typeof CallRecord>;

export const TempoCallResponse = CallRecord.extend({
  result: z.object({ role: z.string(), content: z.string().nullable(), tool_calls: z.array(z.unknown()).nullable(), finish_reason: z.string().nullable() }),
});

export const UsageQuery = z.object({
  caller_id: Id.optional(),
  since: z.union([z.iso.datetime({ offset: true }), z.iso.date()]).optional().describe('ISO 8601 date or date-time; calls at or after it'),
  limit: limit(500, 50),
  offset,
});

export const UsageResponse = z.object({
  calls: z.array(CallRecord),
  totals: z.object({ total_calls: z.number().int(), total_tokens: z.number().int(), total_cost_usd: Money, total_margin_usd: Money, total_billed_usd: Money }),
  caller_id: z.string().nullable(),
  since: z.string().nullable(),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
});

const PriceEntry = z.object({ input_per_1k_usd: Money, output_per_1k_usd: Money, margin_per_call_usd: Money });
export const PricingResponse = z.object({
  token: z.string(),
  source: z.string(),
  unit: z.literal('usd_per_1k_tokens'),
  rounding: z.string(),
  default: PriceEntry.nullable(),
  models: z.record(z.string(), PriceEntry),
  caller_budget_usd: Money.nullable(),
});

// ---- escrow --------------------------------------------------------------------------------

export const EscrowStatus = z.enum(['locked', 'released', 'refunded', 'expired']);
export type EscrowStatus = z.infer<typeof EscrowStatus>;
const Recipient = z.string().trim().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, { error: 'expected an address or id' });

export const EscrowLockBody = z.object({
  task_id: Id,
  amount: z.union([z.number(), z.string().max(64)]).describe('> 0, at most the token\'s decimals; a string keeps every digit'),
  token: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: 'expected a token symbol' }).default('OPTX'),
  recipient: Recipient.optional(),
  gaze_required: z.boolean().default(true),
  ttl_seconds: z.number().int().min(60).max(604_800).default(86_400),
  actor: Actor.optional(),
});
export type EscrowLockBody = z.infer<typeof EscrowLockBody>;

export const Escrow = z.object({
  escrow_id: z.string(),
  task_id: z.string(),
  amount: Money,
  amount_base_units: z.string(),
  decimals: z.number().int(),
  token: z.string(),
  status: EscrowStatus,
  recipient: z.string().nullable(),
  gaze_required: z.boolean(),
  created_at: z.string(),
  expires_at: z.string(),
  released_at: z.string().nullable(),
  released_to: z.string().nullable(),
  refunded_at: z.string().nullable(),
});
export type Escrow = z.infer<typeof Escrow>;

export const EscrowEvent = z.object({ from: z.string().nullable(), to: z.string(), actor: z.string(), at: z.string(), detail: z.record(z.string(), z.unknown()).nullable() });
export const EscrowDetail = Escrow.extend({ events: z.array(EscrowEvent) });

export const EscrowListQuery = z.object({ status: EscrowStatus.optional(), task_id: Id.optional(), limit: limit(500, 50), offset });
export const EscrowListResponse = z.object({ escrows: z.array(Escrow), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });

export const EscrowReleaseBody = z.object({ escrow_id: Id, recipient: Recipient, gaze_session_id: z.string().min(1).max(256).optional(), actor: Actor.optional() });
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

export const EscrowRefundBody = z.object({ actor: Actor.optional(), reason: z.string().max(500).optional() }).optional();
export type EscrowRefundBody = z.infer<typeof EscrowRefundBody>;
export const EscrowRefundResponse = z.object({ escrow_id: z.string(), status: z.literal('refunded'), amount: Money, token: z.string(), refunded_at: z.string() });

export const EscrowParams = z.object({ id: Id });
