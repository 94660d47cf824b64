// WebSocket tunnelling through http-proxy-3's ws(), wrapped so that baton's rules apply: only valid RFC 6455
// upgrades are forwarded, headers get the same hygiene as plain requests, each open tunnel counts as one
// in-flight request on its upstream (so drains wait for it, bounded), and either side closing closes the other.
//
// http-proxy-3 relays the upstream's handshake answer verbatim and only half-closes (end()) one side when the other
// goes away, so this wrapper also: sanitises the answer (hop-by-hop headers), destroys the other side once one
// side has closed, bounds a half-closed tunnel by TUNNEL_HALF_CLOSE_TIMEOUT_MS, aborts the upstream handshake
// when the client leaves first, and destroys every open tunnel on close().
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import type { Upstream } from '../upstream/upstream.ts';
import { sanitizeUpgradeResponse } from './headers.ts';
import { rawPage } from './pages.ts';

/** Once one side of a tunnel has sent FIN, how long the other side gets before both are destroyed. A WebSocket
 *  ends with a close handshake in frames; a half-open TCP tunnel after that only holds sockets and a drain slot. */
export const TUNNEL_HALF_CLOSE_TIMEOUT_MS = 2_000;

const KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

/** Null if the request is a valid WebSocket opening handshake, else the reason it is not. */
export function invalidUpgrade(req: IncomingMessage): string | null {
  if (req.method !== 'GET') return 'WebSocket upgrades must use GET';
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined || upgrade.trim().toLowerCase() !== 'websocket')
    return 'only "Upgrade: websocket" is supported';
  const connection = req.headers.connection ?? '';
  if (!connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade'))
    return 'Connection must include "upgrade"';
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY_RE.test(key.trim())) return 'missing or invalid Sec-WebSocket-Key';
  if (req.headers['sec-websocket-version'] !== '13') return 'Sec-WebSocket-Version must be 13';
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) return 'WebSocket upgrades need HTTP/1.1';
  return null;
}

/** Rejects an upgrade on the raw socket (no HTTP response object exists for upgrade requests). */
export function rejectUpgrade(socket: Socket, status: number, code: string, detail: string): void {
  if (socket.writable) socket.end(rawPage(status, code, detail));
  else socket.destroy();
  socket.resume();
}

interface TunnelSocket extends Socket {
  batonUpstream?: Upstream;
  batonOpened?: boolean;
}

function onTunnelClose(this: TunnelSocket): void {
  const u = this.batonUpstream;
  if (u !== undefined) {
    this.batonUpstream = undefined;
    u.tunnels.delete(this);
    u.release();
  }
}

/** One client connection being tunnelled: its upstream handshake request, then the upstream socket. */
class Tunnel {
  readonly client: Socket;
  readonly request: ClientRequest;
  upstream: Socket | null = null;
  #timer: NodeJS.Timeout | null = null;
  #handshakeTimer: NodeJS.Timeout | null = null;
  readonly #tunnels: Set<Tunnel>;

