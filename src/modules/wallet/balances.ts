/**
 * Every configured balance, fetched live (all chains at once, each with its deadline) or served from
 * a short cache. The cache never makes a reader wait once it holds a snapshot: a stale snapshot is
 * served while one refresh runs in the background; concurrent fetches share one set of RPC calls.
 */
import type { PublicClient } from 'viem';
import type { Config } from '../../config';
import { hostOf } from '../../lib/http';
import { silentLogger, type Logger } from '../../lib/log';
import { logRepeated } from '../../lib/log-repeats';
import { isoNow } from '../../lib/time';
import type { ResolvedChain } from './chains';
import type { Wallets } from './model';
import type { SolanaTarget } from './solana';

/**
 * viem and @solana/kit are loaded on the first balance fetch, not at start-up: together they cost
 * tens of MB of memory and hundreds of ms of start time that a sidecar without a wallet never needs.
 */
const loadRpc = () => Promise.all([import('./evm'), import('./solana')]);

/**
 * A snapshot in which some value failed (a node down for a moment, a rate limit) is refreshed after
 * this long, not kept the whole BALANCE_CACHE_S: readers would otherwise see a passing outage for
 * 30 s. Not at once either, so readers polling a rate-limited node do not turn into a retry loop.
 */
const ERROR_RETRY_MS = 5_000;

export interface BalanceSnapshot {
  wallets: Wallets;
  fetched_at: string;
  /** `now()` when fetched: monotonic, so a wall clock set back (NTP) cannot keep the snapshot fresh for hours. */
  fetchedAt: number;
  duration_ms: number;
  /** Some value carries an error. */
  failed: boolean;
}

export interface CachedBalances {
  snapshot: BalanceSnapshot;
  /** True when the snapshot was not fetched for this request. */
  cached: boolean;
  age_s: number;
}

type WalletConfig = Config['wallet'];

export class BalanceService {
  private evm: { chain: ResolvedChain; client: PublicClient }[] | null = null;
  private readonly solana: SolanaTarget[];
  private snapshot: BalanceSnapshot | null = null;
  private inflight: Promise<BalanceSnapshot> | null = null;

  constructor(
    private readonly cfg: WalletConfig,
    private readonly chains: readonly ResolvedChain[],
    private readonly now: () => number = () => performance.now(),
    private readonly log: Logger = silentLogger,
  ) {
    const sol = cfg.solana;
    this.solana = [
      { network: 'mainnet-beta', url: sol.rpcUrl, tokens: sol.tokens.filter((t) => t.network === 'mainnet') },
      { network: 'devnet', url: sol.devnetRpcUrl, tokens: sol.tokens.filter((t) => t.network === 'devnet') },
    ];
  }

  /** Fetches everything now; callers arriving while a fetch runs share it. */
  live(): Promise<BalanceSnapshot> {
    this.inflight ??= this.fetchAll().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  async cached(): Promise<CachedBalances> {
    const s = this.snapshot;
    if (!s) {
      const fresh = await this.live();
      return { snapshot: fresh, cached: false, age_s: 0 };
    }
    const ageMs = this.now() - s.fetchedAt;
    const maxAgeMs = s.failed ? Math.min(ERROR_RETRY_MS, this.cfg.balanceCacheMs) : this.cfg.balanceCacheMs;
    // fetchAll never rejects (each value carries its own error), so nothing is left unhandled here.
    if (ageMs >= maxAgeMs) void this.live();
    return { snapshot: s, cached: true, age_s: Math.max(0, Math.floor(ageMs / 1000)) };
  }

  private async fetchAll(): Promise<BalanceSnapshot> {
    const t0 = performance.now();
    const { solana, evm, rpcTimeoutMs } = this.cfg;
    const solAddress = solana.address;
    const evmAddress = evm.address;
    // No address, nothing to fetch: the libraries are not loaded for an overview of an empty wallet.
    const [mainnet, devnet, chains] = solAddress || evmAddress ? await this.fetchConfigured(solAddress, evmAddress, rpcTimeoutMs) : [null, null, null];
    const wallets: Wallets = { solana: mainnet, solana_devnet: devnet, evm: evmAddress && chains ? { address: evmAddress, chains } : null };
    const snapshot: BalanceSnapshot = {
      wallets,
      fetched_at: isoNow(),
      fetchedAt: this.now(),
      duration_ms: Math.round((performance.now() - t0) * 100) / 100,
      failed: hasError(wallets),
    };
    this.snapshot = snapshot;
    if (snapshot.failed) this.logFailures(wallets, snapshot.duration_ms);
    return snapshot;
  }

  /**
   * A node down or refusing leaves only an `error` inside a 200 answer: the operator saw nothing. One
   * line per failing network (its host only: an RPC URL's path or userinfo often holds an API key),
   * folded per network while it goes on, since every cache refresh meets it again.
   */
  private logFailures(w: Wallets, ms: number): void {
    for (const { entry, network, url } of this.targets(w)) {
      const error = entry?.error ?? Object.values(entry?.tokens ?? {}).find((t) => t.error !== undefined)?.error;
      if (error === undefined) continue;
      logRepeated(this.log, 'warn', 'wallet RPC failed', { network, host: url ? hostOf(url, 'the configured URL') : null, error, ms }, { key: `wallet RPC failed ${network}` });
    }
  }

  /** Each network's entry with the RPC URL it was fetched from. */
  private targets(w: Wallets) {
    return [
      { entry: w.solana, network: 'mainnet-beta', url: this.solana[0]?.url },
      { entry: w.solana_devnet, network: 'devnet', url: this.solana[1]?.url },
      ...(w.evm?.chains ?? []).map((entry, i) => ({ entry, network: entry.chain, url: this.chains[i]?.url })),
    ];
  }

  private async fetchConfigured(solAddress: string | null, evmAddress: `0x${string}` | null, rpcTimeoutMs: number) {
    const [{ evmClient, fetchEvmChain }, { fetchSolanaBalance }] = await loadRpc();
    const clients = (this.evm ??= this.chains.map((chain) => ({ chain, client: evmClient(chain, rpcTimeoutMs) })));
    return Promise.all([
      solAddress ? fetchSolanaBalance(solAddress, this.solana[0] as SolanaTarget, rpcTimeoutMs) : null,
      solAddress ? fetchSolanaBalance(solAddress, this.solana[1] as SolanaTarget, rpcTimeoutMs) : null,
      evmAddress ? Promise.all(clients.map((e) => fetchEvmChain(e.client, e.chain, evmAddress, rpcTimeoutMs))) : null,
    ]);
  }
}

function hasError(w: Wallets): boolean {
  const entries = [w.solana, w.solana_devnet, ...(w.evm?.chains ?? [])].filter((e) => e !== null);
  return entries.some((e) => e.error !== undefined || Object.values(e.tokens).some((t) => t.error !== undefined));
}
