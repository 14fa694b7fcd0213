/** The floor: a 20-line raw Bun.serve passthrough to the upstream, no checks of any kind. */
const upstream = process.env.UPSTREAM_URL as string;
const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(req) {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.set('authorization', 'Bearer bench-key');
    headers.delete('host');
    const res = await fetch(upstream + url.pathname + url.search, { method: req.method, headers, body: req.body });
    const out = new Headers(res.headers);
    out.delete('content-length');
    out.delete('transfer-encoding');
    return new Response(res.body, { status: res.status, headers: out });
  },
});
process.stdout.write(`port ${server.port}\n`);
process.on('SIGTERM', () => process.exit(0));
