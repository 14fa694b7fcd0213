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

/** Tempo chains have no native token, only TIP-20s, whose decimals are always 6. */
const TEMPO_CHAIN_IDS: ReadonlySet<number> = new Set(
  [viemChains.tempo, viemChains.tempoModerato, viemChains.tempoDevnet, viemChains.tempoLocalnet].map((c) => c.id),
);
export const TIP20_DECIMALS = 6;

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

export function findChain(nameOrId: string): Chain | null {
  if (/^\d+$/.test(nameOrId)) {
    const id = Number(nameOrId);
    return CHAINS.find(([, c]) => c.id === id)?.[1] ?? null;
  }
  return CHAINS.find(([name]) => name === nameOrId)?.[1] ?? null;
}

export function resolveEvmChains(rpcUrls: readonly EvmRpc[], tokens: readonly EvmToken[]): ResolvedChain[] {
  const out: ResolvedChain[] = [];
  for (const rpc of rpcUrls) {
    const chain = findChain(rpc.chain);
    if (!chain) throw new ConfigError(`Invalid EVM_RPC_URLS: unknown chain ${JSON.stringify(rpc.chain)} (use a viem chain name such as mainnet, base, tempo, tempoModerato, or a known numeric chain id).`);
    if (out.some((c) => c.chain.id === chain.id)) throw new ConfigError(`Invalid EVM_RPC_URLS: chain ${rpc.chain} (id ${chain.id}) is listed twice.`);
    out.push({ name: rpc.chain, chain, url: rpc.url, isTempo: TEMPO_CHAIN_IDS.has(chain.id), tokens: [] });
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
