/**
 * MPP (Machine Payments Protocol) as the auth layer's payment gate (SPEC §5): a request without a
 * valid API key pays MPP_AMOUNT with a Tempo `charge` (mppx's real method) or gets a 402 carrying a
 * `WWW-Authenticate: Payment …` challenge and a problem-details body. mppx checks the challenge's
 * HMAC and expiry, the signed transfer (amount, currency, recipient, challenge-bound memo), simulates
 * and broadcasts it through the Tempo RPC, and claims the transaction hash in our SQLite store, so a
 * credential is accepted once — across concurrent requests and across restarts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Credential, Errors } from 'mppx';
import { Mppx, tempo as tempoMethods } from 'mppx/server';
import { createClient, type Chain, type EIP1193RequestOptions } from 'viem';
import { tempo, tempoModerato } from 'viem/chains';
import type { Config } from '../../config';
import type { DbHandle } from '../../db';
import { mppPayments } from '../../db/schema';
import { ApiError, storageError } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import { logRepeated } from '../../lib/log-repeats';
import { isoNow } from '../../lib/time';
import type { AuthDecision, PaymentGate } from '../auth/service';
import { tempoRpcTransport } from './rpc';
import { sqliteCredits, sqliteMppStore, type PaymentCredits } from './store';

/** The realm challenges are issued for; it is bound into each challenge and each payment memo. */
const MPP_REALM = 'hermes-optx-api';

type MppConfig = Config['mpp'];

/** The server's stop as the gate sees it (AppDeps' `shutdown` and `shutdownLastCall`). */
export interface GateStop {
  shutdown?: AbortSignal;
  lastCall?: AbortSignal;
}

interface VerificationContext {
  /** Set when a Tempo RPC call failed at the transport (unreachable, timeout, HTTP error). */
  rpcUnavailable: boolean;
  /** Set once the payer's transaction was sent to the node: from then on it may have settled. */
  broadcast: boolean;
  /** Our own database refused a write (busy, full, read-only, replaced): the credential's claim was not written. */
  storage: ApiError | null;
}

export class MppPaymentGate implements PaymentGate {
  private readonly charge;
  private readonly context = new AsyncLocalStorage<VerificationContext>();
  private readonly credits: PaymentCredits;
  /** What a credit was paid for: one bought at another price, token or recipient (a restart with new settings) is void. */
  private readonly price: string;
  private readonly shutdown: AbortSignal | undefined;
  readonly chain: Chain;

  /**
   * `stop.shutdown`: the server's stop. A payment still being checked then gives up its calls to the
   * node before the broadcast (503 payment_verification_unavailable at once, the credential not used
   * up), instead of holding the stop for its grace and losing its connection with no answer. The
   * broadcast and what follows it are let finish, since the payer's money may move with it, but only
   * until `stop.lastCall`, just inside the stop's grace: past it the request's connection is cut with
   * no answer, so it gets the 502 payment_outcome_unknown of any RPC failure after a broadcast while
   * its connection is still open.
   */
  constructor(cfg: MppConfig, handle: DbHandle, private readonly log: Logger, rpcTimeoutMs: number, stop: GateStop = {}) {
    this.shutdown = stop.shutdown;
    this.credits = sqliteCredits(handle);
    this.price = JSON.stringify([cfg.amount, cfg.currency ?? null, cfg.recipient, cfg.network]);
    if (!cfg.recipient || !cfg.secretKey) throw new Error('MPP needs MPP_RECIPIENT and MPP_SECRET_KEY');
    this.chain = cfg.network === 'mainnet' ? tempo : tempoModerato;
    const rpcUrl = cfg.tempoRpcUrl ?? (this.chain.rpcUrls.default.http[0] as string);
    // Transport failures are told apart from refused payments: mppx reports both as an internal error.
    const transport = tempoRpcTransport(
      rpcUrl,
      rpcTimeoutMs,
      () => {
        const ctx = this.context.getStore();
        if (ctx) ctx.rpcUnavailable = true;
      },
      (method) => {
        const ctx = this.context.getStore();
        if (ctx && method.startsWith('eth_sendRawTransaction')) ctx.broadcast = true;
      },
      () => (this.context.getStore()?.broadcast ? stop.lastCall : stop.shutdown),
    );
    const client = createClient({ chain: this.chain, transport });
    // Every call goes to the node on its own. viem shares an in-flight eth_getTransactionReceipt among
    // a client's callers, and the transport reports to the request that started the call: the same
    // push-mode credential sent twice at once got a 503 and a 402 from one failed read (mppx's fetch
    // answers the 402 by paying again).
    const shared = client.request as (args: unknown, options?: EIP1193RequestOptions) => Promise<unknown>;
    client.request = ((args: unknown, options?: EIP1193RequestOptions) => shared(args, { ...options, dedupe: false })) as typeof client.request;
    const chainId = this.chain.id;
    const onStepFailure = (err: unknown) => {
      const ctx = this.context.getStore();
      if (ctx) ctx.storage ??= storageError(err);
    };
    const mppx = Mppx.create({
      methods: [quietFailures(log, onStepFailure, tempoMethods.charge({
        recipient: cfg.recipient as `0x${string}`,
        ...(cfg.currency ? { currency: cfg.currency as `0x${string}` } : {}),
        chainId,
        testnet: cfg.network === 'testnet',
        store: sqliteMppStore(handle),
        getClient: ({ chainId: wanted }) => {
          if (wanted !== undefined && wanted !== chainId) throw new Error(`no Tempo client for chain ${wanted}`);
          return client;
        },
      }))],
      secretKey: cfg.secretKey,
      realm: MPP_REALM,
    });
    mppx.onPaymentSuccess((ctx) => {
      const payment = {
        reference: ctx.receipt.reference,
        challengeId: ctx.challenge.id,
        method: ctx.method.name,
        intent: ctx.method.intent,
        amount: String((ctx.request as { amount?: unknown }).amount ?? ''),
        currency: String((ctx.request as { currency?: unknown }).currency ?? ''),
        recipient: ((ctx.request as { recipient?: unknown }).recipient as string | undefined) ?? null,
        source: ctx.credential?.source ?? null,
        path: ctx.capturedRequest?.url.pathname ?? '',
        createdAt: isoNow(),
      };
      // A record for the operator, written in line with the database's other writes (waiting for
      // another process's lock without blocking the server); the paid request goes on meanwhile.
      handle.write(() => handle.db.insert(mppPayments).values(payment).onConflictDoNothing().run()).catch((err: unknown) => {
        log.error('could not record an MPP payment', { reference: ctx.receipt.reference, error: err instanceof Error ? err.message : String(err) });
      });
    });
    this.charge = mppx.charge({ amount: cfg.amount, description: `${MPP_REALM} request` });
  }

