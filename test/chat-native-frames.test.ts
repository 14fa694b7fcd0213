/**
 * The native session-stream adapter and the hermes renderer on frame sequences a Hermes gateway can
 * send that the fake does not: fields of other types, frames without seq, a connection lost after
 * run.completed. Fed as bytes, as the upstream's body.
 */
import { describe, expect, test } from 'bun:test';
import { nativeEvents } from '../src/modules/chat/adapters/native';
import { hermesRenderer } from '../src/modules/chat/renderers/hermes';
import type { ChatEvent } from '../src/modules/chat/model';

const frame = (event: string, data: Record<string, unknown>) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const base = { session_id: 's1', run_id: 'run_up', ts: 1 };

/** The body: the frames, then either the end or a lost connection. */
function body(text: string, end: 'close' | 'drop' = 'close'): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (!sent) {
        sent = true;
        c.enqueue(new TextEncoder().encode(text));
      } else if (end === 'close') c.close();
      else c.error(new Error('connection reset'));
    },
  }, { highWaterMark: 0 });
}

async function events(text: string, end: 'close' | 'drop' = 'close'): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const ev of nativeEvents(body(text, end), 5000, () => {})) out.push(ev);
  return out;
}

function render(evs: ChatEvent[]): { event: string; data: Record<string, unknown> }[] {
  const r = hermesRenderer('s1', 'hi');
  const text = evs.map((e) => r.render(e)).join('') + r.end();
  return text.split('\n\n').filter(Boolean).map((f) => {
    const [ev, data] = f.split('\n') as [string, string];
    return { event: ev.slice('event: '.length), data: JSON.parse(data.slice('data: '.length)) as Record<string, unknown> };
  });
}

const answer = [
  frame('run.started', { ...base, seq: 1, user_message: 'hi' }),
  frame('message.started', { ...base, seq: 2, message: { id: 'm1', role: 'assistant' } }),
  frame('assistant.delta', { ...base, seq: 3, message_id: 'm1', delta: 'Hello' }),
  frame('assistant.completed', { ...base, seq: 4, content: 'Hello', completed: true, partial: false, interrupted: false }),
  frame('run.completed', { ...base, seq: 5, usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 } }),
].join('');

describe('native frames', () => {
  test('fields of other types, or null, in events that do not need them never end the turn', async () => {
    const odd = [
      frame('reasoning.delta', { ...base, seq: 3, delta: { text: 'hmm' } }),
      frame('status', { ...base, seq: 3, content: ['a'] }),
      frame('tool.progress', { ...base, seq: 3, tool_name: 'terminal', delta: null }),
      frame('tool.started', { ...base, seq: 3, tool_name: null }),
      frame('tool.completed', { ...base, seq: 3, is_error: null }),
    ];
    for (const extra of odd) {
      const text = answer.replace('event: assistant.delta', `${extra}event: assistant.delta`).replace(/"usage":\{[^}]*\}/, '"usage":{"input_tokens":null,"output_tokens":1}');
      const evs = await events(text);
      expect([extra.split('\n')[0], evs.at(-1)?.type]).toEqual([extra.split('\n')[0], 'completed']);
    }
    // A payload that is not a JSON object is still a malformed frame.
    expect((await events(answer.replace('"delta":"Hello"}', '"delta":"Hello"')))).toContainEqual(expect.objectContaining({ type: 'failed', code: 'upstream_bad_chunk' }));
  });

  test('a connection lost after run.completed ends the hermes format in done, as the optx one', async () => {
    const evs = await events(answer, 'drop');
    expect(evs.at(-1)?.type).toBe('completed');
    const frames = render(evs);
    expect(frames.map((f) => f.event)).toEqual(['run.started', 'message.started', 'assistant.delta', 'assistant.completed', 'run.completed', 'done']);
    expect(frames.map((f) => f.data.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('an upstream frame without seq or run_id gets them in the hermes format; an error object keeps its message and code', async () => {
    const text = answer.replace(/event: run\.completed[\s\S]*$/, frame('error', { session_id: 's1', ts: 1, error: { message: 'Model exploded', code: 'model_error' } }));
    const evs = await events(text);
    expect(evs.at(-1)).toMatchObject({ type: 'failed', message: 'The agent stopped with an error before its answer was complete: Model exploded', code: 'model_error' });
    const frames = render(evs);
    expect(frames.at(-1)).toMatchObject({ event: 'error', data: { session_id: 's1', run_id: 'run_up', seq: 5 } });
  });
});
