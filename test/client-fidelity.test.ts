/**
 * The sidecar's streams read by real clients' own parsers (test/helpers/client-parsers.ts), not by
 * ours: fetch-event-source (browser apps POSTing to the chat streams), the OpenAI SDK (on
 * /api/chat/completions/stream), a Python client splitting lines the universal way, and Hermes
 * Workspace (the hermes format). Both Hermes versions, so both upstream paths.
 */
import { describe, expect, test } from 'bun:test';
import type { FakeHermes, HermesVersion } from './fakes/hermes';
import type { TestApp } from './helpers/app';
import { fetchEventSource, openAiSdkStream, SdkApiError, splitlinesSse, workspaceStream } from './helpers/client-parsers';
import { chatBody, useFakeHermes } from './helpers/fake-app';

const ENV = { SSE_HEARTBEAT_S: '0.02' };
const FORMATS = ['optx', 'hermes'] as const;

/** The answer's text as each format carries it. */
function textOf(format: (typeof FORMATS)[number], frames: { event: string; data: Record<string, unknown> }[]): string {
  return format === 'optx'
    ? frames.filter((f) => f.event === 'content').map((f) => f.data.content).join('')
    : frames.filter((f) => f.event === 'assistant.delta').map((f) => f.data.delta).join('');
}

for (const version of ['0.12', '0.17'] as HermesVersion[]) {
  describe(`Hermes ${version}: real clients' parsers`, () => {
    let fake: FakeHermes;
    let t: TestApp;
    useFakeHermes(version, (f, app) => {
      fake = f;
      t = app;
    }, ENV);

    const newTurn = (format: string, message: string) =>
      t.fetch(`/api/sessions/new/chat/stream?format=${format}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message }),
      });

    test('fetch-event-source: heartbeats while the model thinks are no messages; every message is a JSON frame', async () => {
      fake.behavior.firstTokenDelayMs = 120;
      for (const format of FORMATS) {
        const raw = await (await newTurn(format, 'hello there')).text();
        expect(raw).toContain(': ping\n');
        const messages = await fetchEventSource(new Response(raw));
        // An empty message is what a client's JSON.parse(ev.data) throws on, and fetch-event-source
        // then sends the POST again: a second turn.
        expect(messages.filter((m) => m.data === '')).toEqual([]);
        const frames = messages.map((m) => ({ event: m.event, data: JSON.parse(m.data) as Record<string, unknown> }));
        expect(textOf(format, frames)).toBe('You said: hello there');
        expect(frames.at(-1)?.event).toBe('done');
      }
    });

    test('a Python client splitting lines the universal way gets the whole answer with U+2028, U+2029 and U+0085 in it', async () => {
      const message = 'one\u2028two\u2029three\u0085four';
      // On 0.17 the hermes format is the agent's own frames, passed on as written (Hermes' json.dumps
      // escapes them; the fake does not): only what the sidecar writes itself is checked there.
      for (const format of version === '0.12' ? FORMATS : (['optx'] as const)) {
        const { frames, skipped } = await splitlinesSse(await newTurn(format, message));
        expect(skipped).toBe(0);
        expect(textOf(format, frames)).toBe(`You said: ${message}`);
        expect(frames.at(-1)?.event).toBe('done');
      }
    });

    test('Hermes Workspace: the hermes format gives its text, tools, completion and errors', async () => {
      fake.behavior.tools = true;
      fake.behavior.firstTokenDelayMs = 60;
      const events = await workspaceStream(await newTurn('hermes', 'weather please'));
      const names = events.map((e) => e.event);
      expect(names[0]).toBe('run.started');
      expect(textOf('hermes', events)).toBe('You said: weather please');
      expect(events.find((e) => e.event === 'assistant.completed')?.data.content).toBe('You said: weather please');
      expect(events.filter((e) => e.event.startsWith('tool.') && e.data.tool_name !== '_thinking').map((e) => [e.event, e.data.tool_name]))
        .toEqual([['tool.started', 'web_search'], ['tool.completed', 'web_search']]);
      expect(names.slice(-2)).toEqual(['run.completed', 'done']);
      // run_id (Workspace's run key) is one for the whole run, seq strictly increasing from 1.
      expect(new Set(events.map((e) => e.data.run_id)).size).toBe(1);
      const seqs = events.map((e) => e.data.seq as number);
      expect(seqs[0]).toBeGreaterThanOrEqual(1);
      expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);

      fake.reset();
      fake.behavior.dropAfterTokens = 2;
      const failed = await workspaceStream(await newTurn('hermes', 'weather again'));
      const error = failed.at(-1)!;
      expect(error.event).toBe('error');
      // What Workspace shows: data.error?.message, else data.message.
      const shown = (error.data.error as { message?: string } | undefined)?.message ?? error.data.message;
      expect(shown).toBe('The connection to the Hermes upstream was lost mid-stream.');
    });

    describe('the OpenAI SDK on POST /api/chat/completions/stream', () => {
      const open = (content: string) =>
        t.fetch('/api/chat/completions/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody(content) });

      test("the SDKs' own loop (`chunk.choices[0]?.delta?.content`) reads an answer with tool use; the tool events are in the chunks", async () => {
        fake.behavior.tools = true;
        let text = '';
        const tools: unknown[] = [];
        let usage: unknown = null;
        for await (const chunk of openAiSdkStream(await open('weather'))) {
          text += (chunk.choices as { delta?: { content?: string } }[])[0]?.delta?.content ?? '';
          if (chunk.hermes_event) tools.push(chunk.hermes_event);
          usage = chunk.usage ?? usage;
          expect([chunk.object, typeof chunk.id, typeof chunk.created, typeof chunk.model]).toEqual(['chat.completion.chunk', 'string', 'number', 'string']);
        }
        expect(text).toBe('You said: weather');
        expect(tools).toEqual([
          { event: 'hermes.tool.progress', data: expect.objectContaining({ tool: 'web_search', status: 'running' }) },
          { event: 'hermes.tool.progress', data: expect.objectContaining({ tool: 'web_search', status: 'completed' }) },
        ]);
        expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
      });

      test('a connection lost mid-stream is raised by the SDK, after the text so far', async () => {
        fake.behavior.dropAfterTokens = 2;
        // The drop comes once the SDK has both tokens: a reset reaching the sidecar first discards
        // frames it had not read yet (the text came back empty under load), as in chat-failures.
        const { promise: seenBoth, resolve } = Promise.withResolvers<void>();
        fake.behavior.dropWhen = seenBoth;
        let text = '';
        let raised: unknown = null;
        try {
          for await (const chunk of openAiSdkStream(await open('weather now'))) {
            text += (chunk.choices as { delta?: { content?: string } }[])[0]?.delta?.content ?? '';
            if (text === 'You said:') resolve();
          }
        } catch (err) {
          raised = err;
        }
        expect(raised).toBeInstanceOf(SdkApiError);
        expect((raised as SdkApiError).error).toMatchObject({ code: 'upstream_disconnected', message: 'The connection to the Hermes upstream was lost mid-stream.' });
        expect(text).toBe('You said:');
      });
    });
  });
}
