// Forwarding one request to an upstream over its undici pool. What a failed attempt leads to (retry, a
// 502/503/504/413 page, truncation, or a 499 for a client gone) is the pure table in retry-policy.ts, which holds
// the retry rules of docs/reliability.md; this file measures the attempt state and carries the decision out.
//
// Retries go to a different upstream when one is ready (the same one only if it is the only one left), and are
// bounded by the service's `retries` count and `retryBudget` deadline. One Forward object is the undici
// dispatch handler for every attempt: no per-request closures on the hot path.
import type { Dispatcher } from 'undici';
import { BadUpstreamHeaderError, BodyTooLargeError, ClientGoneError } from '../errors.ts';
import type { Service } from '../upstream/service.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { ClientRequest, ClientResponse } from './exchange.ts';
import type { Exchange } from './middleware-run.ts';
import { Reply } from './middleware-response.ts';
import { clientResponseHeaders } from './headers.ts';
import { sendPage } from './pages.ts';
import { gate, hold } from './hold-gate.ts';
import { SERVING } from '../upstream/service.ts';
import { steer } from './steer.ts';
import {
  type Answer,
  type AttemptState,
  answerDetail,
  BODY_STREAMED,
  BUDGET_LEFT,
  classifyError,
  CLIENT_GONE,
  decide,
  IDEMPOTENT,
  isIdempotent,
  HOLD_TIMEOUT,
  NO_HEALTHY_UPSTREAM,
  RESPONSE_STARTED,
  RETRIES_LEFT,
  WRITTEN,
} from './retry-policy.ts';

/** What a Forward needs from its entrypoint (logging, limits, shutdown state). */
export interface ForwardHost {
  readonly maxBodySize: number;
  /** true while baton is shutting down: responses carry Connection: close */
  readonly closing: boolean;
  requestDone(f: Forward): void;
}

function onResponseClose(this: ClientResponse): void {
  const f = this.fwd;
  if (f !== null) f.clientClosed();
}

function onResponseDrain(this: ClientResponse): void {
  const f = this.fwd;
  if (f !== null) f.clientDrained();
}

/** undici accepts async iterables as a body (its typings only list streams) */
type Body = Dispatcher.DispatchOptions['body'];

async function* streamBody(f: Forward, req: ClientRequest, limit: number): AsyncGenerator<Buffer> {
  f.bodyStarted = true;
  let total = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new BodyTooLargeError(limit);
    yield chunk;
  }
}

export class Forward implements Dispatcher.DispatchHandler {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  readonly service: Service;
  readonly host: ForwardHost;
  readonly method: string;
  /** path + query sent upstream */
  readonly path: string;
  readonly headers: string[];
  readonly hasBody: boolean;
  readonly started: number;
  /** the route's middlewares, for this request (null: none) */
  readonly mw: Exchange | null;

  upstream: Upstream | null = null;
  retries = 0;
  status = 0;
  /** stable reason for a response baton made itself (x-baton-error), or for a failure */
  error: string | null = null;
  bodyStarted = false;
  done = false;
  /** response body bytes received from the upstream (the access log's CLF size) */
  bytes = 0;
  /** a steered service's generation for this request (steer.ts), and the Set-Cookie its response carries */
  generation: string | null = null;
  setCookie: string | null = null;

  #controller: Dispatcher.DispatchController | null = null;
  #holding = false;
  #requestStarted = false;
  #responseStarted = false;
  #clientGone = false;
  #waitingDrain = false;
  #deadline: number;
  #maxRetries: number;
  /** the middlewares' reply carries the upstream body (middleware-response.ts) */
  #replyBody = false;
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(
    req: ClientRequest,
    res: ClientResponse,
    service: Service,
    host: ForwardHost,
    path: string,
    headers: string[],
    hasBody: boolean,
    mw: Exchange | null = null,
  ) {
    this.req = req;
    this.res = res;
    this.service = service;
    this.host = host;
    this.method = req.method!;
    this.path = path;
    this.headers = headers;
    this.hasBody = hasBody;
    this.started = performance.now();
    this.mw = mw;
    const attempts = mw === null ? -1 : mw.retryAttempts;
    this.#maxRetries = attempts >= 0 ? attempts : service.options.retries;
    // the retry middleware's attempts (and waits) bound its retries, not the service's budget
    this.#deadline = attempts >= 0 ? Infinity : Date.now() + service.options.retryBudget;
    res.fwd = this;
    res.on('close', onResponseClose);
  }

  /** First attempt (`fromHold`: a held request's turn, src/proxy/hold-gate.ts). */
  start(fromHold = false): void {
    const s = this.service;
    if (s.mode !== SERVING && gate(this, fromHold)) return;
    const preferred = this.mw?.preferred ?? null;
    const u = preferred !== null && preferred.takesTraffic ? preferred : s.steered ? steer(this) : s.pick(null);
    if (u === null) {
      if (!fromHold && s.holdsWhenEmpty && hold(this)) return;
      s.unavailable++;
      this.#fail(NO_HEALTHY_UPSTREAM);
      return;
    }
    this.#dispatch(u);
  }

