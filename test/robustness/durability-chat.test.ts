/**
 * Durability of the fallback transcript store under kill -9 at the two moments that matter for a chat
 * turn: right after the client read `done` (the turn must be kept, with its usage) and in the middle of
 * the stream (the turn must be absent: never half an answer kept as if it were whole). The built
 * binary, the fake Hermes 0.12 (no session API, so every turn takes the fallback path).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { startFakeHermes, type FakeHermes } from '../fakes/hermes';
import { tempDir } from '../helpers/app';
import { ensureBinary, startBinary, type RunningBinary } from '../helpers/binary';

const ROUNDS = Number(process.env.DURABILITY_ROUNDS ?? 2);
const REPLY = 'one two three four five six seven eight';

let binary = '';
let hermes: FakeHermes;
beforeAll(async () => {
  binary = await ensureBinary();
  hermes = await startFakeHermes({ version: '0.12' });
  hermes.behavior.reply = () => REPLY;
}, 120_000);
afterAll(() => hermes.stop());

/** Sends a turn and kills the binary once the stream shows `until`; whether the client read `done`. */
async function turnCut(run: RunningBinary, id: string, message: string, until: 'event: done' | 'event: content'): Promise<boolean> {
  const res = await fetch(`${run.base}/api/sessions/${id}/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }) });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes(until)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  run.proc.kill('SIGKILL');
  await run.proc.exited;
  return text.includes('event: done');
}

test(`${ROUNDS} rounds: a turn killed after done is kept with its usage, one killed mid-stream is absent`, async () => {
  const dir = tempDir('optx-dur-chat-');
  const env = { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: hermes.url, HERMES_API_KEY: hermes.apiKey as string };
  const id = 'durable-chat';
  const kept: string[] = [];
  for (let round = 0; round < ROUNDS * 2; round++) {
    const run = await startBinary(binary, env);
    if (round === 0) expect((await fetch(`${run.base}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) })).status).toBe(201);
    const midStream = round % 2 === 1;
    // Slow tokens mid-stream: the kill comes long before the turn could be recorded.
    hermes.behavior.tokenDelayMs = midStream ? 50 : 0;
    if (await turnCut(run, id, `turn ${round}`, midStream ? 'event: content' : 'event: done')) kept.push(`turn ${round}`);
    const again = await startBinary(binary, env);
    try {
      const { session } = (await (await fetch(`${again.base}/api/sessions/${id}`)).json()) as { session: { message_count: number; input_tokens: number; output_tokens: number } };
      const { items } = (await (await fetch(`${again.base}/api/sessions/${id}/messages?limit=500`)).json()) as { items: { role: string; content: unknown }[] };
      expect(items.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(kept);
      // Every answer kept is whole.
      expect(items.filter((m) => m.role === 'assistant').map((m) => m.content)).toEqual(kept.map(() => REPLY));
      expect(session.message_count).toBe(items.length);
      expect([session.input_tokens > 0, session.output_tokens]).toEqual([kept.length > 0, kept.length * REPLY.split(' ').length]);
    } finally {
      again.proc.kill('SIGTERM');
      await again.proc.exited;
    }
  }
  expect(kept.length).toBeGreaterThan(0);
}, 120_000);
