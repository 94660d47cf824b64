// WebSocket upgrades after routing: straight to a tunnel (websocket.ts) on a route without middlewares; through the
// middlewares' request hooks otherwise (auth, allow-lists, rate limits, header rewrites apply; a middleware's answer
// refuses the upgrade with that status and the connection is closed).
import type { Socket } from 'node:net';
import type { Link } from '../middleware/compile.ts';
import type { Service } from '../upstream/service.ts';
import type { BatonRequest, ClientRequest } from './exchange.ts';
import { Exchange, type ExchangeHost } from './middleware-run.ts';
import { rawAnswer } from './pages.ts';
import { rejectUpgrade, tunnelHeaders, type WebSocketTunnels } from './websocket.ts';
import { steer } from './steer.ts';

export interface UpgradeHost extends ExchangeHost {
  logUpgrade(req: ClientRequest, status: number, error: string | null, upstream: string | null): void;
  /** the upgrade request is over (tunnel closed, or refused) */
  upgradeDone(): void;
}

export class Upgrades {
  readonly #host: UpgradeHost;
  readonly #tunnels: WebSocketTunnels;

  constructor(host: UpgradeHost, tunnels: WebSocketTunnels) {
    this.#host = host;
    this.#tunnels = tunnels;
  }

  /** A routed upgrade: `list` is the upstream request's header list (hygiene done). */
  route(
    req: BatonRequest,
    socket: Socket,
    head: Buffer,
    service: Service,
    links: readonly Link[],
    host: string,
    path: string,
    query: string,
    list: string[],
  ): void {
    if (links.length === 0)
      return this.#open(req, socket, head, service, null, list, query === '' ? path : `${path}?${query}`);
    const x = new Exchange(this.#host, {
      req,
      res: null,
      service,
      links,
      host,
      path,
      query,
      headers: list,
      hasBody: false,
    });
    x.upgrade = { socket, head, via: this };
    x.run();
  }

  /** The middlewares let the upgrade through. */
  tunnel(x: Exchange): void {
    const path = x.query === '' ? x.path : `${x.path}?${x.query}`;
    this.#open(x.req as BatonRequest, x.upgrade!.socket, x.upgrade!.head, x.target, x, x.headers.list, path);
  }

  /** A middleware refused the upgrade (or failed): its answer, then the connection is closed. */
  refuse(x: Exchange, status: number, list: readonly string[], body: Buffer, code: string): void {
    const socket = x.upgrade!.socket;
    if (!socket.destroyed) socket.end(rawAnswer(status, list, body));
    this.#host.logUpgrade(x.req, status, code, null);
    x.finished();
    this.#host.upgradeDone();
  }

  #open(
    req: BatonRequest,
    socket: Socket,
    head: Buffer,
    service: Service,
    x: Exchange | null,
    list: string[],
    path: string,
  ): void {
    const preferred = x?.preferred ?? null;
    const u =
      preferred !== null && preferred.takesTraffic
        ? preferred
        : service.steered // the cookie's generation or child (steer.ts; a 101 sets no cookie)
          ? steer({ req, service, path, generation: null, setCookie: null })
          : service.pick(null);
    if (u === null) {
      service.unavailable++;
      x?.finished();
      rejectUpgrade(socket, 503, 'no_healthy_upstream', 'The service has no healthy upstream right now.');
      this.#host.logUpgrade(req, 503, 'no_healthy_upstream', null);
      this.#host.upgradeDone();
      return;
    }
    if (!service.options.passHostHeader) {
      for (let i = list.length - 2; i >= 0; i -= 2) if (list[i] === 'host') list[i + 1] = u.host;
    }
    this.#host.logUpgrade(req, 101, null, u.id);
    socket.once('close', () => {
      x?.finished();
      this.#host.upgradeDone();
    });
    this.#tunnels.open(req, socket, head, u, tunnelHeaders(list), path);
  }
}