  async authorize(request: Request): Promise<AuthDecision> {
    const held = heldCredential(request, this.price);
    // A credential given back by a refusal pays without mppx: its transaction is already on chain
    // (in pull mode mppx would broadcast it again and be refused), and mppx's marker stays claimed.
    if (held) {
      let receipt;
      try {
        receipt = await this.credits.take(held.key);
      } catch (err) {
        // The credit's DELETE rolled back with the failed write: it is still there for a retry.
        const why = storageError(err)?.message ?? 'its record could not be read.';
        logRepeated(this.log, 'error', 'MPP credit check failed', { error: err instanceof Error ? err.message : String(err) });
        return { allowed: false, deny: new ApiError(503, 'payment_verification_unavailable', `The payment could not be checked: ${why} The credential was not used up; retry the same credential later.`, { headers: { 'retry-after': '5' } }) };
      }
      if (receipt !== null) return this.allowed(receipt, held);
    }
    const ctx: VerificationContext = { rpcUnavailable: false, broadcast: false, storage: null };
    let result;
    try {
      result = await this.context.run(ctx, () => this.charge(request));
    } catch (err) {
      logRepeated(this.log, 'error', 'MPP payment check failed', { error: err instanceof Error ? err.message : String(err) });
      return { allowed: false, deny: new ApiError(503, 'payment_unavailable', 'Payments cannot be checked right now; try again later.') };
    }
    if (result.status === 402) return { allowed: false, deny: await problemResponse(result.challenge, ctx, this.shutdown?.aborted === true) };
    const receipt = result.withReceipt(new Response(null)).headers.get('payment-receipt') ?? '';
    return this.allowed(receipt, held);
  }

  /** Lets a paid request through, holding its credential until the answer settles it (see `settlePaid`). */
  private allowed(receipt: string, held: HeldCredential | null): AuthDecision {
    // `private` as MPP asks of an answer with a receipt; no-store as every answer of the sidecar (app.ts).
    const headers = { 'payment-receipt': receipt, 'cache-control': 'private, no-store' };
    if (!held) return { allowed: true, headers };
    const release = async () => {
      try {
        await this.credits.give(held.key, receipt, held.expiresMs);
        return true;
      } catch (err) {
        this.log.error('could not give back the MPP credential of a refused request; it stays spent', { error: err instanceof Error ? err.message : String(err) });
        return false;
      }
    };
    return { allowed: true, headers, payment: { release } };
  }
}

interface HeldCredential {
  /** The credential's identity: its challenge id (HMAC-made, seen only by the payer), expiry and payload. */
  key: string;
  /** Its challenge's expiry: a credit lives no longer than the credential itself. */
  expiresMs: number;
}

/** The Payment credential of the request, when it carries one that reads, with an expiry. */
function heldCredential(request: Request, price: string): HeldCredential | null {
  let credential;
  try {
    credential = Credential.fromRequest(request);
  } catch {
    return null;
  }
  const expiresMs = Date.parse(credential.challenge.expires ?? '');
  if (!Number.isFinite(expiresMs)) return null;
  // The expiry is part of it: a credit is taken without mppx checking the challenge's HMAC, so an
  // expiry edited in the presented copy would otherwise be the one a refusal gives the credit back with.
  const identity = JSON.stringify([price, credential.challenge.id, credential.challenge.expires, credential.payload, credential.source ?? null]);
  return { key: new Bun.CryptoHasher('sha256').update(identity).digest('hex'), expiresMs };
}

