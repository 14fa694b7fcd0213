/**
 * A fake Tempo node: the EVM fake plus what an mppx client needs to build a Tempo (0x76) payment
 * transaction (blocks, fees, gas, nonce) and what the mppx server needs to verify and settle it
 * (`eth_call` simulation of the transaction's calls, `eth_sendRawTransactionSync`,
 * `eth_sendRawTransaction`, `eth_getTransactionReceipt`).
 *
 * It behaves as a chain for TIP-20 transfers: a raw transaction is decoded with viem, its signer is
 * recovered from the signature, each `transfer`/`transferWithMemo` call is checked against the
 * sender's token balance (a shortfall reverts), applied, and the receipt carries the `Transfer` and
 * `TransferWithMemo` logs a TIP-20 emits. The same transaction broadcast twice is refused, as a node
 * refuses a known transaction. It does not model gas accounting, fee tokens, nonces or consensus.
 */
import { decodeFunctionData, encodeAbiParameters, encodeEventTopics, keccak256, type Hex } from 'viem';
import { Abis, Transaction } from 'viem/tempo';
import { startFakeEvmRpc, type FakeEvmRpc } from './evm-rpc';
import { type MethodHandler, RpcError } from './json-rpc';

export const TEMPO_TESTNET_CHAIN_ID = 42431;

interface TransferEffect {
  token: Hex;
  from: Hex;
  to: Hex;
  amount: bigint;
  memo?: Hex;
}

export interface BroadcastTransaction {
  hash: Hex;
  from: Hex;
  transfers: TransferEffect[];
}

export interface FakeTempoRpc extends FakeEvmRpc {
  /** Transactions accepted by broadcast, in order. */
  transactions: BroadcastTransaction[];
  receipts: Map<string, Record<string, unknown>>;
  /**
   * `eth_sendRawTransactionSync` takes the transaction (its transfers happen) but answers EIP-7966's
   * timeout error (code 4, the hash as data), as a node whose block came later than its wait.
   */
  confirmsLate: boolean;
}

