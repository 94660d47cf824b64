// Forwarding one request to an upstream over its undici pool, with the retry rules of docs/reliability.md:
//
//   - nothing reached the upstream (connect refused / timed out, never written)   → retry, any method
//   - reset or EOF after the request was written, before any response byte        → retry idempotent methods
//     whose body (if any) was never streamed
//   - once a response byte went to the client, after a 101, or with a streamed body → never
//
// Retries go to a different upstream when one is ready (the same one only if it is the only one left), and are
// bounded by the service's `retries` count and `retryBudget` deadline. One Forward object is the undici
// dispatch handler for every attempt: no per-request closures on the hot path.
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { BodyTooLargeError } from '../errors.ts';
import type { Service } from '../upstream/service.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { clientResponseHeaders } from './headers.ts';
import { sendPage } from './pages.ts';

/** What a Forward needs from its entrypoint (logging, limits, shutdown state). */
export interface ForwardHost {
  readonly maxBodySize: number;
  /** true while baton is shutting down: responses carry Connection: close */
  readonly closing: boolean;
  requestDone(f: Forward): void;
}

export class BatonRequest extends IncomingMessage {}

export class BatonResponse extends ServerResponse<BatonRequest> {
  fwd: Forward | null = null;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Errors meaning the connection failed under a written request (before any response): retry-safe for
 *  idempotent methods. Timeouts are not in this list: a slow upstream is not retried. */
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'BATON_DRAIN_TIMEOUT']);

class ClientGoneError extends Error {
  code = 'BATON_CLIENT_GONE';
}

function onResponseClose(this: BatonResponse): void {
  const f = this.fwd;
  if (f !== null) f.clientClosed();
}

function onResponseDrain(this: BatonResponse): void {
  const f = this.fwd;
  if (f !== null) f.clientDrained();
}

async function* streamBody(f: Forward, req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  f.bodyStarted = true;
  let total = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new BodyTooLargeError(limit);
    yield chunk;
  }
}

export class Forward implements Dispatcher.DispatchHandler {
  readonly req: BatonRequest;
  readonly res: BatonResponse;
  readonly service: Service;
  readonly host: ForwardHost;
  readonly method: string;
  /** path + query sent upstream */
  readonly path: string;
  readonly headers: string[];
  readonly hasBody: boolean;
  readonly started: number;

  upstream: Upstream | null = null;
  retries = 0;
  status = 0;
  /** stable reason for a response baton made itself (x-baton-error), or for a failure */
  error: string | null = null;
  bodyStarted = false;
  done = false;

  #controller: Dispatcher.DispatchController | null = null;
  #holding = false;
  #requestStarted = false;
  #responseStarted = false;
  #clientGone = false;
  #waitingDrain = false;
  #deadline: number;

  constructor(req: BatonRequest, res: BatonResponse, service: Service, host: ForwardHost, path: string, headers: string[], hasBody: boolean) {
    this.req = req;
    this.res = res;
    this.service = service;
    this.host = host;
    this.method = req.method!;
    this.path = path;
    this.headers = headers;
    this.hasBody = hasBody;
    this.started = performance.now();
    this.#deadline = Date.now() + service.options.retryBudget;
    res.fwd = this;
    res.on('close', onResponseClose);
  }

  /** First attempt. */
  start(): void {
    const u = this.service.pick(null);
    if (u === null) {
      this.service.unavailable++;
      this.#fail(503, 'no_healthy_upstream', 'The service has no healthy upstream right now.');
      return;
    }
    this.#dispatch(u);
  }

