// An entrypoint: where a request goes, top to bottom.
//
//   connection accepted ── over the connection cap? → 503, closed (connections.ts)
//   first bytes: a TLS ClientHello → certificate by SNI, handshake, then HTTP/1.1 by ALPN (tls/terminator.ts);
//                plain HTTP → on as it is; the routes served are the entrypoint's TLS or plain ones
//   request head parsed by Node's strict parser (bad framing, bare LF, oversize head → 400/431, timeouts → 408)
//   onRequest:
//     1. Host: exactly one, well formed (HTTP/1.1 requires it)                    → else 400
//     2. target: origin-form, or absolute-form agreeing with Host; path normalised → else 400
//     ·  ACME HTTP-01 challenge answers, then the entrypoint's redirection (redirect.ts), if it has them
//     3. route: the route table (swapped whole by providers) picks a service       → else 404 from baton
//     4. limits: declared body larger than maxBodySize                             → 413, upstream never contacted
//     5. headers: hop-by-hop and Connection-named headers dropped, X-Forwarded-* set
//     ·  middlewares, when the route has any (middleware-run.ts): the entrypoint's then the route's, in order;
//        each may rewrite the request or answer it; their response hooks run in middleware-response.ts
//     6. forward (forward.ts): balancer picks a healthy upstream, in-flight +1, undici dispatch, response
//        streamed back with backpressure, in-flight −1; safe retries on another upstream
//   onUpgrade: the same steps 1–5 and the middlewares' request hooks, then a WebSocket tunnel (websocket.ts)
import type { IncomingMessage } from 'node:http';
import type { Http2Server, Http2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EntrypointConfig, Limits, Timeouts } from '../config/schema.ts';
import { listenerFd, listenOn, type ListenOptions } from '../listen.ts';
import { stopAcceptingAndLinger } from './linger.ts';
import { untilCalledOr } from '../async.ts';
import type { Registry } from '../upstream/registry.ts';
import type { Service } from '../upstream/service.ts';
import { HTTP, protocolOf, WEBSOCKET, type RequestMetrics } from '../upstream/meter.ts';
import { logAnswered, logForwarded, logUpgrade, type AccessLog } from './access-log.ts';
import type { TlsTerminator } from '../tls/terminator.ts';
import { Admission, connInfo, onClientError, requestTimedOut, securedConnInfo } from './connections.ts';
import { bodyFollows, headerListSize, unreadBody } from './exchange.ts';
import type { BatonH2Request, BatonH2Response, BatonRequest, ClientRequest, ClientResponse } from './exchange.ts';
import { Forward } from './forward.ts';
import type { Link } from '../middleware/compile.ts';
import { Exchange } from './middleware-run.ts';
import { upstreamRequestHeaders, type RequestContext } from './headers.ts';
import { sendPage, sendRedirect, sendText } from './pages.ts';
import { redirectTo, type Redirection } from './redirect.ts';
import { H2Sessions, h2Server, http1Server, retime, type Http1Server } from './servers.ts';
import { checkH2Request, checkRequest, View } from './request-check.ts';
import { Upgrades, type UpgradeHost } from './upgrade.ts';
import { invalidUpgrade, rejectUpgrade, WebSocketTunnels } from './websocket.ts';

export interface EntrypointOptions {
  name: string;
  config: EntrypointConfig;
  timeouts: Timeouts;
  limits: Limits;
  registry: Registry;
  log: Logger;
  accessLog: AccessLog | null;
  /** reads each connection's first bytes: TLS handshakes are terminated, plain HTTP goes on */
  terminator: TlsTerminator;
  /** `http.redirections.entryPoint`, resolved to the target's port */
  redirect?: Redirection | null;
  /** ACME HTTP-01: the key authorization for a token, on the resolver's challenge entrypoint */
  httpChallenges?: HttpChallenges | null;
  /** request counts and durations (null: metrics.enabled is off) */
  metrics?: RequestMetrics | null;
}

export interface HttpChallenges {
  keyAuthorization(token: string): string | null;
}

const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

interface Prepared {
  view: View;
  service: Service;
  links: readonly Link[];
  ctx: RequestContext;
  path: string;
}

