// Server-sent events from the admin API (GET /api/events, with the bearer token): a parser for the wire format
// (https://html.spec.whatwg.org/multipage/server-sent-events.html: `event:`, `data:`, `id:`, comments, any line
// ending, chunks split anywhere), and one stream read over undici as an async sequence of events.
import { Agent, request } from 'undici';
import { answerError, authorization, parseAnswer, unreachable, type AdminTarget } from './admin-client.ts';

export interface SseEvent {
  /** the `event:` name; `message` when the frame had none */
  type: string;
  /** the `data:` lines joined with newlines */
  data: string;
  /** the last `id:` seen on the stream, or null */
  id: string | null;
}

/** How long the CLI waits to connect to the admin API, and for the stream's answer head. */
const CONNECT_TIMEOUT_MS = 5_000;
const HEADERS_TIMEOUT_MS = 10_000;

/** The wire format, fed chunks as they arrive; each feed returns the events whose blank line it completed. */
export class SseParser {
  #partial = '';
  #type = '';
  #data: string[] = [];
  #id: string | null = null;

  feed(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    let text = this.#partial + chunk;
    // a CR at the very end may be the first half of a CRLF split across chunks: keep it for the next one
    const heldCr = text.endsWith('\r');
    if (heldCr) text = text.slice(0, -1);
    const lines = text.split(/\r\n|\r|\n/);
    this.#partial = lines.pop()! + (heldCr ? '\r' : '');
    for (const line of lines) this.#line(line, out);
    return out;
  }

  #line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.#data.length > 0) out.push({ type: this.#type || 'message', data: this.#data.join('\n'), id: this.#id });
      this.#type = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#type = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
  }
}

export interface StreamOptions {
  signal: AbortSignal;
  /** called once the stream has answered 200 */
  onOpen?: () => void;
  /** an event type the server sends regularly (baton: `stats`, every second): once one has come, this long
   *  without any data counts as a dropped stream (a peer gone without closing the connection) */
  heartbeat?: { type: string; idleMs: number };
}

/** The events of one stream, until it ends (the server closed it: the sequence just ends) or fails (thrown).
 *  Not reachable or a status other than 200: an AdminCallError, as `call` throws. */
export async function* sseEvents(target: AdminTarget, path: string, opts: StreamOptions): AsyncGenerator<SseEvent> {
  const dispatcher = new Agent({
    connectTimeout: CONNECT_TIMEOUT_MS,
    headersTimeout: HEADERS_TIMEOUT_MS,
    bodyTimeout: 0, // a quiet stream is not an error in itself
  });
  let idle: NodeJS.Timeout | undefined;
  try {
    let res;
    try {
      res = await request(target.url + path, {
        method: 'GET',
        headers: { accept: 'text/event-stream', ...authorization(target) },
        dispatcher,
        signal: opts.signal,
      });
    } catch (err) {
      if (opts.signal.aborted) throw opts.signal.reason;
      throw unreachable(target, err);
    }
    if (res.statusCode !== 200) throw answerError(res.statusCode, parseAnswer(await res.body.text()));
    opts.onOpen?.();
    const body = res.body;
    let beating = false;
    const watch = () => {
      clearTimeout(idle);
      if (beating && opts.heartbeat !== undefined) {
        const ms = opts.heartbeat.idleMs;
        idle = setTimeout(() => body.destroy(new Error(`no event for ${ms / 1000} s`)), ms);
      }
    };
    const parser = new SseParser();
    body.setEncoding('utf8');
    for await (const chunk of body as AsyncIterable<string>) {
      for (const event of parser.feed(chunk)) {
        if (event.type === opts.heartbeat?.type) beating = true;
        yield event;
      }
      watch();
    }
  } finally {
    clearTimeout(idle);
    // destroy, not close: a stream left before its end (the consumer stopped) is still open, and close would
    // wait for it
    void dispatcher.destroy();
  }
}
