/**
 * The wallet as one object built at start-up: balances (with their cache), metered calls, and the
 * escrow ledger. Configuration problems found here (an unknown EVM chain, an unreadable pricing
 * table, an address @solana/kit refuses) stop start-up with a ConfigError, before the database is opened.
 */
import { ConfigError, type Config, type Hedgehog } from '../../config';
import type { DbHandle } from '../../db';
import type { Logger } from '../../lib/log';
import { toBaseUnits } from '../../lib/money';
import type { GazeVerifier } from '../gaze/service';
import { BalanceService } from './balances';
import type { ResolvedChain } from './chains';
import { EscrowLedger } from './escrow';
import { loadPricing, MICRO_DECIMALS, type PricingTable } from './pricing';
import { TempoBilling } from './tempo';

const DEFAULT_TOKEN_DECIMALS = 6;

export interface Wallet {
  agent: string;
  chains: readonly ResolvedChain[];
  balances: BalanceService;
  billing: TempoBilling;
  escrow: EscrowLedger;
}

/** What the wallet's configuration resolves to, checked before anything is opened. */
export interface WalletSettings {
  chains: ResolvedChain[];
  pricing: PricingTable;
  budget: bigint | null;
}

/**
 * Checks the settings that need a library or a file to judge (Solana addresses, EVM chains, the pricing
 * table). Run before the database is opened: a start refused here must leave the data dir as it was
 * (it used to migrate an older database first, which an older binary then refuses, or create a new one).
 * Async because the chain libraries are loaded only when the configuration names a chain.
 */
export async function readWalletSettings(config: Config): Promise<WalletSettings> {
  const w = config.wallet;
  if (w.solana.address || w.solana.tokens.length) {
    const { isAddress } = await import('@solana/kit');
    if (w.solana.address && !isAddress(w.solana.address)) throw new ConfigError('Invalid SOLANA_ADDRESS: not a 32-byte base58 Solana address.');
    for (const t of w.solana.tokens) {
      if (!isAddress(t.mint)) throw new ConfigError(`Invalid SOLANA_TOKENS: the mint of ${t.symbol} is not a 32-byte base58 address.`);
    }
  }
  const chains = w.evm.rpcUrls.length || w.evm.tokens.length ? (await import('./chains')).resolveEvmChains(w.evm.rpcUrls, w.evm.tokens) : [];
  const budget = config.tempo.callerBudgetUsd === null ? null : toBaseUnitsOrFail(config.tempo.callerBudgetUsd);
  return { chains, pricing: loadPricing(config.tempo.pricingPath), budget };
}

export function openWallet(config: Config, settings: WalletSettings, handle: DbHandle, gaze: GazeVerifier, hedgehog: Hedgehog, log: Logger): Wallet {
  const { chains, pricing, budget } = settings;
  const billing = new TempoBilling(handle, pricing, hedgehog, budget, log);
  // An escrow token takes the decimals an EVM token of that symbol is configured with (the first
  // chain's that gives them); 6 for a symbol no chain lists. One listed only without decimals has
  // them on chain alone: null, refused by the ledger rather than guessed (DAI locked at 6 was 10^-12 DAI).
  const decimals = new Map<string, number | null>();
  for (const c of chains) for (const t of c.tokens) if ((decimals.get(t.symbol) ?? null) === null) decimals.set(t.symbol, t.decimals);
  const escrow = new EscrowLedger(handle, gaze, (token) => {
    const d = decimals.get(token);
    return d === undefined ? DEFAULT_TOKEN_DECIMALS : d;
  });
  return { agent: config.wallet.agent, chains, balances: new BalanceService(config.wallet, chains, undefined, log), billing, escrow };
}

function toBaseUnitsOrFail(amount: string): bigint {
  try {
    return toBaseUnits(amount, MICRO_DECIMALS);
  } catch {
    throw new ConfigError('Invalid TEMPO_CALLER_BUDGET_USD: at most 6 decimal places.');
  }
}

/** GET /api/wallet: cached balances, the configured tokens, and exact escrow totals. */
export async function walletOverview(wallet: Wallet, config: Config) {
  const { snapshot, cached, age_s } = await wallet.balances.cached();
  return {
    agent: wallet.agent,
    wallets: snapshot.wallets,
    tokens: {
      solana: config.wallet.solana.tokens.map((t) => ({ symbol: t.symbol, mint: t.mint, network: t.network })),
      evm: wallet.chains.flatMap((c) => c.tokens.map((t) => ({ chain: c.name, chain_id: c.chain.id, symbol: t.symbol, contract: t.contract, decimals: t.decimals }))),
    },
    escrow: wallet.escrow.totals(),
    fetched_at: snapshot.fetched_at,
    cached,
    age_s,
  };
}