const ZERO32 = `0x${'00'.repeat(32)}` as Hex;
const hex = (n: bigint | number) => `0x${n.toString(16)}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

export function startFakeTempoRpc(opts: { chainId?: number } = {}): FakeTempoRpc {
  const chainId = opts.chainId ?? TEMPO_TESTNET_CHAIN_ID;
  const transactions: BroadcastTransaction[] = [];
  const receipts = new Map<string, Record<string, unknown>>();
  let blockNumber = 16n;
  const late = { on: false };

  const fake = startFakeEvmRpc({
    chainId,
    extraMethods: (chain, base) => {
      /** The TIP-20 transfers a list of calls makes, checked against balances; throws a revert on a shortfall. */
      const transfersOf = (from: Hex, calls: readonly { to?: string | null; data?: Hex | null }[]): TransferEffect[] => {
        const effects: TransferEffect[] = [];
        const spent = new Map<string, bigint>();
        for (const call of calls) {
          if (!call.to || !call.data) throw new RpcError(3, 'execution reverted: call without target or data');
          let decoded;
          try {
            decoded = decodeFunctionData({ abi: Abis.tip20, data: call.data });
          } catch {
            throw new RpcError(3, 'execution reverted: unknown TIP-20 call');
          }
          if (decoded.functionName !== 'transfer' && decoded.functionName !== 'transferWithMemo') {
            throw new RpcError(3, `execution reverted: ${decoded.functionName} is not supported by the fake`);
          }
          const [to, amount, memo] = decoded.args as [Hex, bigint, Hex | undefined];
          const key = `${call.to.toLowerCase()}:${from.toLowerCase()}`;
          const total = (spent.get(key) ?? 0n) + amount;
          if (chain.balanceOf(call.to, from) < total) throw new RpcError(3, 'execution reverted: InsufficientBalance');
          spent.set(key, total);
          effects.push({ token: call.to as Hex, from, to, amount, ...(memo ? { memo } : {}) });
        }
        return effects;
      };

      const apply = (effects: TransferEffect[]) => {
        for (const e of effects) {
          const t = chain.tokens.get(e.token.toLowerCase());
          if (!t) continue;
          t.balances.set(e.from.toLowerCase(), chain.balanceOf(e.token, e.from) - e.amount);
          t.balances.set(e.to.toLowerCase(), chain.balanceOf(e.token, e.to) + e.amount);
        }
      };

      const logsOf = (effects: TransferEffect[], txHash: Hex, blockHash: Hex) => {
        const logs: Record<string, unknown>[] = [];
        const push = (address: Hex, topics: (Hex | Hex[] | null)[], data: Hex) =>
          logs.push({ address, topics, data, blockHash, blockNumber: hex(blockNumber), logIndex: hex(logs.length), transactionHash: txHash, transactionIndex: '0x0', removed: false });
        for (const e of effects) {
          push(e.token, encodeEventTopics({ abi: Abis.tip20, eventName: 'Transfer', args: { from: e.from, to: e.to } }), encodeAbiParameters([{ type: 'uint256' }], [e.amount]));
          if (e.memo) {
            push(e.token, encodeEventTopics({ abi: Abis.tip20, eventName: 'TransferWithMemo', args: { from: e.from, to: e.to, memo: e.memo } }), encodeAbiParameters([{ type: 'uint256' }], [e.amount]));
          }
        }
        return logs;
      };

      /** Decodes, checks and applies a signed transaction; returns its receipt. */
      const broadcast = async (raw: Hex): Promise<Record<string, unknown>> => {
        let tx;
        try {
          tx = Transaction.deserialize(raw as Parameters<typeof Transaction.deserialize>[0]) as {
            chainId?: number; from?: Hex; calls?: { to?: Hex | null; data?: Hex | null }[]; signature?: unknown; validBefore?: number;
          };
        } catch (err) {
          throw new RpcError(-32602, `invalid transaction: ${(err as Error).message.split('\n')[0]}`);
        }
        if (!tx.signature || !tx.from) throw new RpcError(-32602, 'invalid transaction: not signed');
        if (tx.chainId !== chainId) throw new RpcError(-32602, `invalid chain id ${tx.chainId}`);
        if (tx.validBefore !== undefined && tx.validBefore <= nowSeconds()) throw new RpcError(-32000, 'transaction expired');
        const hash = keccak256(await Transaction.serialize(Transaction.deserialize(raw as Parameters<typeof Transaction.deserialize>[0])));
        if (receipts.has(hash.toLowerCase())) throw new RpcError(-32000, 'already known');
        const effects = transfersOf(tx.from, tx.calls ?? []);
        apply(effects);
        blockNumber += 1n;
        const blockHash = keccak256(`0x${blockNumber.toString(16).padStart(64, '0')}` as Hex);
        const receipt = {
          transactionHash: hash, transactionIndex: '0x0', blockHash, blockNumber: hex(blockNumber),
          from: tx.from, to: tx.calls?.[0]?.to ?? null, cumulativeGasUsed: '0x5208', gasUsed: '0x5208',
          effectiveGasPrice: '0x2', contractAddress: null, logs: logsOf(effects, hash, blockHash),
          logsBloom: `0x${'00'.repeat(256)}`, status: '0x1', type: '0x76',
        };
        receipts.set(hash.toLowerCase(), receipt);
        transactions.push({ hash, from: tx.from, transfers: effects });
        return receipt;
      };

      const block = () => ({
        number: hex(blockNumber), hash: keccak256(`0x${blockNumber.toString(16).padStart(64, '0')}` as Hex), parentHash: ZERO32,
        timestamp: hex(nowSeconds()), baseFeePerGas: '0x1', gasLimit: '0x1c9c380', gasUsed: '0x0', transactions: [],
        difficulty: '0x0', totalDifficulty: '0x0', extraData: '0x', logsBloom: `0x${'00'.repeat(256)}`, miner: `0x${'00'.repeat(20)}`,
        nonce: '0x0000000000000000', receiptsRoot: ZERO32, sha3Uncles: ZERO32, size: '0x0', stateRoot: ZERO32,
        transactionsRoot: ZERO32, uncles: [], mixHash: ZERO32,
      });

      const handlers: Record<string, MethodHandler> = {
        eth_blockNumber: () => hex(blockNumber),
        eth_getBlockByNumber: () => block(),
        eth_maxPriorityFeePerGas: () => '0x1',
        eth_gasPrice: () => '0x2',
        eth_estimateGas: () => '0x30000',
        eth_getTransactionCount: () => '0x0',
        // A simulation of a Tempo transaction (it has `calls`) checks its transfers; anything else is an ERC-20 read.
        eth_call: (params, call) => {
          const [req] = params as [{ from?: Hex; calls?: { to?: Hex; data?: Hex }[] }];
          if (req?.calls) {
            if (!req.from) throw new RpcError(-32602, 'simulation without sender');
            transfersOf(req.from, req.calls);
            return '0x';
          }
          return (base.eth_call as MethodHandler)(params, call);
        },
        eth_sendRawTransactionSync: async (params) => {
          const receipt = await broadcast(params[0] as Hex);
          if (late.on) throw new RpcError(4, 'The transaction was added to the mempool but wasn\'t processed within the designated timeout', receipt.transactionHash);
          return receipt;
        },
        eth_sendRawTransaction: async (params) => (await broadcast(params[0] as Hex)).transactionHash,
        eth_getTransactionReceipt: (params) => receipts.get(String(params[0]).toLowerCase()) ?? null,
      };
      return handlers;
    },
  }) as FakeTempoRpc;
  const reset = fake.reset.bind(fake);
  fake.reset = () => {
    reset();
    late.on = false;
  };
  return Object.defineProperties(Object.assign(fake, { transactions, receipts }), {
    confirmsLate: { get: () => late.on, set: (v: boolean) => void (late.on = v), enumerable: true },
  }) as FakeTempoRpc;
}
