/**
 * EVM chains named in EVM_RPC_URLS / EVM_TOKENS, resolved against viem's chain list at start-up:
 * a viem chain name (`mainnet`, `base`, `tempo`, `tempoModerato`, …) or a numeric chain id that viem
 * knows. Anything else stops start-up with a ConfigError naming the variable.
 */
import type { Chain } from 'viem';
import * as viemChains from 'viem/chains';
import { ConfigError, type EvmRpc, type EvmToken } from '../../config';

const CHAINS: readonly [string, Chain][] = Object.entries(viemChains as Record<string, unknown>).filter(
  (e): e is [string, Chain] => typeof e[1] === 'object' && e[1] !== null && typeof (e[1] as Chain).id === 'number',
);

/**
 * Tempo chains have no native token, only TIP-20s, whose decimals are always 6. Known by the chain
 * itself, not its id: tempoLocalnet shares 1337 with viem's `localhost` (Ganache's default).
 */
const TEMPO_CHAINS: ReadonlySet<Chain> = new Set<Chain>([viemChains.tempo, viemChains.tempoModerato, viemChains.tempoDevnet, viemChains.tempoLocalnet]);
const TIP20_DECIMALS = 6;

export interface ResolvedToken {
  symbol: string;
  contract: `0x${string}`;
  /** null: unknown until read from the contract (`decimals()`). */
  decimals: number | null;
}

export interface ResolvedChain {
  /** The name as configured (shown back to clients). */
  name: string;
  chain: Chain;
  url: string;
  isTempo: boolean;
  tokens: ResolvedToken[];
}

/**
 * A chain by viem name, or by numeric id. Several viem chains can share an id (8453: base and
 * basePreconf; 1337: localhost and tempoLocalnet): the first by name is taken, but never a Tempo
 * chain when another chain has the id — a plain dev chain must not lose its native balance and get
 * 6-decimal tokens. Name the chain to pick another.
 */
function findChain(nameOrId: string): Chain | null {
  if (/^\d+$/.test(nameOrId)) {
    const id = Number(nameOrId);
    const withId = CHAINS.filter(([, c]) => c.id === id).map(([, c]) => c);
    return withId.find((c) => !TEMPO_CHAINS.has(c)) ?? withId[0] ?? null;
  }
  return CHAINS.find(([name]) => name === nameOrId)?.[1] ?? null;
}

export function resolveEvmChains(rpcUrls: readonly EvmRpc[], tokens: readonly EvmToken[]): ResolvedChain[] {
  const out: ResolvedChain[] = [];
  for (const rpc of rpcUrls) {
    const chain = findChain(rpc.chain);
    if (!chain) throw new ConfigError(`Invalid EVM_RPC_URLS: unknown chain ${JSON.stringify(rpc.chain)} (use a viem chain name such as mainnet, base, tempo, tempoModerato, or a known numeric chain id).`);
    if (out.some((c) => c.chain.id === chain.id)) throw new ConfigError(`Invalid EVM_RPC_URLS: chain ${rpc.chain} (id ${chain.id}) is listed twice.`);
    out.push({ name: rpc.chain, chain, url: rpc.url, isTempo: TEMPO_CHAINS.has(chain), tokens: [] });
  }
  for (const t of tokens) {
    const chain = findChain(t.chain);
    if (!chain) throw new ConfigError(`Invalid EVM_TOKENS: unknown chain ${JSON.stringify(t.chain)} for ${t.symbol}.`);
    const target = out.find((c) => c.chain.id === chain.id);
    if (!target) throw new ConfigError(`Invalid EVM_TOKENS: ${t.symbol} is on chain ${t.chain}, which has no RPC in EVM_RPC_URLS.`);
    if (target.tokens.some((x) => x.symbol === t.symbol)) throw new ConfigError(`Invalid EVM_TOKENS: ${t.symbol} is listed twice on chain ${t.chain}.`);
    target.tokens.push({ symbol: t.symbol, contract: t.contract, decimals: t.decimals ?? (target.isTempo ? TIP20_DECIMALS : null) });
  }
  return out;
}