/** The steps of an mppx method that check or settle a credential. */
const METHOD_STEPS = ['authorize', 'validate', 'verify', 'broadcast'] as const;

/**
 * mppx prints a step's failure that is not a PaymentError with console.error: a stack trace of ~90
 * lines on stderr, past LOG_LEVEL and LOG_FORMAT, which any client can cause with a credential from
 * an empty wallet (the simulation reverts). Such a failure becomes the InternalPaymentError mppx
 * would make of it anyway (so `problemResponse` sees the same answer), told in one log line of ours.
 */
function quietFailures<M extends object>(log: Logger, onFailure: (err: unknown) => void, method: M): M {
  const wrapped: [string, unknown][] = [];
  for (const step of METHOD_STEPS) {
    const fn: unknown = Reflect.get(method, step);
    if (typeof fn !== 'function') continue;
    wrapped.push([step, async (...args: unknown[]) => {
      try {
        return await fn.apply(method, args);
      } catch (err) {
        if (err instanceof Errors.PaymentError) throw err;
        onFailure(err);
        const short = (err as { shortMessage?: unknown } | null)?.shortMessage;
        // Once per credential, at the rate payers send them (an empty wallet, the Tempo node down): summarised
        // per step and cause, so the node going down still shows at once after a run of empty wallets.
        // The causes are the node's and the token contract's few messages (viem's short one), not the payer's.
        const error = (typeof short === 'string' ? short : String(err).split('\n')[0]!).slice(0, 200);
        logRepeated(log, 'warn', 'MPP payment not verified', { step, error }, { key: `MPP payment not verified ${step} ${error}` });
        throw new Errors.InternalPaymentError();
      }
    }]);
  }
  return { ...method, ...Object.fromEntries(wrapped) };
}

interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  challengeId?: string;
  [k: string]: unknown;
}

/**
 * mppx's challenge response, with the `code` every error of this API carries (SPEC §4). mppx answers
 * 500 when verification failed for a reason it does not classify: a Tempo RPC outage or our own
 * database refusing the replay claim before anything was broadcast becomes 503 (the credential was
 * not consumed and can be retried), anything else a 402 `verification_failed`. A 402 must mean "this
 * credential will never pass": mppx's fetch answers it by paying again, and in push mode the payer's
 * transfer is already on chain, so a 402 for our own outage would charge it once per retry.
 */
async function problemResponse(res: Response, ctx: VerificationContext, stopping: boolean): Promise<Response> {
  const text = await res.text();
  let body: Problem = {};
  try {
    body = text ? (JSON.parse(text) as Problem) : {};
  } catch {
    body = {};
  }
  let status = res.status;
  if (status >= 500 && ctx.rpcUnavailable && ctx.broadcast) {
    // The transaction went to the node and no answer came back: it may have settled, and mppx has
    // marked it used. Telling the payer to retry the same credential would only get "already used".
    status = 502;
    body = {
      ...body, status, title: 'Payment Outcome Unknown', code: 'payment_outcome_unknown',
      detail: `The payment transaction was sent, but the Tempo RPC ${stopping ? 'had not confirmed it when the sidecar stopped' : 'did not confirm it'}: it may have been charged. This credential cannot be used again; check the transaction before paying again.`,
    };
  } else if (status >= 500 && ctx.storage && !ctx.broadcast) {
    // The claim is one rolled-back transaction: nothing recorded the credential as used, so the same
    // credential passes once (and only once) when the database takes writes again.
    status = 503;
    body = {
      ...body, status, title: 'Payment Verification Unavailable', code: 'payment_verification_unavailable',
      detail: `The payment could not be recorded: ${ctx.storage.message} The credential was not used up; retry the same credential later.`,
    };
  } else if (status >= 500) {
    status = ctx.rpcUnavailable ? 503 : 402;
    const why = stopping ? 'The sidecar is shutting down: the payment was not checked' : 'The Tempo RPC could not be reached, or does not know the payment transaction yet';
    body = ctx.rpcUnavailable
      ? { ...body, status, title: 'Payment Verification Unavailable', detail: `${why}; retry the same credential later.`, code: 'payment_verification_unavailable' }
      : { ...body, status, type: 'https://paymentauth.org/problems/verification-failed', title: 'Verification Failed', detail: 'Payment verification failed: the payment transaction was rejected.', code: 'verification_failed' };
  }
  const code = typeof body.code === 'string' ? body.code : (body.type?.split('/').pop() ?? 'payment_required').replace(/-/g, '_');
  const headers = new Headers(res.headers);
  headers.set('content-type', 'application/problem+json');
  if (status === 503) headers.set('retry-after', '5');
  return new Response(JSON.stringify({ ...body, detail: body.detail ?? 'Payment is required.', code }), { status, headers });
}
