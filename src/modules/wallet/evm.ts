/**
 * EVM (and Tempo) balances with viem: the native coin through `eth_getBalance` (not on Tempo, which
 * has none), ERC-20/TIP-20 tokens through `balanceOf` (and `decimals()` when not configured). The
 * client batches the calls of one chain into a single JSON-RPC request, so a chain costs one round
 * trip; each value carries its own error.
 */
import { BaseError, ContractFunctionRevertedError, ContractFunctionZeroDataError, createPublicClient, erc20Abi, http, HttpRequestError, RpcRequestError, TimeoutError, type PublicClient } from 'viem';
import { serverWords } from '../../lib/credential';
import { z } from '../../lib/zod';
import { fromBaseUnits } from '../../lib/money';
import type { ResolvedChain } from './chains';
import type { EvmChainBalance } from './model';

/** A uint256, as every balance on chain is: anything larger is a malformed answer, not a balance. */
const Uint = z.bigint().check(z.gte(0n), z.lte(2n ** 256n - 1n));
const Decimals = z.number().check(z.int(), z.gte(0), z.lte(255));
/** A JSON-RPC quantity: hex digits after `0x` (the spec wants no leading zeros; nodes' `0x00…` is still a number). */
const HexQuantity = z.string().check(z.regex(/^0x[0-9a-fA-F]{1,64}$/));

export function evmClient(c: ResolvedChain, timeoutMs: number): PublicClient {
  return createPublicClient({ chain: c.chain, transport: http(c.url, { batch: true, timeout: timeoutMs, retryCount: 0 }) });
}

export async function fetchEvmChain(client: PublicClient, c: ResolvedChain, owner: `0x${string}`, timeoutMs: number): Promise<EvmChainBalance> {
  // Every call is started before the first await, so the transport sends them as one batch; settling
  // them all at once also attaches a handler to each before any can reject. The chain id rides along:
  // a URL of another chain (mainnet's pasted for base) answers every call, with another chain's values.
  const served = client.getChainId();
  // The node's answer is read here, not by viem's getBalance: that takes any BigInt() spelling, so an
  // empty string (a broken proxy's answer) was a balance of 0 with no error, and a JSON number was wei.
  const native = c.isTempo ? Promise.resolve(null)
    : client.request({ method: 'eth_getBalance', params: [owner, 'latest'] }).then((v) => z.parse(Uint, BigInt(z.parse(HexQuantity, v))));
  const tokenCalls = c.tokens.map((t) => Promise.allSettled([
    client.readContract({ address: t.contract, abi: erc20Abi, functionName: 'balanceOf', args: [owner] }).then((v) => z.parse(Uint, v)),
    t.decimals !== null ? Promise.resolve(t.decimals) : client.readContract({ address: t.contract, abi: erc20Abi, functionName: 'decimals' }).then((v) => z.parse(Decimals, v)),
  ]));
  const [[servedResult, n], tokenResults] = await Promise.all([Promise.allSettled([served, native]), Promise.all(tokenCalls)]);
  const out: EvmChainBalance = {
    chain: c.name,
    chain_id: c.chain.id,
    name: c.chain.name,
    native_symbol: c.isTempo ? null : c.chain.nativeCurrency.symbol,
    native_balance: null,
    // No prototype: symbols are the operator's, and `tokens['__proto__'] = …` on a plain object sets its prototype.
    tokens: Object.create(null) as EvmChainBalance['tokens'],
  };
  if (servedResult.status === 'fulfilled' && servedResult.value !== c.chain.id) {
    const error = `the RPC serves chain id ${servedResult.value}, not ${c.name} (${c.chain.id}): check EVM_RPC_URLS`;
    out.error = error;
    for (const t of c.tokens) out.tokens[t.symbol] = { contract: t.contract, balance: null, decimals: t.decimals, error };
    return out;
  }
  if (n.status === 'fulfilled') out.native_balance = n.value === null ? null : fromBaseUnits(n.value, c.chain.nativeCurrency.decimals);
  else out.error = describeEvmError(n.reason, timeoutMs, c.url);
  c.tokens.forEach((t, i) => {
    const [b, d] = tokenResults[i] as [PromiseSettledResult<bigint>, PromiseSettledResult<number>];
    if (b.status === 'fulfilled' && d.status === 'fulfilled') {
      out.tokens[t.symbol] = { contract: t.contract, balance: fromBaseUnits(b.value, d.value), decimals: d.value };
    } else {
      const reason: unknown = b.status === 'rejected' ? b.reason : (d as PromiseRejectedResult).reason;
      out.tokens[t.symbol] = { contract: t.contract, balance: null, decimals: d.status === 'fulfilled' ? d.value : null, error: describeEvmError(reason, timeoutMs, c.url) };
    }
  });
  // A value that came while the chain id did not (or came malformed) is unconfirmed: it may be another
  // chain's. Values that failed keep their own error.
  if (servedResult.status === 'rejected') {
    const error = `could not confirm the chain the RPC serves (${describeEvmError(servedResult.reason, timeoutMs, c.url)})`;
    if (out.native_balance !== null) {
      out.native_balance = null;
      out.error = error;
    }
    for (const [symbol, v] of Object.entries(out.tokens)) if (v.balance !== null) out.tokens[symbol] = { ...v, balance: null, error };
  }
  return out;
}

/**
 * A short, credential-free reason (RPC URLs may carry API keys, so viem's messages, which include them,
 * are not used; the node's own words may quote the URL too, so its key parts are hidden in them).
 */
function describeEvmError(err: unknown, timeoutMs: number, url: string): string {
  if (err instanceof z.core.$ZodError) return 'the RPC sent a value of an unexpected shape';
  if (!(err instanceof BaseError)) return 'the RPC call failed';
  if (err.walk((e) => e instanceof TimeoutError)) return `timeout: the RPC did not answer within ${timeoutMs / 1000} s`;
  const rpc = err.walk((e) => e instanceof RpcRequestError) as RpcRequestError | null;
  if (rpc) return `RPC error ${rpc.code}: ${serverWords(rpc.details, url, 200)}`;
  const httpErr = err.walk((e) => e instanceof HttpRequestError) as HttpRequestError | null;
  if (httpErr) return httpErr.status ? `the RPC answered HTTP ${httpErr.status}` : 'the RPC is unreachable or sent an answer that is not JSON';
  if (err.walk((e) => e instanceof ContractFunctionZeroDataError)) return 'the contract returned no data (is it a token on this chain?)';
  if (err.walk((e) => e instanceof ContractFunctionRevertedError)) return 'the contract call reverted';
  return serverWords(err.shortMessage, url, 200);
}
