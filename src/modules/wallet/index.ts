/** Routes of the wallet (SPEC §12): balances, metered calls with their ledger, escrow. */
import { Elysia } from 'elysia';
import type { Config } from '../../config';
import {
  BalancesResponse, BudgetRefusalBody, ErrorBody, EscrowStateBody, HedgehogErrorBody, EscrowDetail, EscrowListQuery, EscrowListResponse, EscrowLockBody, EscrowParams,
  EscrowRefundBody, EscrowRefundResponse, EscrowReleaseBody, EscrowReleaseResponse, Escrow, PricingResponse,
  TempoCallBody, TempoCallResponse, UsageQuery, UsageResponse, WalletOverview,
} from './model';
import { IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_HEADER, idempotencyKeyOf } from './escrow-keys';
import { pricingView } from './pricing';
import { walletOverview, type Wallet } from './service';
import { workOf } from '../../lib/work';
import { z } from '../../lib/zod';

const tags = ['wallet'];
// The code strings a client branches on, named in the document as the server sends them.
const BudgetExceeded = BudgetRefusalBody.check(z.describe('`budget_exceeded`: the caller has used its budget (TEMPO_CALLER_BUDGET_USD); nothing was billed or held'));
const BudgetHeld = BudgetRefusalBody.check(z.describe('`budget_held` (with Retry-After: 1): the calls of this caller in flight hold what this call may cost; retry when they have finished. Nothing was billed or held'));
const LockRefused = ErrorBody.check(z.describe('`validation_error`; `token_decimals_unknown`; `idempotency_key_invalid` (the Idempotency-Key header is not 1 to 255 printable ASCII characters); `idempotency_key_reused` (the key locked an escrow with another request, named in `detail`). Nothing was written'));
// Documented here, read in the handler: a key that breaks the rule is its own 422 code, not a validation_error.
const IdempotencyKeyParam = {
  name: IDEMPOTENCY_KEY_HEADER, in: 'header' as const, required: false,
  description: 'Optional. A retry with the key of a committed lock and the same request answers that escrow as it is now (201, `Idempotent-Replayed: true`) and locks nothing; the same key with another request is 422 `idempotency_key_reused`. Keys are global (not per API key or actor) and kept as long as their escrow',
  schema: { type: 'string' as const, minLength: 1, maxLength: 255, pattern: IDEMPOTENCY_KEY.source },
};
const LockedResponse = {
  description: 'The escrow locked, or for a retry under its Idempotency-Key the escrow that key locked, as it is now',
  headers: { 'Idempotent-Replayed': { description: '`true` on an answer replayed for an Idempotency-Key (absent otherwise)', schema: { type: 'string' as const, enum: ['true'] } } },
};
const ReleaseForbidden = ErrorBody.check(z.describe('`recipient_mismatch`: the escrow was locked for another recipient; or, for an escrow locked with gaze_required, `gaze_required`, `gaze_not_verified` or `gaze_stale`'));

export function walletPlugin(deps: { wallet: Wallet; config: Config }) {
  const { wallet, config } = deps;
  return new Elysia({ name: 'wallet' })
    .get('/api/wallet', () => walletOverview(wallet, config), {
      response: { 200: WalletOverview },
      detail: { tags, summary: `Wallet overview: balances from a short cache (BALANCE_CACHE_S), configured tokens, escrow totals` },
    })
    .get('/api/wallet/balances', async () => {
      const s = await wallet.balances.live();
      return { wallets: s.wallets, fetched_at: s.fetched_at, duration_ms: s.duration_ms };
    }, {
      response: { 200: BalancesResponse },
      detail: { tags, summary: 'Live balances of every configured chain and token, fetched in parallel; each entry has its value or its own error' },
    })
    .post('/api/wallet/tempo/call', ({ body, request }) => wallet.billing.call(body, request.signal, workOf(request)), {
      body: TempoCallBody,
      response: { 200: TempoCallResponse, 402: BudgetExceeded, 429: BudgetHeld, 422: HedgehogErrorBody, 502: HedgehogErrorBody, 504: ErrorBody },
      detail: { tags, summary: 'Metered chat completion through HEDGEHOG_URL, priced and recorded in the usage ledger (failures bill nothing)' },
    })
    .get('/api/wallet/tempo/usage', ({ query }) => wallet.billing.usage(query), {
      query: UsageQuery,
      response: { 200: UsageResponse, 422: ErrorBody },
      detail: { tags, summary: 'Usage ledger, newest first, with exact totals over every matching call' },
    })
    .get('/api/wallet/tempo/pricing', () => pricingView(wallet.billing.pricing, wallet.billing.budgetMicro), {
      response: { 200: PricingResponse },
      detail: { tags, summary: 'The pricing table in force' },
    })
    .post('/api/wallet/escrow', async ({ body, set, request }) => {
      const { escrow, replayed } = await wallet.escrow.lock(body, idempotencyKeyOf(request.headers));
      set.status = 201;
      if (replayed) set.headers['idempotent-replayed'] = 'true';
      return escrow;
    }, {
      body: EscrowLockBody,
      response: { 201: Escrow, 422: LockRefused },
      detail: { tags, summary: 'Lock an amount in escrow for a task; an Idempotency-Key makes a retry answer the escrow it locked', parameters: [IdempotencyKeyParam], responses: { 201: LockedResponse } },
    })
    .get('/api/wallet/escrow', ({ query }) => wallet.escrow.list(query), {
      query: EscrowListQuery,
      response: { 200: EscrowListResponse, 422: ErrorBody },
      detail: { tags, summary: 'List escrows, newest first (a locked entry past expires_at is expired before filtering)' },
    })
    .post('/api/wallet/escrow/release', ({ body }) => wallet.escrow.release(body), {
      body: EscrowReleaseBody,
      response: { 200: EscrowReleaseResponse, 403: ReleaseForbidden, 404: ErrorBody, 409: EscrowStateBody, 410: EscrowStateBody, 503: ErrorBody },
      detail: { tags, summary: 'Release a locked escrow to its recipient (409 not locked, 410 expired, 403 recipient or gaze check)' },
    })
    .get('/api/wallet/escrow/:id', ({ params }) => wallet.escrow.get(params.id), {
      params: EscrowParams,
      response: { 200: EscrowDetail, 404: ErrorBody },
      detail: { tags, summary: 'One escrow with its event history' },
    })
    .post('/api/wallet/escrow/:id/refund', ({ params, body }) => wallet.escrow.refund(params.id, body), {
      params: EscrowParams,
      body: EscrowRefundBody,
      response: { 200: EscrowRefundResponse, 404: ErrorBody, 409: EscrowStateBody },
      detail: { tags, summary: 'Refund a locked or expired escrow (409 otherwise)' },
    });
}
