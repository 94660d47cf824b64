// An entrypoint: where a request goes, top to bottom.
//
//   connection accepted ── over the connection cap? → 503, closed (connections.ts)
//   request head parsed by Node's strict parser (bad framing, bare LF, oversize head → 400/431, timeouts → 408)
//   onRequest:
//     1. Host: exactly one, well formed (HTTP/1.1 requires it)                    → else 400
//     2. target: origin-form, or absolute-form agreeing with Host; path normalised → else 400
//     3. route: the route table (swapped whole by providers) picks a service       → else 404 from baton
//     4. limits: declared body larger than maxBodySize                             → 413, upstream never contacted
//     5. headers: hop-by-hop and Connection-named headers dropped, X-Forwarded-* set
//     6. forward (forward.ts): balancer picks a healthy upstream, in-flight +1, undici dispatch, response
//        streamed back with backpressure, in-flight −1; safe retries on another upstream
//   onUpgrade: the same steps 1–5, then a WebSocket tunnel (websocket.ts)
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EntrypointConfig, Limits, Timeouts } from '../config/schema.ts';
import type { RequestView } from '../routing/rule.ts';
import { listenOn } from '../listen.ts';
import type { Registry } from '../upstream/registry.ts';
import type { Service } from '../upstream/service.ts';
import { logAnswered, logForwarded, logUpgrade } from './access-log.ts';
import { Admission, connInfo, onClientError } from './connections.ts';
import { BatonRequest, BatonResponse, Forward, type ForwardHost } from './forward.ts';
import { upstreamRequestHeaders, type RequestContext } from './headers.ts';
import { sendPage } from './pages.ts';
import { normalizePath, parseHost, splitTarget } from './target.ts';
import { invalidUpgrade, rejectUpgrade, WebSocketTunnels } from './websocket.ts';

/** The request as the route table sees it. Headers are read lazily (Node builds them on first access). */
class View implements RequestView {
  host = '';
  path = '';
  query = '';
  method = '';
  clientIp = '';
  req: IncomingMessage;
  constructor(req: IncomingMessage) {
    this.req = req;
  }
  get headers() {
    return this.req.headers;
  }
}

export interface EntrypointOptions {
  name: string;
  config: EntrypointConfig;
  timeouts: Timeouts;
  limits: Limits;
  registry: Registry;
  log: Logger;
  accessLog: Logger | null;
}

interface Prepared {
  view: View;
  service: Service;
  ctx: RequestContext;
  path: string;
}

export class Entrypoint implements ForwardHost {
  readonly name: string;
  readonly maxBodySize: number;
  closing = false;
  /** requests in progress on this entrypoint (including tunnels) */
  active = 0;
  /** answered by baton with 404: no route */
  notFound = 0;

  readonly #config: EntrypointConfig;
  readonly #registry: Registry;
  readonly #accessLog: Logger | null;
  readonly #server: Server<typeof BatonRequest, typeof BatonResponse>;
  readonly #tunnels: WebSocketTunnels;
  readonly #admission: Admission;
  #idleWaiters: Array<() => void> = [];

