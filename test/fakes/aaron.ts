/**
 * A fake AARON gaze-verification service: `GET /session/{id}` answers what the test put in `sessions`
 * (404 for unknown ids), with switches to hang or fail, and a record of the ids asked for.
 */
export interface FakeAaronSession {
  status?: string | null;
  verified?: boolean | null;
  verified_at?: string | number | null;
}

export interface FakeAaron {
  readonly url: string;
  sessions: Map<string, FakeAaronSession>;
  /** Session ids requested, in order. */
  requests: string[];
  /** Every path requested, session route or not, in order. */
  paths: string[];
  behavior: { hang: boolean; status: number | null; garbage: boolean };
  /** Convenience: a session verified `agoMs` milliseconds ago. */
  verify(id: string, agoMs?: number): void;
  stop(): Promise<void>;
}

export function startFakeAaron(): FakeAaron {
  const hanging = new Set<() => void>();
  const fake: FakeAaron = {
    url: '',
    sessions: new Map(),
    requests: [],
    paths: [],
    behavior: { hang: false, status: null, garbage: false },
    verify(id, agoMs = 0) {
      fake.sessions.set(id, { status: 'verified', verified_at: new Date(Date.now() - agoMs).toISOString() });
    },
    async stop() {
      for (const release of hanging) release();
      await server.stop(true);
    },
  };
  const server = Bun.serve({
    port: 0,
    idleTimeout: 0,
    fetch(req) {
      const { pathname } = new URL(req.url);
      fake.paths.push(pathname);
      const m = /^\/session\/([^/]+)$/.exec(pathname);
      if (!m) return Response.json({ error: 'not found' }, { status: 404 });
      const id = decodeURIComponent(m[1] as string);
      fake.requests.push(id);
      if (fake.behavior.hang) {
        return new Promise<Response>((resolve) => {
          const release = () => resolve(new Response('released', { status: 503 }));
          hanging.add(release);
          req.signal.addEventListener('abort', () => {
            hanging.delete(release);
            release();
          });
        });
      }
      if (fake.behavior.status) return Response.json({ error: 'forced' }, { status: fake.behavior.status });
      if (fake.behavior.garbage) return new Response('<html>oops</html>', { status: 200 });
      const s = fake.sessions.get(id);
      if (!s) return Response.json({ error: 'session not found' }, { status: 404 });
      return Response.json({ session_id: id, ...s });
    },
  });
  (fake as { url: string }).url = `http://127.0.0.1:${server.port}`;
  return fake;
}
