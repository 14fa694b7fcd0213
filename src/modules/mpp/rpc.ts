/**
 * The JSON-RPC transport of the Tempo client mppx verifies payments with: our outbound HTTP (a
 * deadline on every call), answers parsed with zod, errors that never carry the RPC URL (it may hold
 * an API key, and mppx prints verification errors), and a callback when the node could not be asked
 * at all — which the gate tells apart from a payment the node refused.
 */
import { custom, type CustomTransport } from 'viem';
import { z } from '../../lib/zod';
import { fetchJson, OutboundError } from '../../lib/http';

const JsonRpcAnswer = z.object({
  jsonrpc: z.literal('2.0'),
  result: z.optional(z.unknown()),
  error: z.optional(z.object({ code: z.number().check(z.int()), message: z.string(), data: z.optional(z.unknown()) })),
});

/** eth_sendRawTransactionSync's error when the transaction is pending past the node's wait (EIP-7966). */
const SYNC_TIMEOUT = 4;

/**
 * JSON-RPC error codes by which a node (or its provider) says it did not serve the call, not that the
 * payment is wrong: limit exceeded and resource unavailable (EIP-1474), and the 429 providers send
 * inside an HTTP 200. Read as a refused payment they made a 402, which mppx's fetch answers by paying
 * again, while the same credential passed once the node answered. A broadcast refused so was not sent:
 * there the 402 stands (mppx has claimed the hash, so only a new payment can pass, and it costs once).
 */
const NOT_SERVED = new Set([-32005, -32002, 429]);
/** The node failed inside the call: on a broadcast the transaction may have been taken. */
const INTERNAL_ERROR = -32603;

/** A JSON-RPC error as viem expects from a custom transport: it maps `code` to its own error classes. */
class RpcAnswerError extends Error {
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(message);
  }
}

/**
 * `onSend` hears of every call before it leaves (the gate notes a transaction broadcast: after one,
 * an RPC failure leaves the payment's outcome unknown); `onUnavailable` of every call the node could
 * not answer, or answered without saying whether the transaction settled. `shutdown`, asked as each
 * call leaves: the server's stop, which gives that call up at once (reported as unavailable), or none
 * for a call that must be let finish.
 */
export function tempoRpcTransport(
  url: string, timeoutMs: number, onUnavailable: () => void, onSend: (method: string) => void = () => {}, shutdown: () => AbortSignal | undefined = () => undefined,
): CustomTransport {
  let nextId = 0;
  return custom({
    async request({ method, params }: { method: string; params?: unknown }) {
      onSend(method);
      let res;
      try {
        res = await fetchJson(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: ++nextId, method, params: params ?? [] }),
          timeoutMs,
          target: 'the Tempo RPC',
          shutdown: shutdown(),
        });
      } catch (err) {
        onUnavailable();
        throw new Error(err instanceof OutboundError ? err.message : 'the Tempo RPC is unreachable');
      }
      const answer = res.ok ? z.safeParse(JsonRpcAnswer, res.json) : null;
      if (!answer?.success) {
        onUnavailable();
        throw new Error(res.ok ? 'the Tempo RPC sent an answer that is not JSON-RPC' : `the Tempo RPC answered HTTP ${res.status}`);
      }
      const error = answer.data.error;
      if (error) {
        // EIP-7966: the node took the transaction into its pool and its wait for the block ran out. The
        // payment may settle after all: an outcome unknown, not a refusal (a 402 has mppx pay again).
        if (method === 'eth_sendRawTransactionSync' && error.code === SYNC_TIMEOUT) onUnavailable();
        if (error.code === INTERNAL_ERROR || (NOT_SERVED.has(error.code) && !method.startsWith('eth_sendRawTransaction'))) onUnavailable();
        throw new RpcAnswerError(error.code, error.message, error.data);
      }
      // No receipt (yet) for a transaction: the node has not seen it, as a node behind the payer's does
      // for a push-mode payment already on chain. Not a refusal: a 402 has mppx's fetch pay again.
      if (method === 'eth_getTransactionReceipt' && answer.data.result == null) onUnavailable();
      return answer.data.result;
    },
  }, { retryCount: 0 });
}
