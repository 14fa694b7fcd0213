/**
 * A fake EVM node speaking the JSON-RPC that viem sends for balances: `eth_chainId`,
 * `eth_blockNumber`, `eth_getBalance`, and `eth_call` of ERC-20 `balanceOf`/`decimals` (ABI-encoded,
 * as a real node answers; a contract it does not know answers `0x`, like an account without code).
 * Batches are answered as batches. `extraMethods` lets the Tempo fake add what it needs on top.
 */
import { decodeFunctionData, encodeFunctionResult, erc20Abi, type Hex } from 'viem';
import { type FakeRpcServer, type MethodHandler, RpcError, startJsonRpcServer } from './json-rpc';

export interface FakeToken {
  /** null: the contract has no `decimals()` (it reverts). */
  decimals: number | null;
  balances: Map<string, bigint>;
}

export interface FakeEvmRpc extends FakeRpcServer {
  readonly chainId: number;
  native: Map<string, bigint>;
  tokens: Map<string, FakeToken>;
  setNative(address: string, wei: bigint): void;
  setToken(contract: string, holder: string, amount: bigint, decimals?: number | null): void;
  balanceOf(contract: string, holder: string): bigint;
}

const hex = (n: bigint | number) => `0x${n.toString(16)}`;

/**
 * A revert without revert data, as geth's eth_call answers it (internal/ethapi: code 3 with `data` only
 * when the revert carries data; otherwise the bare vm.ErrExecutionReverted, JSON-RPC's default -32000).
 */
const reverted = () => new RpcError(-32000, 'execution reverted');

export function startFakeEvmRpc(opts: { chainId?: number; extraMethods?: (fake: FakeEvmRpc, base: Record<string, MethodHandler>) => Record<string, MethodHandler> } = {}): FakeEvmRpc {
  const chainId = opts.chainId ?? 1;
  const native = new Map<string, bigint>();
  const tokens = new Map<string, FakeToken>();
  const token = (contract: string): FakeToken | undefined => tokens.get(contract.toLowerCase());

  const ethCall: MethodHandler = (params) => {
    const [tx] = params as [{ to?: string; data?: Hex; input?: Hex }];
    const data = tx?.data ?? tx?.input;
    const t = tx?.to ? token(tx.to) : undefined;
    if (!t || !data) return '0x';
    let decoded;
    try {
      decoded = decodeFunctionData({ abi: erc20Abi, data });
    } catch {
      throw reverted();
    }
    if (decoded.functionName === 'balanceOf') {
      const [holder] = decoded.args as [string];
      return encodeFunctionResult({ abi: erc20Abi, functionName: 'balanceOf', result: t.balances.get(holder.toLowerCase()) ?? 0n });
    }
    if (decoded.functionName === 'decimals') {
      if (t.decimals === null) throw reverted();
      return encodeFunctionResult({ abi: erc20Abi, functionName: 'decimals', result: t.decimals });
    }
    throw reverted();
  };

  const handlers: Record<string, MethodHandler> = {
    eth_chainId: () => hex(chainId),
    eth_blockNumber: () => '0x10',
    eth_getBalance: (params) => hex(native.get(String(params[0]).toLowerCase()) ?? 0n),
    eth_call: ethCall,
  };
  const base = { ...handlers };
  const server = startJsonRpcServer(handlers);
  const fake = Object.assign(server, {
    chainId,
    native,
    tokens,
    setNative(address: string, wei: bigint) {
      native.set(address.toLowerCase(), wei);
    },
    setToken(contract: string, holder: string, amount: bigint, decimals: number | null = 18) {
      const key = contract.toLowerCase();
      const t = tokens.get(key) ?? { decimals, balances: new Map() };
      t.decimals = decimals;
      t.balances.set(holder.toLowerCase(), amount);
      tokens.set(key, t);
    },
    balanceOf(contract: string, holder: string) {
      return token(contract)?.balances.get(holder.toLowerCase()) ?? 0n;
    },
  }) as FakeEvmRpc;
  // Extra methods see the finished fake (its balances); they override the defaults of the same name.
  if (opts.extraMethods) Object.assign(handlers, opts.extraMethods(fake, base));
  return fake;
}
