/**
 * Solana balances with @solana/kit: SOL through `getBalance`, SPL tokens through
 * `getTokenAccountsByOwner` (jsonParsed) for both the Token and the Token-2022 program. The calls of
 * one network go out together, so a fetch costs one round trip; each has its own deadline and each
 * value its own error, never a silent zero.
 */
import { address, createDefaultRpcTransport, createSolanaRpcFromTransport, isSolanaError, type Address, type RpcTransport } from '@solana/kit';
import { serverWords } from '../../lib/credential';
import { z } from '../../lib/zod';
import type { SolanaToken } from '../../config';
import { fromBaseUnits, toBaseUnits } from '../../lib/money';
import type { SolanaBalance } from './model';

/** The two SPL token programs: protocol constants, not configuration. */
const TOKEN_PROGRAMS = ['TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA', 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb'] as const;
const LAMPORT_DECIMALS = 9;
const EXPLORER = 'https://explorer.solana.com/address/';

/**
 * Lamports and token amounts are u64 on chain and decimals a u8: an answer outside those ranges is
 * malformed, not a balance (decimals of -3 or 10^8 would throw or freeze the event loop in 10n ** d).
 */
const U64_MAX = 2n ** 64n - 1n;
const Lamports = z.object({ value: z.bigint().check(z.gte(0n), z.lte(U64_MAX)) });
const U8 = z.pipe(z.union([z.bigint(), z.number().check(z.int())]), z.transform((v) => BigInt(v))).check(z.refine((v) => v >= 0n && v <= 255n, 'expected a u8'));
const TokenAccounts = z.object({
  value: z.array(z.object({
    account: z.object({
      data: z.object({
        parsed: z.object({
          info: z.object({
            mint: z.string(),
            owner: z.optional(z.string()),
            tokenAmount: z.object({
              amount: z.string().check(z.regex(/^\d{1,20}$/), z.refine((a) => BigInt(a) <= U64_MAX)),
              decimals: U8,
              uiAmountString: z.optional(z.nullable(z.string())),
            }),
          }),
        }),
      }),
    }),
  })),
});

/** A JSON-RPC error object the node answered: its own code (when it sent one) and words. */
class SolanaRpcAnswerError extends Error {
  constructor(readonly code: number | null, readonly serverMessage: string) {
    super(serverMessage);
  }
}

/**
 * The default transport, with the node's JSON-RPC errors taken before @solana/kit reads them: kit
 * builds its error from a table of the codes it knows, and for any other code (a provider's -32000,
 * 429, -32401…) or an error without one it throws a TypeError (development builds; read as
 * "unreachable") or drops the node's message (production builds).
 */
function keepingRpcErrors(url: string): RpcTransport {
  const base = createDefaultRpcTransport({ url });
  return (async (config: Parameters<RpcTransport>[0]) => {
    const res: unknown = await base(config);
    const err = res !== null && typeof res === 'object' ? (res as { error?: unknown }).error : undefined;
    if (err !== null && typeof err === 'object') {
      const { code, message } = err as { code?: unknown; message?: unknown };
      // kit reads every integer of an answer as a bigint.
      const n = typeof code === 'bigint' || typeof code === 'number' ? Number(code) : null;
      throw new SolanaRpcAnswerError(n, typeof message === 'string' ? message : '');
    }
    return res;
  }) as RpcTransport;
}

export interface SolanaTarget {
  network: SolanaBalance['network'];
  url: string;
  tokens: readonly SolanaToken[];
}

export async function fetchSolanaBalance(owner: string, target: SolanaTarget, timeoutMs: number): Promise<SolanaBalance> {
  const rpc = createSolanaRpcFromTransport(keepingRpcErrors(target.url));
  const who: Address = address(owner);
  const send = <T>(req: { send(o: { abortSignal: AbortSignal }): Promise<T> }) => req.send({ abortSignal: AbortSignal.timeout(timeoutMs) });
  const wantTokens = target.tokens.length > 0;
  const [sol, ...programs] = await Promise.allSettled([
    send(rpc.getBalance(who)).then((r) => z.parse(Lamports, r).value),
    ...(wantTokens
      ? TOKEN_PROGRAMS.map((p) => send(rpc.getTokenAccountsByOwner(who, { programId: address(p) }, { encoding: 'jsonParsed' })).then((r) => z.parse(TokenAccounts, r).value))
      : []),
  ]);
  const out: SolanaBalance = {
    address: owner,
    network: target.network,
    explorer: EXPLORER + owner + (target.network === 'devnet' ? '?cluster=devnet' : ''),
    balance_sol: sol?.status === 'fulfilled' ? fromBaseUnits(sol.value, LAMPORT_DECIMALS) : null,
    // No prototype: symbols are the operator's, and `tokens['__proto__'] = …` on a plain object sets its prototype.
    tokens: Object.create(null) as SolanaBalance['tokens'],
  };
  if (sol?.status === 'rejected') out.error = describeSolanaError(sol.reason, timeoutMs, target.url);

  // A mint belongs to exactly one program: found in one answer, it is complete even if the other failed.
  const found = new Map<string, MintHolding>();
  for (const p of programs) {
    if (p.status !== 'fulfilled') continue;
    for (const acc of p.value) {
      const { mint, owner: holder, tokenAmount } = acc.account.data.parsed.info;
      const sum = addAccount(found.get(mint), BigInt(tokenAmount.amount), Number(tokenAmount.decimals), tokenAmount.uiAmountString);
      // A mint has one decimals, and the answer is for this wallet: one that says otherwise is no balance.
      if (holder !== undefined && holder !== owner) sum.contradicted = true;
      found.set(mint, sum);
    }
  }
  const failure = programs.find((p): p is PromiseRejectedResult => p.status === 'rejected');
  for (const t of target.tokens) {
    const hit = found.get(t.mint);
    if (hit?.contradicted) out.tokens[t.symbol] = { mint: t.mint, balance: null, decimals: null, error: CONTRADICTED };
    else if (hit) {
      const ui = hit.scaled ? { ui_balance: hit.ui === null ? null : fromBaseUnits(hit.ui, hit.decimals) } : {};
      out.tokens[t.symbol] = { mint: t.mint, balance: fromBaseUnits(hit.amount, hit.decimals), decimals: hit.decimals, ...ui };
    }
    else if (failure) out.tokens[t.symbol] = { mint: t.mint, balance: null, decimals: null, error: describeSolanaError(failure.reason, timeoutMs, target.url) };
    // No token account for the mint in either program: the wallet holds none (decimals unknown without an account).
    else out.tokens[t.symbol] = { mint: t.mint, balance: '0', decimals: null };
  }
  return out;
}

/**
 * A mint's accounts, summed. `ui` is the figure wallets show, in base units: the node writes an
 * account's `uiAmountString` with the mint's ScaledUiAmount multiplier or InterestBearing interest
 * applied (`amount` stays raw), never with more fractional digits than the decimals, so the figures
 * sum exactly. null once one is not a number ("inf", or "" when the node could not compute it).
 */
interface MintHolding {
  amount: bigint;
  decimals: number;
  ui: bigint | null;
  /** Some account's figure differs from its raw amount ÷ 10^decimals. */
  scaled: boolean;
  /** The accounts disagree on the mint's decimals, or one belongs to another wallet: the answer is wrong. */
  contradicted: boolean;
}

const CONTRADICTED = 'the Solana RPC sent an answer of an unexpected shape (the accounts of the mint disagree on its decimals, or belong to another wallet)';

function addAccount(prev: MintHolding | undefined, amount: bigint, decimals: number, shown: string | null | undefined): MintHolding {
  const plain = fromBaseUnits(amount, decimals);
  let ui: bigint | null;
  try {
    ui = toBaseUnits(shown ?? plain, decimals);
  } catch {
    ui = null;
  }
  return {
    amount: (prev?.amount ?? 0n) + amount,
    decimals,
    ui: ui === null || prev?.ui === null ? null : (prev?.ui ?? 0n) + ui,
    scaled: (prev?.scaled ?? false) || (typeof shown === 'string' && shown !== plain),
    contradicted: (prev?.contradicted ?? false) || (prev !== undefined && prev.decimals !== decimals),
  };
}

/** A short, credential-free reason (RPC URLs may carry API keys: never included, and hidden where the node quotes them). */
function describeSolanaError(err: unknown, timeoutMs: number, url: string): string {
  if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `timeout: the Solana RPC did not answer within ${timeoutMs / 1000} s`;
  if (err instanceof z.core.$ZodError) return 'the Solana RPC sent an answer of an unexpected shape';
  if (err instanceof SyntaxError) return 'the Solana RPC sent an answer that is not JSON';
  if (err instanceof SolanaRpcAnswerError) return `Solana RPC error${err.code === null ? '' : ` ${err.code}`}: ${serverWords(err.serverMessage, url, 200)}`;
  if (isSolanaError(err)) {
    const status = (err.context as { statusCode?: unknown }).statusCode;
    return typeof status === 'number' ? `the Solana RPC answered HTTP ${status}` : 'the Solana RPC call failed';
  }
  if (err instanceof TypeError) return 'the Solana RPC is unreachable';
  return 'the Solana RPC call failed';
}
