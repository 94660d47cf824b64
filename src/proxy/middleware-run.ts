// A request on a route with middlewares: its RequestContext (middleware/api.ts), the onRequest hooks in order,
// then either the forward (forward.ts, which hands the response back here: middleware-response.ts) or an answer a
// middleware made. Routes without middlewares never create one of these. Hooks run synchronously until one returns
// a promise; a hook that throws answers 500 plugin_error, logged once per burst with the middleware's name.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { isThenable } from '../async.ts';
import { BodyTooLargeError, PluginError } from '../errors.ts';
import type { RequestContext, TlsInfo, UpstreamInfo } from '../middleware/api.ts';
import type { Link } from '../middleware/compile.ts';
import type { Service } from '../upstream/service.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { connInfo } from './connections.ts';
import type { ClientRequest, ClientResponse } from './exchange.ts';
import { Forward, type ForwardHost } from './forward.ts';
import { FlatHeaders } from './header-map.ts';
import { Reply, type ReplyHost } from './middleware-response.ts';
import { pageOf } from './pages.ts';
import type { Upgrades } from './upgrade.ts';

/** What an exchange needs from its entrypoint. */
export interface ExchangeHost extends ForwardHost, ReplyHost {
  readonly name: string;
  readonly log: Logger;
  /** a service by name (useService, the errors middleware) */
  service(name: string): Service | undefined;
}

/** The request as routed: what the entrypoint worked out (entrypoint.ts #prepare). */
export interface Routed {
  req: ClientRequest;
  /** null for a WebSocket upgrade */
  res: ClientResponse | null;
  service: Service;
  links: readonly Link[];
  host: string;
  path: string;
  query: string;
  headers: string[];
  hasBody: boolean;
}

/** Failures of one middleware within this window are logged once. */
const BURST_MS = 10_000;

export class Exchange implements RequestContext {
  readonly method: string;
  readonly host: string;
  path: string;
  query: string;
  readonly headers: FlatHeaders;
  readonly remoteAddr: string;
  readonly scheme: 'http' | 'https';
  readonly tls: TlsInfo | null;
  readonly entrypoint: string;
  readonly startedAt = performance.now();
  readonly req: ClientRequest;
  /** null for a WebSocket upgrade (then `upgrade` is set) */
  readonly res: ClientResponse | null;
  upgrade: { socket: Socket; head: Buffer; via: Upgrades } | null = null;
  readonly links: readonly Link[];
  readonly ep: ExchangeHost;

  /** what Forward reads */
  target: Service;
  preferred: Upstream | null = null;
  body: Buffer | null = null;
  hasBody: boolean;
  retryAttempts = -1;
  retryInterval = 0;
  /** how many links' onRequest ran (their onResponse and onDone run) */
  ran = 0;
  /** some middleware of the route has an onResponse hook: responses go through middleware-response.ts */
  readonly responseHooks: boolean;
  reply: Reply | null = null;

  #trusted: boolean;
  #forwardedFor: string[] | null = null;
  #data: Map<unknown, unknown> | null = null;
  #answer: { status: number; headers: string[]; body: Buffer } | null = null;
  #phase: 'request' | 'forwarded' | 'done' = 'request';
  #over = false;

  constructor(ep: ExchangeHost, r: Routed) {
    this.ep = ep;
    this.req = r.req;
    this.res = r.res;
    this.method = r.req.method!;
    this.host = r.host;
    this.path = r.path;
    this.query = r.query;
    this.headers = new FlatHeaders(r.headers);
    const conn = connInfo(r.req.socket);
    this.remoteAddr = conn.clientIp;
    this.#trusted = conn.trusted;
    this.tls = conn.tls ? { serverName: conn.serverName } : null;
    this.scheme = conn.tls ? 'https' : 'http';
    this.entrypoint = ep.name;
    this.target = r.service;
    this.links = r.links;
    this.hasBody = r.hasBody;
    let hooks = false;
    for (let i = 0; i < r.links.length; i++) if (r.links[i].handler.onResponse !== undefined) hooks = true;
    this.responseHooks = hooks;
  }

  // ── RequestContext ───────────────────────────────────────────────────────────────────────────────

  get service(): string {
    return this.target.name;
  }

  get forwardedFor(): readonly string[] {
    if (this.#forwardedFor === null) {
      const v = this.#trusted ? this.req.headers['x-forwarded-for'] : undefined;
      const all = v === undefined ? [] : (Array.isArray(v) ? v.join(',') : v).split(',');
      this.#forwardedFor = all.map((s) => s.trim()).filter((s) => s !== '');
    }
    return this.#forwardedFor;
  }

