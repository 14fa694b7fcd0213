/**
 * Metered (pay-per-inference) calls: a chat completion forwarded to HEDGEHOG_URL with the sidecar's
 * own key, priced by the pricing table and written to the usage ledger only when the upstream
 * answered a usable completion — a failure bills nothing. An optional per-caller budget holds each
 * call's maximum cost before it goes upstream and refuses (402 used up, 429 held) calls that do not fit (budget.ts).
 */
import { desc, eq, getTableColumns, gte, and, type SQL } from 'drizzle-orm';
import { z } from '../../lib/zod';
import type { Hedgehog } from '../../config';
import type { DbHandle } from '../../db';
import { readSnapshot } from '../../db/kept-reads';
import { tempoCalls } from '../../db/schema';
import { ApiError, clientClosed, shuttingDown, storageError } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import { fetchJson, OutboundError, type JsonResult } from '../../lib/http';
import { newId } from '../../lib/ids';
import { unlessLeft, type Work } from '../../lib/work';
import { isoNow, toUtcIso } from '../../lib/time';
import { answerText, MessageContent } from '../../upstream/completion';
import { CallerBudget, type Hold } from './budget';
import type { CallRecord, TempoCallBody } from './model';
import { costOf, maxCostOf, priceFor, usd, type ModelPrice, type PricingTable } from './pricing';

/** A count the upstream may leave out or send as null (some servers report only one side). */
const tokenCount = z.optional(z.nullable(z.number().check(z.int(), z.nonnegative())));

const Completion = z.object({
  model: z.optional(z.string()),
  choices: z.array(z.object({
    message: z.looseObject({ role: z._default(z.string(), 'assistant'), content: z.optional(z.nullable(MessageContent)), tool_calls: z.optional(z.nullable(z.array(z.unknown()))) }),
    finish_reason: z.optional(z.nullable(z.string())),
  })).check(z.minLength(1)),
  usage: z.optional(z.nullable(z.object({ prompt_tokens: tokenCount, completion_tokens: tokenCount }))),
});

type CallRow = typeof tempoCalls.$inferSelect;
type CallResult = CallRecord & { result: { role: string; content: string | null; tool_calls: unknown[] | null; finish_reason: string | null } };

export interface UsageFilter {
  caller_id?: string;
  since?: string;
  limit: number;
  offset: number;
}

interface Totals {
  n: bigint;
  tokens: bigint;
  cost: bigint;
  margin: bigint;
  billed: bigint;
}

const SUMMED = ['tokens', 'cost', 'margin', 'billed'] as const;
type SplitTotals = { n: bigint } & Record<`${(typeof SUMMED)[number]}_${'hi' | 'lo'}`, bigint>;
/** SQLite's largest integer: a running total past it would be stored as a float. */
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Sums of 64-bit integers that cannot overflow: SQLite's SUM fails past 2^63 ("integer overflow", a 500
 * on every later usage read), so each column's high and low 32 bits are summed apart (joinSums).
 */
const exactSums = (cols: Record<(typeof SUMMED)[number], string>): string => SUMMED
  .map((k) => `COALESCE(SUM((${cols[k]}) >> 32), 0) AS ${k}_hi, COALESCE(SUM((${cols[k]}) & 4294967295), 0) AS ${k}_lo`).join(', ');
const joinSums = (r: SplitTotals): Totals => {
  const t = { n: r.n } as Totals;
  for (const k of SUMMED) t[k] = (r[`${k}_hi`] << 32n) + r[`${k}_lo`];
  return t;
};

export class TempoBilling {
  private readonly totalsSince;
  private readonly keptTotalsStmt;
  private readonly callerTotalsStmt;
  private readonly addTotalsStmt;
  private readonly budget: CallerBudget | null;

