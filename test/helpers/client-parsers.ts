/**
 * The SSE readers of real clients, ported as they are written (bugs included), so tests read the
 * sidecar's streams the way those clients do rather than with our own parseSse:
 * - `fetchEventSource`: @microsoft/fetch-event-source 2.0.1 (getLines + getMessages), the usual way a
 *   browser app POSTs to an event stream. It calls onmessage on every blank line, data or not.
 * - `openAiSdkStream`: the OpenAI Node SDK's Stream.fromSSEResponse (LineDecoder, SSEDecoder, legacy
 *   mode): every frame but `[DONE]` is yielded as a chunk whatever its event name (only `thread.*`
 *   differs), `event: error` or a payload with `error` throws, `[DONE]` ends the stream.
 * - `splitlinesSse`: a Python client reading lines with str.splitlines semantics (requests'
 *   iter_lines(decode_unicode=True), httpx's iter_lines, httpx-sse before 0.4.2), which also ends a
 *   line at U+0085, U+2028, U+2029 and a few control characters.
 * - `workspaceStream`: Hermes Workspace's streamChat (src/server/hermes-api.ts): LF lines,
 *   `event: `/`data: ` prefixes, the event name kept until the next `event:` line, bad JSON skipped.
 */

export interface ClientMessage {
  event: string;
  data: string;
}

async function* chunks(res: Response): AsyncGenerator<Uint8Array> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

/** Every message fetch-event-source hands to `onmessage`, in order (an empty `event` is unnamed). */
export async function fetchEventSource(res: Response): Promise<ClientMessage[]> {
  const out: ClientMessage[] = [];
  const decoder = new TextDecoder();
  let message: ClientMessage = { event: '', data: '' };
  const onLine = (line: Uint8Array, fieldLength: number) => {
    if (line.length === 0) {
      out.push(message);
      message = { event: '', data: '' };
    } else if (fieldLength > 0) {
      const field = decoder.decode(line.subarray(0, fieldLength));
      const value = decoder.decode(line.subarray(fieldLength + (line[fieldLength + 1] === 32 ? 2 : 1)));
      if (field === 'data') message.data = message.data ? `${message.data}\n${value}` : value;
      else if (field === 'event') message.event = value;
    }
  };
  let buffer: Uint8Array | undefined;
  let position = 0;
  let fieldLength = -1;
  let discardTrailingNewline = false;
  for await (const arr of chunks(res)) {
    if (buffer === undefined) {
      buffer = arr;
      position = 0;
      fieldLength = -1;
    } else {
      const joined = new Uint8Array(buffer.length + arr.length);
      joined.set(buffer);
      joined.set(arr, buffer.length);
      buffer = joined;
    }
    let lineStart = 0;
    while (position < buffer.length) {
      if (discardTrailingNewline) {
        if (buffer[position] === 10) lineStart = ++position;
        discardTrailingNewline = false;
      }
      let lineEnd = -1;
      for (; position < buffer.length && lineEnd === -1; ++position) {
        const c = buffer[position];
        if (c === 58 && fieldLength === -1) fieldLength = position - lineStart;
        else if (c === 13 || c === 10) {
          discardTrailingNewline = c === 13;
          lineEnd = position;
        }
      }
      if (lineEnd === -1) break;
      onLine(buffer.subarray(lineStart, lineEnd), fieldLength);
      lineStart = position;
      fieldLength = -1;
    }
    if (lineStart === buffer.length) buffer = undefined;
    else if (lineStart !== 0) {
      buffer = buffer.subarray(lineStart);
      position -= lineStart;
    }
  }
  return out;
}

/** The error the OpenAI SDK raises for an error payload (APIError carries the server's error object). */
export class SdkApiError extends Error {
  constructor(readonly error: unknown) {
    super(typeof error === 'object' && error && 'message' in error ? String((error as { message: unknown }).message) : 'API error');
  }
}

/** Lines split at CR, LF or CRLF (the SDK's LineDecoder), then its SSEDecoder. */
async function* sdkFrames(res: Response): AsyncGenerator<{ event: string | null; data: string }> {
  const decoder = new TextDecoder();
  let text = '';
  let event: string | null = null;
  let data: string[] = [];
  const decode = (line: string) => {
    if (!line) {
      if (!event && !data.length) return null;
      const sse = { event, data: data.join('\n') };
      event = null;
      data = [];
      return sse;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') event = value;
    else if (name === 'data') data.push(value);
    return null;
  };
  const flushLines = function* (final: boolean) {
    let m: RegExpExecArray | null;
    const re = /\r\n|\r|\n/g;
    let start = 0;
    while ((m = re.exec(text))) {
      // A CR at the very end may be half of a CRLF still to come.
      if (m[0] === '\r' && m.index === text.length - 1 && !final) break;
      const sse = decode(text.slice(start, m.index));
      start = m.index + m[0].length;
      if (sse) yield sse;
    }
    text = text.slice(start);
  };
  for await (const chunk of chunks(res)) {
    text += decoder.decode(chunk, { stream: true });
    yield* flushLines(false);
  }
  text += '\n';
  yield* flushLines(true);
}

/** What `for await (const chunk of stream)` gives an OpenAI SDK user; throws SdkApiError as the SDK does. */
export async function* openAiSdkStream(res: Response): AsyncGenerator<Record<string, unknown>> {
  for await (const sse of sdkFrames(res)) {
    if (sse.data === '[DONE]') return;
    const data = JSON.parse(sse.data) as Record<string, unknown> | null;
    if (sse.event?.startsWith('thread.')) continue;
    if (sse.event === 'error') throw new SdkApiError(data?.error ?? data);
    if (data?.error) throw new SdkApiError(data.error);
    yield data ?? {};
  }
}

/** str.splitlines' line boundaries (Python), besides CR, LF and CRLF. */
const PY_LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

/**
 * The frames of a Python client reading text lines the universal way: `event: ` and `data: ` lines,
 * a blank line dispatches; a `data:` line that is not JSON is skipped, as such clients do with a
 * try/except around json.loads. `skipped` counts those.
 */
export async function splitlinesSse(res: Response): Promise<{ frames: { event: string; data: Record<string, unknown> }[]; skipped: number }> {
  const lines = (await res.text()).split(PY_LINE_BREAK);
  const frames: { event: string; data: Record<string, unknown> }[] = [];
  let skipped = 0;
  let event = 'message';
  for (const line of lines) {
    if (line === '') event = 'message';
    else if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) {
      try {
        frames.push({ event, data: JSON.parse(line.slice(6)) });
      } catch {
        skipped++;
      }
    }
  }
  return { frames, skipped };
}

/** What Hermes Workspace's streamChat passes to its onEvent callback. */
export async function workspaceStream(res: Response): Promise<{ event: string; data: Record<string, unknown> }[]> {
  const out: { event: string; data: Record<string, unknown> }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  let currentEvent = '';
  for await (const value of chunks(res)) {
    buffer += decoder.decode(value, { stream: true });
    const lines = buffer.split('\n');
    buffer = lines.pop() || '';
    for (const line of lines) {
      if (line.startsWith('event: ')) currentEvent = line.slice(7).trim();
      else if (line.startsWith('data: ')) {
        const dataStr = line.slice(6);
        if (dataStr === '[DONE]') continue;
        try {
          out.push({ event: currentEvent || 'message', data: JSON.parse(dataStr) });
        } catch {
          // skipped, as Workspace does
        }
      }
    }
  }
  return out;
}
