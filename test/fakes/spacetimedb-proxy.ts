/**
 * A proxy in front of the fake SpacetimeDB that can hold one reducer call in transit, as a slow
 * network or an overloaded host does: `before` holds it on the way in (it reaches the database only
 * when released, possibly after the sidecar gave up), `after` forwards it at once and holds the answer
 * (it has committed when the sidecar times out). Everything else passes straight through.
 */
export type HoldPhase = 'before' | 'after';

export interface Held {
  /** Resolves when the matching call reaches the proxy. */
  arrived: Promise<void>;
  /** Resolves when the database has answered the forwarded call (it committed, or failed). */
  landed: Promise<void>;
  release(): void;
}

export interface SpacetimeProxy {
  url: string;
  /** Holds the next call of a reducer whose arguments `match`. */
  hold(match: (reducer: string, args: unknown[]) => boolean, phase: HoldPhase): Held;
  stop(): Promise<void>;
}

interface Rule extends Held {
  match: (reducer: string, args: unknown[]) => boolean;
  phase: HoldPhase;
  released: Promise<void>;
  onArrive(): void;
  onLand(): void;
}

export function startSpacetimeProxy(target: string): SpacetimeProxy {
  const rules: Rule[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const body = await req.text();
      const reducer = /\/call\/([^/]+)$/.exec(url.pathname)?.[1];
      const at = reducer === undefined ? -1 : rules.findIndex((r) => r.match(reducer, parse(body)));
      const rule = at >= 0 ? rules.splice(at, 1)[0] : undefined;
      rule?.onArrive();
      if (rule?.phase === 'before') await rule.released;
      // The handler goes on when the sidecar has hung up: a held call still reaches the database.
      const res = await fetch(target + url.pathname + url.search, { method: req.method, headers: req.headers, body: req.method === 'GET' ? undefined : body });
      const answer = new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
      rule?.onLand();
      if (rule?.phase === 'after') await rule.released;
      return answer;
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    hold(match, phase) {
      const arrive = Promise.withResolvers<void>();
      const land = Promise.withResolvers<void>();
      const release = Promise.withResolvers<void>();
      const rule: Rule = { match, phase, arrived: arrive.promise, landed: land.promise, released: release.promise, release: () => release.resolve(), onArrive: () => arrive.resolve(), onLand: () => land.resolve() };
      rules.push(rule);
      return rule;
    },
    stop: () => server.stop(true),
  };
}

function parse(body: string): unknown[] {
  try {
    const v: unknown = JSON.parse(body);
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}