  constructor(
    private readonly handle: DbHandle,
    readonly pricing: PricingTable,
    private readonly hedgehog: Hedgehog,
    readonly budgetMicro: bigint | null,
    private readonly log: Logger,
  ) {
    // Sums are read as bigint, split (exactSums) so they stay exact whatever their size. One statement per filter shape:
    // written as `(?1 IS NULL OR caller_id = ?1) AND (?2 IS NULL OR created_at >= ?2)`, no index could
    // serve it and every call of the ledger was read (6.6 ms at 100,000 calls for a few since `since`).
    const sums = <P extends string[]>(where: string) => handle.sqlite.query<SplitTotals, P>(
      `SELECT COUNT(*) AS n, ${exactSums({ tokens: 'input_tokens + output_tokens', cost: 'input_cost_micro + output_cost_micro', margin: 'margin_micro', billed: 'total_micro' })}
         FROM tempo_calls WHERE ${where}`,
    ).safeIntegers(true);
    this.totalsSince = { all: sums<[string]>('created_at >= ?1'), caller: sums<[string, string]>('caller_id = ?2 AND created_at >= ?1') };
    // Without `since`, the running totals answer (one row per caller) instead of summing the ledger.
    this.keptTotalsStmt = handle.sqlite.query<SplitTotals, [string | null]>(
      `SELECT COALESCE(SUM(calls), 0) AS n, ${exactSums({ tokens: 'tokens', cost: 'cost_micro', margin: 'margin_micro', billed: 'billed_micro' })}
         FROM tempo_totals WHERE (?1 IS NULL OR caller_id = ?1)`,
    ).safeIntegers(true);
    this.callerTotalsStmt = handle.sqlite.query<Omit<Totals, 'n'>, [string]>(
      'SELECT tokens, cost_micro AS cost, margin_micro AS margin, billed_micro AS billed FROM tempo_totals WHERE caller_id = ?1',
    ).safeIntegers(true);
    this.addTotalsStmt = handle.sqlite.query(
      `INSERT INTO tempo_totals (caller_id, calls, tokens, cost_micro, margin_micro, billed_micro) VALUES (?1, 1, ?2, ?3, ?4, ?5)
       ON CONFLICT(caller_id) DO UPDATE SET calls = calls + 1, tokens = tokens + ?2, cost_micro = cost_micro + ?3,
         margin_micro = margin_micro + ?4, billed_micro = billed_micro + ?5`,
    );
    this.budget = budgetMicro === null ? null : new CallerBudget(handle, budgetMicro, hedgehog.timeoutMs);
  }

  /** `work` hears when HEDGEHOG answered: its tokens are produced, whether or not the ledger row can then be written. */
  async call(body: TempoCallBody, signal: AbortSignal, work: Work): Promise<CallResult> {
    const price = priceFor(this.pricing, body.model);
    if (!price) {
      throw new ApiError(422, 'unknown_model', body.model
        ? `The pricing table has no price for model ${body.model} and no default.`
        : 'Send a model: the pricing table has no default price.', { errors: [{ path: 'model', message: 'no price for this model' }] });
    }
    const payload = payloadOf(body);
    // A token covers at least one byte of the text it stands for: the bytes sent bound the prompt's tokens.
    const inputBound = Buffer.byteLength(JSON.stringify(payload.messages)) + (body.tools ? Buffer.byteLength(JSON.stringify(body.tools)) : 0);
    const hold = this.budget ? await this.budget.reserve(body.caller_id, maxCostOf(this.pricing, body.model, inputBound, body.max_tokens)) : null;
    try {
      return await this.run(body, payload, price, hold, signal, work);
    } catch (err) {
      if (hold) await this.budget?.release(hold);
      throw err;
    }
  }

  private async run(body: TempoCallBody, payload: Payload, price: ModelPrice, hold: Hold | null, signal: AbortSignal, work: Work): Promise<CallResult> {
    const t0 = performance.now();
    const res = await this.forward(payload, signal, work);
    const latencyMs = Math.round(performance.now() - t0);
    if (res.ok) work.started();
    const completion = parseCompletion(res);
    const choice = completion.choices[0] as z.infer<typeof Completion>['choices'][number];
    const usage = completion.usage ?? null;
    const inputTokens = usage?.prompt_tokens ?? 0;
    const outputTokens = usage?.completion_tokens ?? 0;
    // A call that named no model is priced as the model that answered, the one its ledger row names.
    const model = body.model ?? completion.model;
    const cost = costOf(body.model === undefined ? (priceFor(this.pricing, model) ?? price) : price, inputTokens, outputTokens);
    // The ledger keeps exact integers: beyond 2^53 SQLite would get a float, failing the row's CHECK
    // or storing an inexact cost that breaks every later sum. No real call comes near it.
    if (inputTokens + outputTokens > Number.MAX_SAFE_INTEGER || cost.total > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ApiError(502, 'hedgehog_invalid_response', 'HEDGEHOG reported a usage too large to bill exactly; nothing was billed.');
    }
    const row: CallRow = {
      id: newId('call_'),
      callerId: body.caller_id,
      model: model ?? 'default',
      inputTokens,
      outputTokens,
      // Reported means both counts came: a missing one is billed as 0 and the row says so.
      usageReported: typeof usage?.prompt_tokens === 'number' && typeof usage.completion_tokens === 'number',
      inputCostMicro: Number(cost.input),
      outputCostMicro: Number(cost.output),
      marginMicro: Number(cost.margin),
      totalMicro: Number(cost.total),
      token: this.pricing.token,
      latencyMs,
      createdAt: isoNow(),
    };
    await this.record(row, hold);
    return {
      ...recordOf(row),
      result: { role: choice.message.role, content: choice.message.content == null ? null : answerText(choice.message.content), tool_calls: choice.message.tool_calls ?? null, finish_reason: choice.finish_reason ?? null },
    };
  }