  get data(): Map<unknown, unknown> {
    return (this.#data ??= new Map());
  }

  get upstreams(): readonly UpstreamInfo[] {
    return this.target.upstreams
      .filter((u) => u.takesTraffic)
      .map((u) => ({ id: u.id, url: u.url, containerId: u.containerId ?? null, inflight: u.inflight }));
  }

  useUpstream(id: string): void {
    this.preferred = this.target.upstreams.find((u) => u.id === id) ?? null;
  }

  useService(name: string): boolean {
    const s = this.ep.service(name);
    if (s === undefined) return false;
    this.target = s;
    this.preferred = null;
    return true;
  }

  respond(status: number, headers: Record<string, string> = {}, body: string | Buffer = ''): void {
    if (this.#phase !== 'request') return;
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(`respond: status must be 200-599, got ${status}`);
    }
    const list = new FlatHeaders([]);
    for (const [k, v] of Object.entries(headers)) list.append(k, v);
    this.#answer = { status, headers: list.list, body: typeof body === 'string' ? Buffer.from(body) : body };
  }

  async readBody(limit: number): Promise<Buffer> {
    if (this.body !== null) return this.body;
    const max = Math.min(limit, this.ep.maxBodySize);
    const chunks: Buffer[] = [];
    let total = 0;
    if (this.hasBody) {
      // not destroyed when a chunk goes over the limit: the 413 still has to reach the client
      for await (const chunk of this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > max) throw new BodyTooLargeError(max);
        chunks.push(chunk);
      }
    }
    this.body = Buffer.concat(chunks, total);
    this.hasBody = total > 0;
    this.headers.delete('content-length');
    if (this.hasBody) this.headers.list.push('content-length', String(total));
    return this.body;
  }

  retry(attempts: number, initialInterval: number): void {
    // several middlewares asking: the most retries, the longest wait
    this.retryAttempts = Math.max(this.retryAttempts, Math.min(10, Math.floor(attempts) - 1));
    this.retryInterval = Math.max(this.retryInterval, Math.min(60_000, initialInterval));
  }

  // ── running the hooks ────────────────────────────────────────────────────────────────────────────

  /** The onRequest hooks from `from` on, then the forward or the answer. */
  run(from = 0): void {
    const links = this.links;
    for (let i = from; i < links.length; i++) {
      const h = links[i].handler;
      this.ran = i + 1;
      if (h.onRequest === undefined) continue;
      let r: void | Promise<void>;
      try {
        r = h.onRequest(this);
      } catch (err) {
        this.failed(links[i], err);
        return;
      }
      if (isThenable(r)) {
        if (this.#answer !== null) {
          // answered before its first await: whatever the promise does later changes nothing, but is logged
          r.then(undefined, (err: unknown) => this.logFailure(links[i], err));
          return this.#answered(i);
        }
        r.then(
          () => (this.#answer !== null ? this.#answered(i) : this.run(i + 1)),
          (err: unknown) => this.failed(links[i], err),
        );
        return;
      }
      if (this.#answer !== null) return this.#answered(i);
    }
    this.#forward();
  }

  #forward(): void {
    if (this.res === null) {
      this.#phase = 'forwarded';
      return this.upgrade!.via.tunnel(this);
    }
    if (this.res.destroyed) {
      this.#phase = 'done';
      this.finished();
      this.ep.answered(this.req, 499, 'client_gone', this.target);
      return;
    }
    this.#phase = 'forwarded';
    const path = this.query === '' ? this.path : `${this.path}?${this.query}`;
    new Forward(this.req, this.res, this.target, this.ep, path, this.headers.list, this.hasBody, this).start();
  }

  /** A middleware answered: the hooks before it see the answer (reverse order), then it is sent. */
  #answered(i: number): void {
    const a = this.#answer!;
    this.#phase = 'done';
    this.ran = i; // the answering middleware does not see its own answer
    if (this.res === null) return this.upgrade!.via.refuse(this, a.status, a.headers, a.body, 'middleware');
    Reply.own(this, a.status, a.headers, a.body, 'middleware');
  }

  /** A hook threw or rejected: 500 plugin_error (or 413 for a body over readBody's limit). */
  failed(link: Link, err: unknown): void {
    const code = (err as { code?: unknown } | null)?.code;
    const [status, why, detail] =
      code === 'BATON_BODY_TOO_LARGE'
        ? [413, 'body_too_large', 'The request body is larger than the limit.']
        : [500, 'plugin_error', 'A middleware failed while handling this request.'];
    if (status === 500) this.logFailure(link, err);
    if (this.#phase === 'forwarded' || this.res?.headersSent === true) {
      if (this.res !== null) this.res.destroy();
      return;
    }
    this.#phase = 'done';
    this.ran = this.links.indexOf(link); // it did not pass the request on: neither its onResponse nor its onDone
    if (this.res !== null) return Reply.page(this, status, why, detail);
    const page = pageOf(status, why, detail, true);
    this.upgrade!.via.refuse(this, status, page.list, page.body, why);
  }

  /** Logs a hook's failure, once per burst per middleware. */
  logFailure(link: Link, err: unknown): void {
    const now = Date.now();
    link.failures++;
    if (now - link.loggedAt < BURST_MS) return;
    const e = new PluginError(link.name, { cause: err });
    const why = err instanceof Error ? err.message : String(err);
    this.ep.log.error({ middleware: link.name, failures: link.failures, err: why, code: e.code }, e.message);
    link.failures = 0;
    link.loggedAt = now;
  }

  /** The onDone hooks, once (Forward calls it when the request is over; Reply for answers). */
  finished(): void {
    if (this.#over) return;
    this.#over = true;
    for (let i = 0; i < this.ran; i++) {
      const h = this.links[i].handler;
      if (h.onDone === undefined) continue;
      try {
        h.onDone(this);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        this.ep.log.error({ middleware: this.links[i].name, err: why }, 'middleware onDone failed');
      }
    }
    this.reply?.close();
  }
}
