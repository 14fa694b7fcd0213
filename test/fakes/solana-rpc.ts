/**
 * A fake Solana node answering what @solana/kit sends for balances: `getBalance` and
 * `getTokenAccountsByOwner` (jsonParsed) filtered by token program, in the shapes of the real RPC
 * (`{context:{slot}, value}`; u64 values written as JSON integers, even past 2^53).
 */
import { type FakeRpcServer, RpcError, startJsonRpcServer } from './json-rpc';

export const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
export const TOKEN_2022_PROGRAM = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';

export interface FakeTokenAccount {
  pubkey: string;
  owner: string;
  mint: string;
  program: string;
  amount: bigint;
  decimals: number;
  /** A freeze authority can freeze an account: it still holds its tokens (default initialized). */
  state?: 'initialized' | 'frozen';
  /**
   * The current multiplier of the mint's ScaledUiAmount extension (Token-2022): the node then writes
   * `uiAmountString` as trunc(amount × multiplier) in base units (token-2022 ScaledUiAmountConfig::amount_to_ui_amount),
   * while `amount` stays raw.
   */
  multiplier?: number;
  /** The node's `uiAmountString` as given (e.g. "inf", or "" when it could not compute one), overriding the above. */
  uiAmountString?: string;
  /** The wallet a faulty node lists the account under, though its `owner` is another (default: `owner`). */
  listedUnder?: string;
}

export interface FakeSolanaRpc extends FakeRpcServer {
  lamports: Map<string, bigint>;
  accounts: FakeTokenAccount[];
  addTokenAccount(a: Omit<FakeTokenAccount, 'pubkey'> & { pubkey?: string }): void;
}

const slot = 123_456n;
const context = { slot, apiVersion: '2.2.7' };

function uiAmount(amount: bigint, decimals: number): string {
  const s = amount.toString().padStart(decimals + 1, '0');
  const whole = s.slice(0, s.length - decimals);
  const frac = s.slice(s.length - decimals).replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A distinct, well-formed account address for the n-th fake token account. */
function base58Id(n: number): string {
  let s = '';
  for (let v = n; v > 0; v = Math.floor(v / 58)) s = B58[v % 58] + s;
  return `Acct${s}`.padEnd(44, 'z');
}

export function startFakeSolanaRpc(): FakeSolanaRpc {
  const lamports = new Map<string, bigint>();
  const accounts: FakeTokenAccount[] = [];
  let n = 0;
  const server = startJsonRpcServer({
    getBalance: (params) => ({ context, value: lamports.get(String(params[0])) ?? 0n }),
    getTokenAccountsByOwner: (params) => {
      const [owner, filter, cfg] = params as [string, { programId?: string; mint?: string }, { encoding?: string } | undefined];
      if (cfg?.encoding !== 'jsonParsed') throw new RpcError(-32602, 'the fake only answers jsonParsed');
      if (filter.programId && filter.programId !== TOKEN_PROGRAM && filter.programId !== TOKEN_2022_PROGRAM) {
        throw new RpcError(-32602, 'Invalid param: unrecognized Token program id');
      }
      const value = accounts
        .filter((a) => (a.listedUnder ?? a.owner) === owner && (filter.programId ? a.program === filter.programId : a.mint === filter.mint))
        .map((a) => {
          // A Token-2022 account carries its extensions (ImmutableOwner on every associated account) and is longer.
          const t22 = a.program === TOKEN_2022_PROGRAM;
          const space = t22 ? 170n : 165n;
          const shown = a.uiAmountString ?? uiAmount(a.multiplier === undefined ? a.amount : BigInt(Math.trunc(Number(a.amount) * a.multiplier)), a.decimals);
          return {
            pubkey: a.pubkey,
            account: {
              lamports: 2_039_280n, owner: a.program, executable: false, rentEpoch: 18_446_744_073_709_551_615n, space,
              data: {
                program: t22 ? 'spl-token-2022' : 'spl-token',
                space,
                parsed: {
                  type: 'account',
                  info: {
                    isNative: false, mint: a.mint, owner: a.owner, state: a.state ?? 'initialized',
                    tokenAmount: { amount: a.amount.toString(), decimals: a.decimals, uiAmount: shown === '' ? null : Number(shown), uiAmountString: shown },
                    ...(t22 ? { extensions: [{ extension: 'immutableOwner' }] } : {}),
                  },
                },
              },
            },
          };
        });
      return { context, value };
    },
  });
  return Object.assign(server, {
    lamports,
    accounts,
    addTokenAccount(a: Omit<FakeTokenAccount, 'pubkey'> & { pubkey?: string }) {
      accounts.push({ ...a, pubkey: a.pubkey ?? base58Id(++n) });
    },
  });
}