  /**
   * The ledger row, its caller's totals and the end of its budget hold land together or not at all.
   * An older sidecar in a rolling restart (a newer one has migrated the database: storage_upgraded)
   * will never write again, so the row cannot be written here, nor a credit giving a payer's credential
   * back: refusing would drop an answer the upstream produced and the payer paid for on chain, while
   * the ledger lost the row all the same. Such a call is served; the row is logged for the operator to
   * add to the ledger, and its budget hold expires as an abandoned one. Other storage failures (busy,
   * full) pass once the store recovers and are answered as they are.
   */
  private async record(row: CallRow, hold: Hold | null): Promise<void> {
    try {
      await this.handle.write(() => this.handle.sqlite.transaction(() => {
        this.refuseTotalsPastInt64(row);
        this.handle.db.insert(tempoCalls).values(row).run();
        this.addTotalsStmt.run(row.callerId, row.inputTokens + row.outputTokens, row.inputCostMicro + row.outputCostMicro, row.marginMicro, row.totalMicro);
        if (hold) this.budget?.settleIn(hold);
      }).immediate());
    } catch (err) {
      const refused = storageError(err);
      if (refused?.code !== 'storage_upgraded') throw err;
      // A string: the logger masks fields named like secrets, and `*_tokens` and `token` are among them.
      const ledgerRow = JSON.stringify(Object.fromEntries(Object.entries(getTableColumns(tempoCalls)).map(([key, col]) => [col.name, row[key as keyof CallRow]])));
      this.log.error('metered call served but not recorded in the usage ledger', {
        reason: refused.detail, call_id: row.id, caller_id: row.callerId, total_micro: row.totalMicro, ledger_row: ledgerRow,
      });
    }
  }

  /**
   * A caller's running totals are SQLite integers: added past 2^63 - 1 they became floats, inexact, and
   * broke every later read. Only absurd usage reports get there (~3,000 calls at the per-call bound), so
   * the call is refused as those are; inside the ledger write's transaction.
   */
  private refuseTotalsPastInt64(row: CallRow): void {
    const kept = this.callerTotalsStmt.get(row.callerId);
    if (!kept) return;
    const adds = { tokens: row.inputTokens + row.outputTokens, cost: row.inputCostMicro + row.outputCostMicro, margin: row.marginMicro, billed: row.totalMicro };
    if (SUMMED.some((k) => kept[k] + BigInt(adds[k]) > INT64_MAX)) {
      throw new ApiError(502, 'hedgehog_invalid_response', `HEDGEHOG reported a usage that takes the billed totals of ${row.callerId} past what the ledger holds exactly; nothing was billed.`);
    }
  }

  usage(f: UsageFilter) {
    const since = f.since === undefined ? null : toUtcIso(f.since);
    const conds: SQL[] = [];
    if (f.caller_id !== undefined) conds.push(eq(tempoCalls.callerId, f.caller_id));
    if (since !== null) conds.push(gte(tempoCalls.createdAt, since));
    // One snapshot: read apart, a call another sidecar recorded in between was in the totals and not
    // on the page (41 calls listed beside a total of 42).
    const { rows, t } = readSnapshot(this.handle.sqlite, () => ({
      rows: this.handle.db.select().from(tempoCalls).where(and(...conds))
        .orderBy(desc(tempoCalls.createdAt), desc(tempoCalls.id)).limit(f.limit).offset(f.offset).all(),
      t: joinSums((since === null ? this.keptTotalsStmt.get(f.caller_id ?? null)
        : f.caller_id === undefined ? this.totalsSince.all.get(since) : this.totalsSince.caller.get(since, f.caller_id)) as SplitTotals),
    }));
    return {
      calls: rows.map(recordOf),
      totals: { total_calls: Number(t.n), total_tokens: Number(t.tokens), total_cost_usd: usd(t.cost), total_margin_usd: usd(t.margin), total_billed_usd: usd(t.billed) },
      caller_id: f.caller_id ?? null,
      since,
      total: Number(t.n),
      limit: f.limit,
      offset: f.offset,
    };
  }