  #dispatch(u: Upstream): void {
    this.upstream = u;
    this.#controller = null;
    this.#requestStarted = false;
    u.acquire();
    this.#holding = true;
    if (!this.service.options.passHostHeader) {
      const h = this.headers;
      for (let i = h.length - 2; i >= 0; i -= 2) {
        if (h[i] === 'host') {
          h[i + 1] = u.host;
          break;
        }
      }
    }
    try {
      u.pool!.dispatch(
        {
          path: this.path,
          method: this.method,
          headers: this.headers,
          // undici accepts async iterables here (its typings only list streams)
          body: this.hasBody ? (streamBody(this, this.req, this.host.maxBodySize) as unknown as Dispatcher.DispatchOptions['body']) : null,
        },
        this,
      );
    } catch (err) {
      this.onResponseError(null, err as Error);
    }
  }

  #release(): void {
    if (this.#holding) {
      this.#holding = false;
      this.upstream!.release();
    }
  }

  // ── undici handler ──────────────────────────────────────────────────────────────────────────────

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    this.#requestStarted = true;
    if (this.#clientGone) controller.abort(new ClientGoneError('client closed the connection'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200 || this.done) return; // 1xx informational answers are not relayed
    this.#responseStarted = true;
    this.status = statusCode;
    const u = this.upstream!;
    if (statusCode >= 500) this.service.reportFailure(u);
    else this.service.reportSuccess(u);
    const list = clientResponseHeaders(headers);
    // Only a stopping baton closes client connections. A draining upstream's responses keep the client's
    // connection open: it is not tied to that upstream (the next request is balanced afresh), and closing it would
    // make clients that reuse the socket at that moment lose a request. The upstream side closes: its pool was
    // closed when the drain began, so each of its sockets is shut as soon as its response completes.
    if (this.host.closing) list.push('connection', 'close');
    try {
      this.res.writeHead(statusCode, list);
    } catch {
      // a header value Node refuses to send (the upstream's fault)
      this.#responseStarted = false;
      controller.abort(Object.assign(new Error('upstream sent a header that cannot be relayed'), { code: 'BATON_BAD_UPSTREAM_HEADER' }));
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    if (!this.res.write(chunk)) {
      controller.pause();
      if (!this.#waitingDrain) {
        this.#waitingDrain = true;
        this.res.once('drain', onResponseDrain);
      }
    }
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.res.end();
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.done) return;
    const u = this.upstream!;
    this.#release();
    const code = (err as { code?: string }).code ?? '';

    if (this.#clientGone) {
      this.status = 499;
      this.error = 'client_closed';
      this.#finish();
      return;
    }
    if (this.#responseStarted) {
      // Truncation: the client must see it promptly. Never retried.
      this.error = TIMEOUT_CODES.has(code) ? 'upstream_timeout' : 'upstream_reset';
      this.service.reportFailure(u);
      this.res.destroy();
      this.#finish();
      return;
    }
    if (err instanceof BodyTooLargeError) {
      this.#fail(413, 'body_too_large', `The request body is larger than ${this.host.maxBodySize} bytes.`);
      return;
    }
    if (code === 'BATON_DRAIN_TIMEOUT') {
      this.#fail(504, 'drain_timeout', 'The upstream was taken out of service before it answered.');
      return;
    }
    if (code === 'BATON_BAD_UPSTREAM_HEADER' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code.startsWith('HPE_') || err.name === 'HTTPParserError') {
      this.service.reportFailure(u);
      this.#fail(502, 'upstream_bad_response', 'The upstream sent a malformed response.');
      return;
    }

    this.service.reportFailure(u);
    const nothingSent = !this.#requestStarted;
    const retryable =
      this.retries < this.service.options.retries &&
      Date.now() < this.#deadline &&
      (nothingSent || (IDEMPOTENT.has(this.method) && !this.bodyStarted && RESET_CODES.has(code)));
    if (retryable) {
      const next = this.service.pick(u) ?? this.service.pick(null);
      if (next !== null) {
        this.retries++;
        this.#dispatch(next);
        return;
      }
    }
    if (code === 'UND_ERR_CONNECT_TIMEOUT') this.#fail(504, 'upstream_connect_timeout', 'The upstream did not accept the connection in time.');
    else if (TIMEOUT_CODES.has(code)) this.#fail(504, 'upstream_timeout', 'The upstream did not answer in time.');
    else if (nothingSent) this.#fail(502, 'upstream_unreachable', 'The upstream could not be reached.');
    else this.#fail(502, 'upstream_reset', 'The upstream closed the connection without answering.');
  }

  // ── client side ─────────────────────────────────────────────────────────────────────────────────

  clientClosed(): void {
    if (this.done) return;
    if (this.res.writableFinished) return;
    this.#clientGone = true;
    if (this.#controller !== null) {
      this.#controller.abort(new ClientGoneError('client closed the connection'));
    }
    if (!this.done) {
      // still queued in the pool (no controller yet): account for it now; the abort happens at start
      this.#release();
      this.status = 499;
      this.error = 'client_closed';
      this.#finish();
    }
  }

  clientDrained(): void {
    this.#waitingDrain = false;
    this.#controller?.resume();
  }

  #fail(status: number, code: string, detail: string): void {
    this.status = status;
    this.error = code;
    const res = this.res;
    if (!res.headersSent && !res.destroyed) {
      // An unread request body is not drained: close the connection instead.
      const close = this.host.closing || (this.hasBody && !this.req.complete);
      sendPage(res, status, code, detail, close);
    } else {
      res.destroy();
    }
    this.#finish();
  }

  #finish(): void {
    if (this.done) return;
    this.done = true;
    this.#release();
    this.res.fwd = null;
    this.host.requestDone(this);
  }
}
