// The response of a request on a route with middlewares: the onResponse hooks in reverse order, on the upstream's
// response, on an answer a middleware made, or on baton's own error page; then the head and the body, through a
// middleware's body transform (compress) when one was set — the head is written at the transform's first output,
// so a transform that fails before it becomes a 500 — or replaced by another service's page (errors middleware).
import type { Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import { isThenable } from '../async.ts';
import { ResponseReplacedError } from '../errors.ts';
import type { ResponseContext } from '../middleware/api.ts';
import type { Link } from '../middleware/compile.ts';
import type { Service } from '../upstream/service.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { ClientRequest, ClientResponse } from './exchange.ts';
import type { Forward } from './forward.ts';
import { FlatHeaders } from './header-map.ts';
import { clientResponseHeaders } from './headers.ts';
import type { Exchange } from './middleware-run.ts';
import { pageOf } from './pages.ts';

export interface ReplyHost {
  readonly closing: boolean;
  /** logs an answer that was not forwarded, and counts the request as over */
  answered(req: ClientRequest, status: number, code: string, service: Service | null): void;
}

class Response implements ResponseContext {
  status: number;
  readonly headers: FlatHeaders;
  readonly error: string | null;
  readonly hasBody: boolean;
  /** the first transform (nearest the upstream); the body leaves through the last of `transforms` */
  transform: Transform | null = null;
  readonly transforms: Transform[] = [];
  replacement: { upstream: Upstream; path: string; headers: readonly string[] | undefined } | null = null;
  readonly #x: Exchange;

  constructor(x: Exchange, status: number, list: string[], error: string | null) {
    this.#x = x;
    this.status = status;
    this.headers = new FlatHeaders(list);
    this.error = error;
    this.hasBody = x.method !== 'HEAD' && status !== 204 && status !== 304;
  }

  transformBody(t: Transform): void {
    if (!this.hasBody) return;
    // hooks run from the upstream's side out: a transform set later takes the output of the ones set before it
    this.transforms.at(-1)?.pipe(t);
    this.transforms.push(t);
    this.transform ??= t;
  }

  replaceWith(service: string, path: string, opts: { status?: number; headers?: readonly string[] } = {}): boolean {
    const u = this.#x.ep.service(service)?.pick(null) ?? null;
    if (u === null || !path.startsWith('/') || /[\s#]/.test(path)) return false;
    if (opts.status !== undefined && Number.isInteger(opts.status) && opts.status >= 200 && opts.status <= 599) {
      this.status = opts.status;
    }
    this.replacement = { upstream: u, path, headers: opts.headers };
    return true;
  }
}

/** The error page request's headers: the request's (or only those `only` names), Host always; never its framing. */
function pageRequestHeaders(list: readonly string[], only: readonly string[] | undefined): string[] {
  const keep = only?.map((h) => h.toLowerCase());
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const n = list[i].toLowerCase();
    if (n === 'content-length' || n === 'transfer-encoding') continue;
    if (n === 'host' || keep === undefined || keep.includes(n)) out.push(list[i], list[i + 1]);
  }
  return out;
}

/** Resolves when `res` drains or `signal` aborts (the client left: no drain will come). */
function drained(res: ClientResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      res.removeListener('drain', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class Reply {
  readonly #x: Exchange;
  readonly #r: Response;
  readonly #fwd: Forward | null;
  readonly #res: ClientResponse;
  #controller: Dispatcher.DispatchController | null = null;
  /** the upstream body goes through this reply (async hooks, a transform, a replacement) */
  takesBody = false;
  #queued: Buffer[] | null = null;
  #decided = false;
  #ended = false;
  #headSent = false;
  #over = false;
  #abort: AbortController | null = null;

  private constructor(x: Exchange, r: Response, fwd: Forward | null) {
    this.#x = x;
    this.#r = r;
    this.#fwd = fwd;
    this.#res = x.res!;
    x.reply = this;
  }

  /** An answer a middleware made (or baton's page before any forward): hooks, then sent. A request body nobody
   *  read closes the connection after it (HTTP/1.1), as baton's own pages do. */
  static own(x: Exchange, status: number, list: string[], body: Buffer, error: string): void {
    const res = x.res!;
    if (!res.h2 && (x.ep.closing || (x.hasBody && x.body === null && !x.req.complete))) {
      list.push('connection', 'close');
    }
    const reply = new Reply(x, new Response(x, status, list, error), null);
    if (res.destroyed) return reply.#done(499);
    reply.#hooks(x.ran - 1, () => reply.#sendBuffer(body));
  }

  /** baton's own page before forwarding (413, 500 plugin_error). */
  static page(x: Exchange, status: number, code: string, detail: string): void {
    const p = pageOf(status, code, detail, false); // own() adds Connection: close when it is needed
    Reply.own(x, status, p.list, p.body, code);
  }

  /** Forward's error page (502/503/504/413 ...): hooks see it with `error` set to its code. */
  static forwardPage(x: Exchange, f: Forward, status: number, code: string, detail: string, close: boolean): void {
    const p = pageOf(status, code, detail, close && !x.res!.h2);
    const reply = new Reply(x, new Response(x, status, p.list, code), f);
    reply.#hooks(x.ran - 1, () => reply.#sendBuffer(p.body));
  }

  /** The upstream's response head. True: this reply takes the body (Forward passes it on); false: Forward writes
   *  the body itself (the head was written here, synchronously). */
  static upstream(x: Exchange, f: Forward, c: Dispatcher.DispatchController, status: number, list: string[]): boolean {
    const reply = new Reply(x, new Response(x, status, list, null), f);
    reply.#controller = c;
    reply.#hooks(x.ran - 1, () => reply.#decide());
    if (!reply.#decided && !reply.#over) {
      // a hook is still running: hold the body until it is done
      reply.takesBody = true;
      reply.#queued = [];
      c.pause();
    }
    return reply.takesBody;
  }

  /** The hooks are done: replace, transform, or write the head. */
  #decide(): void {
    this.#decided = true;
    const r = this.#r;
    const c = this.#controller!;
    if (r.replacement !== null) {
      this.takesBody = true;
      this.#queued = null;
      c.abort(new ResponseReplacedError());
      this.#replace();
      return;
    }
    if (r.transform !== null) {
      this.takesBody = true;
      this.#pipeTransform(r.transform);
    } else if (!this.#writeHead()) {
      return;
    }
    if (this.#queued !== null) this.#flushQueued();
  }

  // ── hooks ────────────────────────────────────────────────────────────────────────────────────────

  #hooks(i: number, then: () => void): void {
    const links = this.#x.links;
    for (; i >= 0; i--) {
      const link = links[i];
      if (link.handler.onResponse === undefined) continue;
      let r: void | Promise<void>;
      try {
        r = link.handler.onResponse(this.#x, this.#r);
      } catch (err) {
        return this.#hookFailed(link, err);
      }
      if (isThenable(r)) {
        const next = i - 1;
        r.then(
          () => this.#hooks(next, then),
          (err: unknown) => this.#hookFailed(link, err),
        );
        return;
      }
    }
    then();
  }

  #hookFailed(link: Link, err: unknown): void {
    this.#controller?.abort(new ResponseReplacedError());
    this.#x.logFailure(link, err);
    const res = this.#res;
    if (!res.headersSent && !res.destroyed) this.#writeRaw(500, 'plugin_error');
    else res.destroy();
    this.#done(500);
  }

  #writeRaw(status: number, code: string): void {
    const p = pageOf(status, code, 'A middleware failed while handling this response.', this.#x.ep.closing);
    p.list.push('content-length', String(p.body.length));
    this.#res.writeHead(status, p.list);
    this.#res.end(this.#x.method === 'HEAD' ? undefined : p.body);
  }

  // ── sending ──────────────────────────────────────────────────────────────────────────────────────

  /** Writes the head once; false when it could not be (a header value Node refuses: a 502 was sent instead). */
  #writeHead(): boolean {
    if (this.#headSent) return !this.#over;
    this.#headSent = true;
    const status = this.#r.status;
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      // a middleware set a status no response can have
      this.#controller?.abort(new ResponseReplacedError());
      this.#r.status = 500;
      this.#writeRaw(500, 'plugin_error');
      this.#done(500);
      return false;
    }
    if (this.#fwd !== null) this.#fwd.status = status;
    try {
      this.#res.writeHead(this.#r.status, this.#r.headers.list);
      return true;
    } catch {
      this.#controller?.abort(new ResponseReplacedError());
      this.#writeRaw(502, 'bad_upstream_header');
      this.#done(502);
      return false;
    }
  }

  #sendBuffer(body: Buffer): void {
    const r = this.#r;
    if (r.replacement !== null) return this.#replace();
    if (r.transform !== null) {
      this.#pipeTransform(r.transform);
      r.transform.end(body);
      return;
    }
    r.headers.delete('content-length');
    if (r.hasBody) r.headers.list.push('content-length', String(body.length));
    if (!this.#writeHead()) return;
    this.#res.end(r.hasBody ? body : undefined);
    this.#done(r.status);
  }

  /** The body (from the upstream, a buffer or a replacement page) → transform → client, head at first output. */
  #pipeTransform(first: Transform): void {
    const res = this.#res;
    const t = this.#r.transforms.at(-1)!;
    t.on('data', (chunk: Buffer) => {
      if (!this.#writeHead()) return void t.destroy();
      if (!res.write(chunk)) {
        t.pause();
        res.once('drain', () => t.resume());
      }
    });
    first.on('drain', () => this.#controller?.resume());
    t.once('end', () => {
      if (!this.#writeHead()) return;
      res.end();
      this.#done(this.#r.status);
    });
    const failed = () => {
      if (this.#over) return;
      this.#controller?.abort(new ResponseReplacedError());
      if (!this.#headSent && !res.destroyed) this.#writeRaw(500, 'middleware_body');
      else res.destroy();
      this.#done(this.#headSent ? this.#r.status : 500);
      this.close();
    };
    for (const one of this.#r.transforms) one.once('error', failed);
  }

  /** Forward: a chunk of the upstream body. */
  data(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#queued !== null) {
      this.#queued.push(chunk);
      return;
    }
    if (this.#r.replacement !== null) return;
    if (!this.#pass(chunk)) c.pause();
  }

  /** A body chunk to the transform or the client; false: wait (the drain resumes the upstream). */
  #pass(chunk: Buffer): boolean {
    const t = this.#r.transform;
    if (t !== null) return t.write(chunk);
    if (this.#res.write(chunk)) return true;
    this.#res.once('drain', () => this.#controller?.resume());
    return false;
  }

  /** Forward: the upstream body ended. */
  end(): void {
    if (this.#queued !== null) {
      this.#ended = true;
      return;
    }
    if (this.#r.replacement !== null) return;
    if (this.#r.transform !== null) this.#r.transform.end();
    else {
      this.#res.end();
      this.#done(this.#r.status);
    }
  }

  #flushQueued(): void {
    const q = this.#queued!;
    this.#queued = null;
    let more = true;
    for (const chunk of q) more = this.#pass(chunk);
    if (this.#ended) this.end();
    else if (more) this.#controller!.resume();
  }

  /** The errors middleware: GET the page from the other service; the status stays. */
  #replace(): void {
    const { upstream: u, path, headers: only } = this.#r.replacement!;
    const x = this.#x;
    const abort = (this.#abort = new AbortController());
    u.acquire();
    const headers = pageRequestHeaders(x.headers.list, only);
    u.pool!.request({ path, method: 'GET', headers, signal: abort.signal }).then(
      async (page) => {
        const list = clientResponseHeaders(page.headers);
        const r = this.#r;
        r.headers.list.length = 0;
        for (let i = 0; i < list.length; i += 2) {
          if (list[i] !== 'content-length' || r.hasBody) r.headers.list.push(list[i], list[i + 1]);
        }
        if (!this.#writeHead()) {
          page.body.destroy();
          u.release();
          return;
        }
        const res = this.#res;
        try {
          for await (const chunk of page.body as AsyncIterable<Buffer>) {
            if (r.hasBody && !res.write(chunk)) await drained(res, abort.signal);
            if (abort.signal.aborted) throw abort.signal.reason;
          }
          res.end();
        } catch {
          res.destroy();
        }
        u.release();
        this.#done(r.status);
      },
      () => {
        u.release();
        const res = this.#res;
        if (res.destroyed) return this.#done(499);
        const p = pageOf(this.#r.status, 'error_page_unavailable', 'The error page could not be fetched.', false);
        p.list.push('content-length', String(p.body.length));
        if (!res.headersSent) res.writeHead(this.#r.status, p.list);
        res.end(x.method === 'HEAD' ? undefined : p.body);
        this.#done(this.#r.status);
      },
    );
  }

  #done(status: number): void {
    if (this.#over) return;
    this.#over = true;
    if (this.#fwd !== null) {
      this.#fwd.status = status;
      this.#fwd.complete();
    } else {
      this.#x.finished();
      this.#x.ep.answered(this.#x.req, status, this.#r.error ?? 'middleware', this.#x.target);
    }
  }

  /** The exchange is over (e.g. the client left): stop what is still running. */
  close(): void {
    this.#abort?.abort();
    for (const t of this.#r.transforms) if (!t.destroyed) t.destroy();
  }
}