  /** Holdable: a held request's turn. */
  released(): void {
    if (this.done) return;
    if (this.#deadline !== Infinity) this.#deadline = Date.now() + this.service.options.retryBudget; // not the wait
    this.start(true);
  }

  /** Holdable: held past the hold timeout. */
  expired(): void {
    if (!this.done) this.#fail(HOLD_TIMEOUT);
  }

  /** Answers with a page of baton's (hold-gate.ts: the hold is full). */
  refuse(a: Answer): void {
    this.#fail(a);
  }

  /** Answered by the caller itself (hold-gate.ts: the maintenance page), counted as `a`. */
  answered(a: Answer): void {
    this.status = a.status;
    this.error = a.code;
    this.#finish();
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
    const buffered = this.mw?.body ?? null;
    const body =
      buffered !== null
        ? buffered.length > 0
          ? buffered
          : null
        : this.hasBody
          ? (streamBody(this, this.req, this.host.maxBodySize) as unknown as Body)
          : null;
    try {
      u.pool!.dispatch({ path: this.path, method: this.method, headers: this.headers, body }, this);
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
    // The client left while this waited in the pool: thrown, not aborted — undici then fails the request before
    // writing it and keeps the pooled socket, where an abort would destroy it (a mass disconnect would cost a new
    // upstream connection per queued request, and stall the clients that come next).
    if (this.#clientGone) throw new ClientGoneError();
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
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
    if (this.host.closing && !this.res.h2) list.push('connection', 'close');
    if (this.setCookie !== null) list.push('set-cookie', this.setCookie);
    if (this.mw !== null && this.mw.responseHooks) {
      this.#replyBody = Reply.upstream(this.mw, this, controller, statusCode, list);
      return;
    }
    try {
      this.res.writeHead(statusCode, list);
    } catch {
      // a header value Node refuses to send (the upstream's fault)
      this.#responseStarted = false;
      controller.abort(new BadUpstreamHeaderError());
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    this.bytes += chunk.length;
    if (this.#replyBody) return this.mw!.reply!.data(controller, chunk);
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
    if (this.#replyBody) return this.mw!.reply!.end();
    this.res.end();
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.done) return;
    const u = this.upstream!;
    this.#release();
    if ((err as { code?: string }).code === 'BATON_RESPONSE_REPLACED') return; // a middleware answers instead
    const kind = this.#clientGone ? 'client_gone' : classifyError((err as { code?: string }).code ?? '', err.name);
    const d = decide(kind, this.#attemptState());
    if (d.report) this.service.reportFailure(u);
    switch (d.kind) {
      case 'client_gone':
        this.#clientGoneDone();
        return;
      case 'truncate':
        // the client must see the truncation promptly
        this.error = d.code;
        this.res.destroy();
        this.#finish();
        return;
      case 'retry': {
        const wait = this.mw === null ? 0 : this.mw.retryInterval * 2 ** this.retries;
        if (wait > 0) {
          this.#retryTimer = setTimeout(() => this.#retry(u, d.otherwise), Math.min(wait, 10_000));
          return;
        }
        this.#retry(u, d.otherwise);
        return;
      }
      case 'answer':
        this.#fail(d);
    }
  }

  #retry(failed: Upstream, otherwise: Answer): void {
    this.#retryTimer = null;
    const next = this.service.pick(failed, this.generation) ?? this.service.pick(null, this.generation);
    if (next === null) {
      this.#fail(otherwise);
      return;
    }
    this.retries++;
    this.#dispatch(next);
  }

  #attemptState(): AttemptState {
    return (
      (this.#requestStarted ? WRITTEN : 0) |
      (this.bodyStarted ? BODY_STREAMED : 0) |
      (this.#responseStarted ? RESPONSE_STARTED : 0) |
      (isIdempotent(this.method) ? IDEMPOTENT : 0) |
      (this.retries < this.#maxRetries ? RETRIES_LEFT : 0) |
      (Date.now() < this.#deadline ? BUDGET_LEFT : 0)
    );
  }

  // ── client side ─────────────────────────────────────────────────────────────────────────────────

  clientClosed(): void {
    if (this.done) return;
    // (an HTTP/2 response reports itself finished once its stream closed, however it closed)
    if (!this.res.h2 && this.res.writableFinished) return;
    this.#clientGone = true;
    this.service.held?.remove(this);
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    if (this.#controller !== null) {
      this.#controller.abort(new ClientGoneError());
    }
    if (!this.done) {
      // still queued in the pool (no controller yet): account for it now; the abort happens at start
      this.#release();
      this.#clientGoneDone();
    }
  }

  #clientGoneDone(): void {
    this.status = CLIENT_GONE.status;
    this.error = CLIENT_GONE.code;
    this.#finish();
  }

  clientDrained(): void {
    this.#waitingDrain = false;
    this.#controller?.resume();
  }

  #fail(a: Answer): void {
    this.status = a.status;
    this.error = a.code;
    const res = this.res;
    if (!res.headersSent && !res.destroyed) {
      // An unread request body is not drained: close the connection instead.
      const close = this.host.closing || (this.hasBody && !this.req.complete);
      if (this.mw !== null && this.mw.responseHooks) {
        Reply.forwardPage(this.mw, this, a.status, a.code, answerDetail(a, this.host.maxBodySize), close);
        return;
      }
      sendPage(res, this.method, a.status, a.code, answerDetail(a, this.host.maxBodySize), close, a.retryAfter);
    } else {
      res.destroy();
    }
    this.#finish();
  }

  /** The middlewares' reply is over (middleware-response.ts). */
  complete(): void {
    this.#finish();
  }

  #finish(): void {
    if (this.done) return;
    this.done = true;
    this.#release();
    this.res.fwd = null;
    this.mw?.finished();
    this.host.requestDone(this);
  }
}