  constructor(opts: EntrypointOptions) {
    this.name = opts.name;
    this.#config = opts.config;
    this.maxBodySize = opts.limits.maxBodySize;
    this.#registry = opts.registry;
    this.#accessLog = opts.accessLog;
    this.#admission = new Admission({
      maxConnections: opts.limits.maxConnections,
      trustedIPs: opts.config.forwardedHeaders.trustedIPs,
      insecure: opts.config.forwardedHeaders.insecure,
      closing: () => this.closing,
    });
    const t = opts.timeouts;
    this.#server = createServer({
      IncomingMessage: BatonRequest,
      ServerResponse: BatonResponse,
      headersTimeout: t.header,
      requestTimeout: t.request,
      keepAliveTimeout: t.idle,
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(t.header / 2))),
      maxHeaderSize: opts.limits.maxHeaderSize,
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      noDelay: true,
      insecureHTTPParser: false,
    });
    this.#server.timeout = t.socket;
    const wsLog = opts.log.child({ component: 'websocket' });
    this.#tunnels = new WebSocketTunnels(wsLog, t.upstreamConnect, t.upstreamResponse);
    this.#server.on('clientError', onClientError);
    this.#admission.wrap(this.#server);
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req as BatonRequest, socket as Socket, head));
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#server, this.#config.address);
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  get connections(): number {
    return this.#admission.connections;
  }

  /** connections refused at the cap (or while closing) */
  get rejectedConnections(): number {
    return this.#admission.rejected;
  }

  // ── plain requests ─────────────────────────────────────────────────────────────────────────────

  #onRequest(req: BatonRequest, res: BatonResponse): void {
    this.active++;
    const p = this.#prepare(req, res);
    if (p === null) return;
    const { service, ctx, path } = p;

    // 4. limits: a declared body over the limit never reaches the upstream
    if (ctx.contentLength > this.maxBodySize) {
      return this.#answer(
        req,
        res,
        413,
        'body_too_large',
        `The request body is larger than ${this.maxBodySize} bytes.`,
        true,
        service,
      );
    }
    const hasBody =
      ctx.contentLength > 0 || (ctx.contentLength === -1 && req.headers['transfer-encoding'] !== undefined);

    // 5. header hygiene
    const headers = upstreamRequestHeaders(req.rawHeaders, ctx);

    // 6. forward
    new Forward(
      req,
      res,
      service,
      this,
      p.view.query === '' ? path : `${path}?${p.view.query}`,
      headers,
      hasBody,
    ).start();
  }

  /** Steps 1–3 (and the header context for 5). Answers the request itself and returns null when it must stop. */
  #prepare(req: BatonRequest, res: BatonResponse | null): Prepared | null {
    const conn = connInfo(req.socket);
    const view = new View(req);
    view.method = req.method!;
    view.clientIp = conn.clientIp;

    // 0. framing Node's parser lets through: only plain `chunked` is a transfer coding baton forwards
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.toLowerCase() !== 'chunked') {
      return this.#reject(req, res, 400, 'bad_framing', 'Only "Transfer-Encoding: chunked" is accepted on requests.');
    }

    // 1. Host
    const raw = req.rawHeaders;
    let hostCount = 0;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') hostCount++;
    }
    const hostHeader = req.headers.host;
    if (hostCount > 1) return this.#reject(req, res, 400, 'bad_host', 'The request has more than one Host header.');
    let host = '';
    if (hostHeader !== undefined) {
      const parsed = parseHost(hostHeader);
      if (parsed === null) return this.#reject(req, res, 400, 'bad_host', 'The Host header is malformed.');
      host = parsed;
    }

    // 2. target
    const target = splitTarget(req.url!);
    if (target === null)
      return this.#reject(req, res, 400, 'bad_target', 'The request target is not a path or an absolute http URL.');
    if (target.authority !== null) {
      const fromTarget = parseHost(target.authority);
      if (
        fromTarget === null ||
        (hostHeader !== undefined && target.authority.toLowerCase() !== hostHeader.toLowerCase())
      ) {
        return this.#reject(req, res, 400, 'bad_host', 'The absolute request target does not match the Host header.');
      }
      host = fromTarget;
    }
    const path = normalizePath(target.path);
    switch (path) {
      case 'not-origin-form':
      case 'bad-escape':
        return this.#reject(req, res, 400, 'bad_path', 'The request path is malformed.');
      case 'encoded-null':
        return this.#reject(req, res, 400, 'bad_path', 'The request path contains an encoded NUL byte.');
      case 'encoded-slash':
        return this.#reject(req, res, 400, 'bad_path', 'The request path contains an encoded "/" or "\\".');
      case 'backslash':
        return this.#reject(req, res, 400, 'bad_path', 'The request path contains a "\\".');
    }
    view.host = host;
    view.path = path;
    view.query = target.query;

    // 3. route
    const service = this.#registry.table.match(view);
    if (service === undefined) {
      this.notFound++;
      return this.#reject(req, res, 404, 'no_route', 'No route matches this host and path.');
    }

    const cl = req.headers['content-length'];
    const ctx: RequestContext = {
      clientIp: conn.clientIp,
      trusted: conn.trusted,
      proto: 'http',
      port: conn.port,
      host: hostHeader ?? target.authority ?? '',
      upstreamHost: null,
      contentLength: cl === undefined ? -1 : Number(cl),
    };
    return { view, service, ctx, path };
  }

  #reject(req: BatonRequest, res: BatonResponse | null, status: number, code: string, detail: string): null {
    if (res === null) {
      rejectUpgrade(req.socket as Socket, status, code, detail);
      this.#logUpgrade(req, status, code, null);
      this.#done();
      return null;
    }
    this.#answer(
      req,
      res,
      status,
      code,
      detail,
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined,
      null,
    );
    return null;
  }

  /** A response baton makes itself (no upstream). */
  #answer(
    req: BatonRequest,
    res: BatonResponse,
    status: number,
    code: string,
    detail: string,
    close: boolean,
    service: Service | null,
  ): void {
    sendPage(res, status, code, detail, close || this.closing);
    if (service !== null) service.unavailable++;
    if (this.#accessLog !== null) logAnswered(this.#accessLog, req, status, code);
    this.#done();
  }

  /** Called once per forwarded request, when it is over (forward.ts). */
  requestDone(f: Forward): void {
    const svc = f.service;
    svc.responses[(f.status / 100) | 0]++;
    svc.retries += f.retries;
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
    const u = p.service.pick(null);
    if (u === null) {
      p.service.unavailable++;
      this.#reject(req, null, 503, 'no_healthy_upstream', 'The service has no healthy upstream right now.');
      return;
    }
    if (!p.service.options.passHostHeader) p.ctx.upstreamHost = u.host;
    const list = upstreamRequestHeaders(req.rawHeaders, p.ctx);
    const headers: Record<string, string> = {};
    for (let i = 0; i < list.length; i += 2) {
      const k = list[i].toLowerCase();
      headers[k] = headers[k] === undefined ? list[i + 1] : `${headers[k]}, ${list[i + 1]}`;
    }
    headers.connection = 'Upgrade';
    headers.upgrade = 'websocket';
    this.#logUpgrade(req, 101, null, u.id);
    socket.once('close', () => this.#done());
    this.#tunnels.open(req, socket, head, u, headers, p.view.query === '' ? p.path : `${p.path}?${p.view.query}`);
  }

  #logUpgrade(req: IncomingMessage, status: number, error: string | null, upstream: string | null): void {
    if (this.#accessLog !== null) logUpgrade(this.#accessLog, req, status, error, upstream);
  }

  // ── shutdown ───────────────────────────────────────────────────────────────────────────────────

  /** Stops accepting, lets requests in progress finish (bounded by `timeoutMs`), then closes every connection. */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    if (this.active > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        this.#idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.#server.closeAllConnections();
    this.#tunnels.close();
    await closed;
  }
}