  constructor(client: Socket, request: ClientRequest, tunnels: Set<Tunnel>, handshakeTimeoutMs: number) {
    this.client = client;
    this.request = request;
    this.#tunnels = tunnels;
    tunnels.add(this);
    if (client.destroyed) {
      // the client left before the handshake was even sent
      request.destroy();
      tunnels.delete(this);
      return;
    }
    // An upstream that accepts the connection but never answers the handshake: 504 at the response timeout.
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = null;
      if (this.client.writable && this.client.bytesWritten === 0) {
        this.client.end(
          rawPage(504, 'upstream_timeout', 'The upstream did not answer the WebSocket handshake in time.'),
        );
      }
      this.request.destroy();
      this.#arm();
    }, handshakeTimeoutMs);
    this.#handshakeTimer.unref();
    client.once('end', () => this.#arm());
    client.once('close', () => {
      // The client is gone: a pending handshake is abandoned; an upstream socket is closed once what was already
      // written is flushed (bounded by the timer).
      if (this.upstream === null) this.request.destroy();
      else this.upstream.destroySoon();
      this.#arm();
      this.#forgetIfClosed();
    });
  }

  /** The upstream answered the handshake (101 or not). */
  answered(): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
  }

  /** The upstream switched protocols; `socket` is its side of the tunnel. */
  switched(socket: Socket): void {
    this.answered();
    this.upstream = socket;
    if (this.client.destroyed) {
      socket.destroy();
      this.#forgetIfClosed();
      return;
    }
    socket.once('end', () => this.#arm());
    socket.once('close', () => {
      this.client.destroySoon();
      this.#arm();
      this.#forgetIfClosed();
    });
  }

  /** One side sent FIN or closed: both sides are destroyed unless they finish within the timeout. */
  #arm(): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => this.destroy(), TUNNEL_HALF_CLOSE_TIMEOUT_MS);
    this.#timer.unref();
  }

  destroy(): void {
    this.answered();
    this.client.destroy();
    if (this.upstream !== null) this.upstream.destroy();
    else this.request.destroy();
    this.#forgetIfClosed();
  }

  #forgetIfClosed(): void {
    if (!this.client.destroyed || (this.upstream !== null && !this.upstream.destroyed)) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.answered();
    this.#tunnels.delete(this);
  }
}

/** The upgrade request's headers for the upstream, from the flat list baton built (names joined lower-case). */
export function tunnelHeaders(list: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i].toLowerCase();
    headers[k] = headers[k] === undefined ? list[i + 1] : `${headers[k]}, ${list[i + 1]}`;
  }
  headers.connection = 'Upgrade';
  headers.upgrade = 'websocket';
  return headers;
}

export class WebSocketTunnels {
  readonly #proxy: ProxyServer;
  readonly #log: Logger;
  readonly #connectTimeout: number;
  readonly #open = new Set<Tunnel>();

  constructor(log: Logger, connectTimeout: number, handshakeTimeout: number) {
    this.#log = log;
    this.#connectTimeout = connectTimeout;
    this.#proxy = createProxyServer({ ws: true, xfwd: false, prependPath: false });
    // http-proxy-3 must never be used without an error listener.
    this.#proxy.on('error', (err, _req, socket) => {
      this.#log.debug({ err }, 'WebSocket tunnel error');
      if (socket !== undefined && 'destroy' in socket) (socket as Socket).destroy();
    });
    // Emitted before http-proxy-3 attaches its own listeners to the upstream request, so ours run first.
    this.#proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
      const tunnel = new Tunnel(socket, proxyReq, this.#open, handshakeTimeout);
      proxyReq.prependListener('upgrade', (res: IncomingMessage, upstreamSocket: Socket) => {
        sanitizeUpgradeResponse(res.headers, true);
        tunnel.switched(upstreamSocket);
      });
      proxyReq.prependListener('response', (res: IncomingMessage) => {
        tunnel.answered();
        sanitizeUpgradeResponse(res.headers, false);
      });
    });
  }

  /** Opens a tunnel to `u`. `headers` is the sanitised header object, `path` the normalised path + query. */
  open(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    u: Upstream,
    headers: Record<string, string>,
    path: string,
  ): void {
    const s = socket as TunnelSocket;
    u.acquire();
    s.batonUpstream = u;
    u.tunnels.add(s);
    s.once('close', onTunnelClose);
    req.url = path;
    req.headers = headers;
    this.#proxy.ws(
      req,
      socket,
      head,
      { target: u.url, agent: u.wsAgent, connectTimeout: this.#connectTimeout },
      (err) => {
        // Before the upstream answered: tell the client, once, and close.
        this.#log.warn({ upstream: u.id, err }, 'WebSocket upstream failed');
        if (!s.destroyed && s.writable && (s as { bytesWritten?: number }).bytesWritten === 0) {
          s.end(rawPage(502, 'upstream_unreachable', 'The upstream could not be reached.'));
        }
      },
    );
  }

  /** Destroys every open tunnel (both sides). Called at shutdown, after the entrypoint's grace period. */
  close(): void {
    for (const t of [...this.#open]) t.destroy();
    this.#open.clear();
    this.#proxy.close();
  }
}
