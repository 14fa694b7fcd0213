/**
 * The traffic of scripts/bench/soak.ts: one mixed request at a time from a weighted table, and chat or
 * `/v1` streams that run to the end, are aborted by the client part-way, or meet whatever the fake
 * upstream is doing in the current phase. Outcomes are counted by operation and status.
 */
export interface Traffic {
  base: string;
  key: string;
  counts: Map<string, number>;
}

const WORDS = 'the quick brown fox jumps over a lazy dog while seven sailors sing of distant harbours'.split(' ');
const sentence = (n: number) => Array.from({ length: n }, (_, i) => WORDS[(i * 7 + n) % WORDS.length]).join(' ');
const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(Math.random() * xs.length)];

// Ids to act on. Memories and escrows are deleted or released about as fast as they are made; sessions
// and tasks pile up as a deployment's do (17 minutes: ~1,400 sessions and ~750 tasks left).
const sessions: string[] = [];
const memories: string[] = [];
const openTasks: string[] = [];
const claimed: string[] = [];
const escrows: string[] = [];
const POOL = 40;

function count(t: Traffic, op: string, status: number | string): void {
  const k = `${op} ${status}`;
  t.counts.set(k, (t.counts.get(k) ?? 0) + 1);
}

async function call(t: Traffic, op: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> | null }> {
  try {
    const res = await fetch(`${t.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${t.key}`, ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    count(t, op, res.status);
    let json: Record<string, unknown> | null = null;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON (a 502 page, empty): the status is what is counted
    }
    return { status: res.status, json };
  } catch (e) {
    count(t, op, (e as Error).name);
    return { status: 0, json: null };
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const field = (j: Record<string, unknown> | null, ...path: string[]): string | undefined => {
  let v: unknown = j;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return str(v);
};

type Op = [weight: number, run: (t: Traffic) => Promise<unknown>];

export const OPS: Op[] = [
  [3, (t) => call(t, 'health', 'GET', '/health')],
  [4, (t) => call(t, 'sessions.list', 'GET', '/api/sessions?limit=20')],
  [2, async (t) => {
    const r = await call(t, 'sessions.create', 'POST', '/api/sessions', { title: `${sentence(3)} ${crypto.randomUUID().slice(0, 8)}` });
    const id = field(r.json, 'session', 'id');
    if (id) sessions.push(id);
  }],
  [3, async (t) => {
    const id = pick(sessions);
    if (id) await call(t, 'sessions.get', 'GET', `/api/sessions/${id}`);
  }],
  [2, async (t) => {
    const id = pick(sessions);
    if (id) await call(t, 'sessions.messages', 'GET', `/api/sessions/${id}/messages?limit=50`);
  }],
  [3, async (t) => {
    const id = sessions.length > POOL / 2 ? sessions.shift() : undefined;
    if (id) await call(t, 'sessions.delete', 'DELETE', `/api/sessions/${id}`);
  }],
  [4, async (t) => {
    const r = await call(t, 'memory.add', 'POST', '/api/memory', { content: `${sentence(8)} ${crypto.randomUUID()}`, category: pick(['general', 'project', 'people']) });
    const id = field(r.json, 'memory', 'id');
    if (id) memories.push(id);
  }],
  [4, (t) => call(t, 'memory.search', 'POST', '/api/memory/search', { query: sentence(3), limit: 10 })],
  [1, (t) => call(t, 'memory.stats', 'GET', '/api/memory/stats')],
  [4, async (t) => {
    const id = memories.length > POOL ? memories.shift() : undefined;
    if (id) await call(t, 'memory.delete', 'DELETE', `/api/memory/${id}`);
  }],
  [3, async (t) => {
    const r = await call(t, 'tasks.create', 'POST', '/api/tasks', { title: sentence(4), reward: 0 });
    const id = field(r.json, 'task_id');
    if (id) openTasks.push(id);
  }],
  [3, async (t) => {
    const id = openTasks.shift();
    // Leases of 1-20 s against completions that come ~10 s later: some are in time, the rest lapse (409).
    const r = id && (await call(t, 'tasks.claim', 'POST', `/api/tasks/${id}/claim`, { agent_name: 'soak', lease_seconds: 1 + Math.floor(Math.random() * 20) }));
    if (id && r && r.status === 200) claimed.push(id);
  }],
  [3, async (t) => {
    const id = claimed.length > 5 ? claimed.shift() : undefined;
    if (id) await call(t, 'tasks.complete', 'POST', `/api/tasks/${id}/complete`, { agent_name: 'soak', success: Math.random() < 0.7, result: { n: 1 } });
  }],
  [1, async (t) => {
    const id = openTasks.length > POOL ? openTasks.shift() : undefined;
    if (id) await call(t, 'tasks.cancel', 'DELETE', `/api/tasks/${id}`);
  }],
  [1, (t) => call(t, 'tasks.list', 'GET', '/api/tasks?status=InProgress&limit=20')],
  [2, async (t) => {
    const r = await call(t, 'escrow.create', 'POST', '/api/wallet/escrow', { task_id: `task-${crypto.randomUUID()}`, amount: '1.5', gaze_required: false, ttl_seconds: 60 });
    const id = field(r.json, 'escrow_id');
    if (id) escrows.push(id);
  }],
  [2, async (t) => {
    const id = escrows.shift();
    if (id) await call(t, 'escrow.release', 'POST', '/api/wallet/escrow/release', { escrow_id: id, recipient: 'agent-b' });
  }],
  [1, (t) => call(t, 'escrow.list', 'GET', '/api/wallet/escrow?limit=20')],
  [2, (t) => call(t, 'config.get', 'GET', '/api/config')],
  [1, (t) => call(t, 'config.patch', 'PATCH', '/api/config', { display: { soak_counter: Math.floor(Math.random() * 1000) } })],
  [2, (t) => call(t, 'skills.list', 'GET', '/api/skills?limit=20')],
  [2, (t) => call(t, 'v1.models', 'GET', '/v1/models')],
  [1, (t) => call(t, 'v1.chat', 'POST', '/v1/chat/completions', { model: 'hermes-agent', messages: [{ role: 'user', content: sentence(6) }] })],
  [2, (t) => call(t, 'bad.memory', 'POST', '/api/memory', { content: 5 })],
  [1, (t) => call(t, 'bad.json', 'POST', '/api/tasks', '{"title": ')],
  [1, (t) => call(t, 'bad.query', 'GET', '/api/sessions?limit=abc')],
  [1, (t) => call(t, 'bad.route', 'GET', '/api/nope')],
  [2, (t) => call(t, 'auth.wrong', 'GET', '/api/sessions', undefined, { authorization: 'Bearer wrong-key' })],
  [1, (t) => fetch(`${t.base}/api/memory/stats`).then(async (r) => (await r.text(), count(t, 'auth.none', r.status)), (e: Error) => count(t, 'auth.none', e.name))],
];

const TOTAL = OPS.reduce((n, [w]) => n + w, 0);
export function randomOp(): Op[1] {
  let r = Math.random() * TOTAL;
  for (const [w, run] of OPS) if ((r -= w) < 0) return run;
  return (OPS[0] as Op)[1];
}

/**
 * One stream: a chat turn into a pooled or new session (native or fallback, whichever the upstream
 * offers) or a `/v1/chat/completions` stream. A third run to the end; the rest are aborted by the
 * client after the first bytes or after a random wait.
 */
export async function oneStream(t: Traffic): Promise<void> {
  const v1 = Math.random() < 0.3;
  const mode = pick(['complete', 'complete', 'first', 'later'] as const) ?? 'complete';
  const op = `${v1 ? 'v1.stream' : 'chat.stream'}.${mode}`;
  let path = '/v1/chat/completions';
  let body: unknown = { model: 'hermes-agent', stream: true, messages: [{ role: 'user', content: sentence(40) }] };
  if (!v1) {
    let id = Math.random() < 0.5 ? pick(sessions) : undefined;
    if (!id) {
      const r = await call(t, 'sessions.create', 'POST', '/api/sessions', {});
      id = field(r.json, 'session', 'id');
      if (!id) return;
      sessions.push(id);
    }
    path = `/api/sessions/${id}/chat/stream`;
    body = { message: sentence(40) };
  }
  const ac = new AbortController();
  const hard = setTimeout(() => ac.abort(), 30_000);
  try {
    const res = await fetch(`${t.base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: ac.signal,
    });
    if (!res.body || res.status !== 200) {
      await res.text();
      count(t, op, res.status);
      return;
    }
    const reader = res.body.getReader();
    if (mode === 'later') setTimeout(() => ac.abort(), 50 + Math.random() * 400);
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      if (mode === 'first') {
        ac.abort();
        break;
      }
    }
    count(t, op, /event: (error|failed)|"error"/.test(text) ? 'error-event' : 'done');
  } catch (e) {
    count(t, op, (e as Error).name);
  } finally {
    clearTimeout(hard);
  }
}
