/**
 * A server that answers every request with a redirect, as an `http://` address does when the service
 * moved to `https://` or another host: `307` (method and body kept) to `to` + the same path and query.
 * `/here` redirects within the redirector itself (same origin) to `/seen`, which answers
 * `{authorization}`: whether the key came along.
 */
export interface Redirector {
  url: string;
  /** Requests the redirector has answered. */
  hits: number;
  stop(): void;
}

export function startRedirector(to: string, status = 307): Redirector {
  const r: Redirector = { url: '', hits: 0, stop: () => server.stop(true) };
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      r.hits++;
      const u = new URL(req.url);
      if (u.pathname === '/here') return new Response(null, { status, headers: { location: '/seen' } });
      if (u.pathname === '/seen') return Response.json({ authorization: req.headers.get('authorization') });
      return new Response(null, { status, headers: { location: `${to}${u.pathname}${u.search}` } });
    },
  });
  r.url = `http://127.0.0.1:${server.port}`;
  return r;
}
