/**
 * Holds the agent calls a test picks until it releases them, as a slow network would: the test waits
 * for `reached`, does what must overtake the call (a DELETE), then `release()`s it.
 */
import type { HermesClient, UpstreamCallInit } from '../../src/upstream/client';

export function holdUpstreamCalls(client: HermesClient, held: (path: string, init: UpstreamCallInit) => boolean): { reached: Promise<void>; release: () => void } {
  const json = client.json.bind(client);
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((resolve) => (reached = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  client.json = async (path, init = {}) => {
    if (held(path, init)) {
      reached();
      await released;
    }
    return json(path, init);
  };
  return { reached: reachedP, release };
}