export class Entrypoint implements UpgradeHost {
  readonly name: string;
  readonly log: Logger;
  /** limits.maxBodySize (a config reload changes it: retune) */
  maxBodySize: number;
  closing = false;
  /** requests in progress on this entrypoint (including tunnels) */
  active = 0;
  /** answered by baton with 404: no route */
  notFound = 0;
  readonly metrics: RequestMetrics | null;

  readonly #config: EntrypointConfig;
  readonly #registry: Registry;
  readonly #accessLog: AccessLog | null;
  readonly #server: Http1Server;
  readonly #h2: Http2Server;
  readonly #h2Sessions = new H2Sessions();
  /** the TLS socket being handed to the HTTP/2 server right now */
  #h2Socket: Socket | null = null;
  readonly #tunnels: WebSocketTunnels;
  readonly #upgrades: Upgrades;
  readonly #admission: Admission;
  readonly #redirect: Redirection | null;
  readonly #maxHeaderSize: number;
  readonly #challenges: HttpChallenges | null;
  #idleWaiters: Array<() => void> = [];

  constructor(opts: EntrypointOptions) {
    this.name = opts.name;
    this.log = opts.log.child({ component: 'middleware', entrypoint: opts.name });
    this.#config = opts.config;
    this.maxBodySize = opts.limits.maxBodySize;
    this.#maxHeaderSize = opts.limits.maxHeaderSize;
    this.#registry = opts.registry;
    this.#accessLog = opts.accessLog;
    this.#redirect = opts.redirect ?? null;
    this.#challenges = opts.httpChallenges ?? null;
    this.metrics = opts.metrics ?? null;
    this.#admission = new Admission({
      maxConnections: opts.limits.maxConnections,
      trustedIPs: opts.config.forwardedHeaders.trustedIPs,
      insecure: opts.config.forwardedHeaders.insecure,
      closing: () => this.closing,
    });
    const t = opts.timeouts;
    this.#server = http1Server(t, opts.limits);
    this.#h2 = h2Server(t, opts.limits, opts.config.http2);
    const wsLog = opts.log.child({ component: 'websocket' });
    this.#tunnels = new WebSocketTunnels(wsLog, t.upstreamConnect, t.upstreamResponse);
    this.#upgrades = new Upgrades(this, this.#tunnels);
    this.#server.on('clientError', onClientError);
    this.#admission.wrap(this.#server, (socket, http1) => {
      opts.terminator.accept(socket, {
        plain: (raw, firstBytes) => {
          // Node's parser reads the socket natively from now on: the bytes already read go to it first
          http1(raw);
          raw.emit('data', firstBytes);
          raw.resume();
        },
        http1: (tls, serverName) => {
          securedConnInfo(socket, tls, serverName);
          http1(tls);
        },
        h2: (tls, serverName) => {
          securedConnInfo(socket, tls, serverName);
          this.#h2Socket = tls;
          this.#h2.emit('connection', tls);
          this.#h2Socket = null;
        },
        timeout: requestTimedOut,
      });
    });
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    // 'session' is emitted while a socket is handed over (handlers.h2 above), so that socket is the session's
    this.#h2.on('session', (session) => this.#h2Sessions.track(session, this.#h2Socket!));
    this.#h2.on('timeout', (session: Http2Session) => this.#h2Sessions.timedOut(session));
    this.#h2.on('request', (req, res) => this.#onRequest(req as BatonH2Request, res as BatonH2Response));
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req as BatonRequest, socket as Socket, head));
  }

  /** Listens on the config's address (or `address`); `reusePort` shares the port with other threads' listeners;
   *  `fd` takes over a socket a previous baton listened on (`baton upgrade`). */
  listen(opts: ListenOptions & { address?: string } = {}): Promise<AddressInfo> {
    return listenOn(this.#server, opts.address ?? this.#config.address, opts);
  }

  /** The listening socket's file descriptor, handed to the next baton by `baton upgrade`. */
  fd(): number | null {
    return listenerFd(this.#server);
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** A config reload's limits and client timeouts: for the requests and connections that come from now on. */
  retune(t: Timeouts, limits: Limits): void {
    this.maxBodySize = limits.maxBodySize;
    retime(this.#server, this.#h2, t);
  }

  get connections(): number {
    return this.#admission.connections;
  }

  /** connections refused at the cap (or while closing) */
  get rejectedConnections(): number {
    return this.#admission.rejected;
  }

  // ── plain requests ─────────────────────────────────────────────────────────────────────────────

  #onRequest(req: ClientRequest, res: ClientResponse): void {
    this.active++;
    // HTTP/2: the header list limit is only advertised in SETTINGS, which a client may not have applied yet
    if (res.h2 && headerListSize(req.rawHeaders) > this.#maxHeaderSize) {
      return this.#answer(req, res, 431, 'header_too_large', 'The request head is larger than the limit.', false, null);
    }
    const p = this.#prepare(req, res);
    if (p === null) return;
    const { service, ctx, path } = p;

    // 4. limits: a declared body over the limit never reaches the upstream
    if (ctx.contentLength > this.maxBodySize) {
      const detail = `The request body is larger than ${this.maxBodySize} bytes.`;
      return this.#answer(req, res, 413, 'body_too_large', detail, true, service);
    }
    const hasBody = ctx.contentLength > 0 || (ctx.contentLength === -1 && bodyFollows(req, res.h2));

    // 5. header hygiene
    const headers = upstreamRequestHeaders(req.rawHeaders, ctx);

    if (p.links.length > 0) {
      const routed = {
        req,
        res,
        service,
        links: p.links,
        host: p.view.host,
        path,
        query: p.view.query,
        headers,
        hasBody,
      };
      return new Exchange(this, routed).run();
    }

    // 6. forward
    const target = p.view.query === '' ? path : `${path}?${p.view.query}`;
    new Forward(req, res, service, this, target, headers, hasBody).start();
  }

  /** Steps 1–3 (and the header context for 5). Answers the request itself and returns null when it must stop. */
  #prepare(req: ClientRequest, res: ClientResponse | null): Prepared | null {
    const conn = connInfo(req.socket);
    const view = new View(req);
    view.method = req.method!;
    view.clientIp = conn.clientIp;

    // 0–2. framing, Host, target (request-check.ts)
    const checked = res?.h2 === true ? checkH2Request(req as BatonH2Request) : checkRequest(req as BatonRequest);
    if (checked.kind === 'refused') return this.#reject(req, res, 400, checked.code, checked.detail);
    const { host, hostHeader, path, target } = checked;
    view.host = host;
    view.path = path;
    view.query = target.query;

    // ACME HTTP-01 answers and redirections come before routing (and answers before redirections)
    if (res !== null && !conn.tls) {
      if (this.#challenges !== null && path.startsWith(ACME_CHALLENGE_PREFIX)) {
        const answer = this.#challenges.keyAuthorization(path.slice(ACME_CHALLENGE_PREFIX.length));
        if (answer !== null) return this.#sendText(req, res, 200, answer);
      }
      if (this.#redirect !== null) {
        const full = target.query === '' ? path : `${path}?${target.query}`;
        const to = redirectTo(this.#redirect, view.method, host, full);
        return this.#sendRedirect(req, res, to.status, to.location);
      }
    }

    // 3. route
    const routed = this.#registry.table(this.name, conn.tls).match(view);
    if (routed === undefined) {
      this.notFound++;
      return this.#reject(req, res, 404, 'no_route', 'No route matches this host and path.');
    }

    const cl = req.headers['content-length'];
    const ctx: RequestContext = {
      clientIp: conn.clientIp,
      trusted: conn.trusted,
      proto: conn.tls ? 'https' : 'http',
      port: conn.port,
      host: hostHeader ?? target.authority ?? '',
      upstreamHost: null,
      contentLength: cl === undefined ? -1 : Number(cl),
      joinCookies: res?.h2 === true,
    };
    return { view, service: routed.service, links: routed.links, ctx, path };
  }

  #reject(req: ClientRequest, res: ClientResponse | null, status: number, code: string, detail: string): null {
    if (res === null) {
      rejectUpgrade(req.socket as Socket, status, code, detail);
      this.logUpgrade(req, status, code, null);
      this.#done();
      return null;
    }
    this.#answer(req, res, status, code, detail, unreadBody(req), null);
    return null;
  }

  #sendText(req: ClientRequest, res: ClientResponse, status: number, text: string): null {
    sendText(res, status, text);
    this.metrics?.answered(req.method!, status, null, HTTP);
    if (this.#accessLog !== null) logAnswered(this.#accessLog, req, status, 'acme_challenge');
    this.#done();
    return null;
  }

  #sendRedirect(req: ClientRequest, res: ClientResponse, status: number, location: string): null {
    sendRedirect(res, req.method!, status, location, this.closing || unreadBody(req));
    this.metrics?.answered(req.method!, status, null, HTTP);
    if (this.#accessLog !== null) logAnswered(this.#accessLog, req, status, 'redirect');
    this.#done();
    return null;
  }

  /** A response baton makes itself (no upstream). */
  #answer(
    req: ClientRequest,
    res: ClientResponse,
    status: number,
    code: string,
    detail: string,
    close: boolean,
    service: Service | null,
  ): void {
    sendPage(res, req.method!, status, code, detail, close || this.closing);
    if (service !== null) service.unavailable++;
    this.metrics?.answered(req.method!, status, service?.name ?? null, HTTP);
    if (this.#accessLog !== null) logAnswered(this.#accessLog, req, status, code);
    this.#done();
  }

  /** A service by name (a middleware's useService, the errors middleware's page). */
  service(name: string): Service | undefined {
    return this.#registry.services.get(name);
  }

  /** An answer made without a Forward (a middleware's, or baton's page on a route with middlewares). */
  answered(req: ClientRequest, status: number, code: string, service: Service | null): void {
    if (service !== null && status >= 500) service.unavailable++;
    this.metrics?.answered(req.method!, status, service?.name ?? null, HTTP);
    if (this.#accessLog !== null) logAnswered(this.#accessLog, req, status, code);
    this.#done();
  }

  /** Called once per forwarded request, when it is over (forward.ts). */
  requestDone(f: Forward): void {
    const svc = f.service;
    svc.responses[(f.status / 100) | 0]++;
    svc.retries += f.retries;
    this.metrics?.forwarded(f.method, f.status, svc.name, f.started, protocolOf(f.req));
    if (this.#accessLog !== null) logForwarded(this.#accessLog, f);
    this.#done();
  }

  #done(): void {
    this.active--;
    if (this.active === 0 && this.#idleWaiters.length > 0) {
      const w = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const f of w) f();
    }
  }

  // ── WebSocket upgrades ─────────────────────────────────────────────────────────────────────────

  #onUpgrade(req: BatonRequest, socket: Socket, head: Buffer): void {
    this.active++;
    socket.on('error', () => {});
    const bad = invalidUpgrade(req);
    if (bad !== null) {
      this.#reject(req, null, 400, 'bad_upgrade', bad);
      return;
    }
    const p = this.#prepare(req, null);
    if (p === null) return;
    const list = upstreamRequestHeaders(req.rawHeaders, p.ctx);
    this.#upgrades.route(req, socket, head, p.service, p.links, p.view.host, p.path, p.view.query, list);
  }

  logUpgrade(req: ClientRequest, status: number, error: string | null, upstream: string | null): void {
    this.metrics?.answered(req.method!, status, null, WEBSOCKET);
    if (this.#accessLog !== null) logUpgrade(this.#accessLog, req as IncomingMessage, status, error, upstream);
  }

  upgradeDone(): void {
    this.#done();
  }

  // ── shutdown ───────────────────────────────────────────────────────────────────────────────────

  /** Stops accepting, lets requests in progress finish (bounded by `timeoutMs`), then closes every connection.
   *  `lingerMs` (a hand-over, linger.ts): idle kept-alive connections are first left to end by themselves. */
  async close(timeoutMs: number, lingerMs = 0): Promise<void> {
    this.closing = true;
    this.#h2Sessions.closeGracefully();
    const end = Date.now() + timeoutMs;
    if (lingerMs > 0) await stopAcceptingAndLinger(this.#server, () => this.connections, Math.min(lingerMs, timeoutMs));
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    if (this.active > 0) await untilCalledOr(end - Date.now(), (done) => this.#idleWaiters.push(done));
    this.#server.closeAllConnections();
    this.#h2Sessions.destroyAll();
    this.#tunnels.close();
    await closed;
  }
}