  private async forward(payload: Payload, signal: AbortSignal, work: Work): Promise<JsonResult> {
    // Only the sidecar's own HEDGEHOG key goes out; nothing of the client's request headers does.
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    const key = this.hedgehog.apiKey();
    if (key) headers.authorization = `Bearer ${key}`;
    unlessLeft(signal, work, 'nothing was billed');
    try {
      return await fetchJson(`${this.hedgehog.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(payload), timeoutMs: this.hedgehog.timeoutMs, signal, shutdown: this.hedgehog.shutdown, target: 'HEDGEHOG' });
    } catch (err) {
      work.upstreamFailed(err);
      if (err instanceof OutboundError && err.kind === 'timeout') throw new ApiError(504, 'hedgehog_timeout', `HEDGEHOG did not answer within ${this.hedgehog.timeoutMs / 1000} s; nothing was billed.`);
      if (err instanceof OutboundError && err.kind === 'aborted') throw clientClosed('nothing was billed');
      if (err instanceof OutboundError && err.kind === 'shutdown') throw shuttingDown('nothing was billed');
      if (err instanceof OutboundError && err.kind === 'too_large') throw new ApiError(502, 'hedgehog_bad_response', 'HEDGEHOG sent an answer too large to read; nothing was billed.');
      if (err instanceof OutboundError && err.kind === 'redirected') throw new ApiError(502, 'hedgehog_redirected', `${err.message} (HEDGEHOG_URL); nothing was billed.`);
      throw new ApiError(502, 'hedgehog_unreachable', 'HEDGEHOG is unreachable; nothing was billed.');
    }
  }
}

/** The chat completion request sent to HEDGEHOG: the client's fields, nothing else of its request. */
function payloadOf(body: TempoCallBody) {
  return {
    ...(body.model !== undefined ? { model: body.model } : {}),
    messages: body.messages ?? [{ role: 'user', content: body.prompt }],
    ...(body.max_tokens !== undefined ? { max_tokens: body.max_tokens } : {}),
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.tools !== undefined ? { tools: body.tools } : {}),
    stream: false as const,
  };
}
type Payload = ReturnType<typeof payloadOf>;

/** HEDGEHOG statuses that judge the client's messages rather than HEDGEHOG or the sidecar's key. */
const REFUSED_AS_INVALID = new Set([400, 422]);

function parseCompletion(res: JsonResult): z.infer<typeof Completion> {
  if (!res.ok) {
    const message = (res.json as { error?: { message?: unknown } } | undefined)?.error?.message;
    const why = typeof message === 'string' ? `: ${message.slice(0, 300)}` : '';
    // The messages are the client's, forwarded as sent: a refusal of them is the client's to fix (4xx),
    // not a failing gateway (5xx). Anything else (401/403 of our key, 404, 429, 5xx) is HEDGEHOG's side.
    if (REFUSED_AS_INVALID.has(res.status)) {
      throw new ApiError(422, 'hedgehog_rejected', `HEDGEHOG refused the request${why}; nothing was billed.`, { body: { upstream_status: res.status } });
    }
    throw new ApiError(502, 'hedgehog_error', `HEDGEHOG answered ${res.status}${why}; nothing was billed.`, { body: { upstream_status: res.status } });
  }
  const parsed = z.safeParse(Completion, res.json);
  if (!parsed.success) throw new ApiError(502, 'hedgehog_invalid_response', 'HEDGEHOG sent an answer that is not a chat completion; nothing was billed.');
  return parsed.data;
}

function recordOf(r: CallRow): CallRecord {
  const input = BigInt(r.inputCostMicro);
  const output = BigInt(r.outputCostMicro);
  return {
    call_id: r.id,
    caller_id: r.callerId,
    model: r.model,
    usage: { prompt_tokens: r.inputTokens, completion_tokens: r.outputTokens, total_tokens: r.inputTokens + r.outputTokens, reported: r.usageReported },
    billing: { input_cost_usd: usd(input), output_cost_usd: usd(output), cost_usd: usd(input + output), margin_usd: usd(BigInt(r.marginMicro)), total_usd: usd(BigInt(r.totalMicro)), token: r.token },
    latency_ms: r.latencyMs,
    created_at: r.createdAt,
  };
}
