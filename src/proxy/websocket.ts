// WebSocket tunnelling through http-proxy-3's ws(), wrapped so that baton's rules apply: only valid RFC 6455
// upgrades are forwarded, headers get the same hygiene as plain requests, each open tunnel counts as one
// in-flight request on its upstream (so drains wait for it, bounded), and either side closing closes the other.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import type { Upstream } from '../upstream/upstream.ts';
import { rawPage } from './pages.ts';

const KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

/** Null if the request is a valid WebSocket opening handshake, else the reason it is not. */
export function invalidUpgrade(req: IncomingMessage): string | null {
  if (req.method !== 'GET') return 'WebSocket upgrades must use GET';
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined || upgrade.trim().toLowerCase() !== 'websocket') return 'only "Upgrade: websocket" is supported';
  const connection = req.headers.connection ?? '';
  if (!connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade')) return 'Connection must include "upgrade"';
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

export class WebSocketTunnels {
  readonly #proxy: ProxyServer;
  readonly #log: Logger;
  readonly #connectTimeout: number;

  constructor(log: Logger, connectTimeout: number) {
    this.#log = log;
    this.#connectTimeout = connectTimeout;
    this.#proxy = createProxyServer({ ws: true, xfwd: false, prependPath: false });
    // http-proxy-3 must never be used without an error listener.
    this.#proxy.on('error', (err, _req, socket) => {
      this.#log.debug({ err }, 'WebSocket tunnel error');
      if (socket !== undefined && 'destroy' in socket) (socket as Socket).destroy();
    });
  }

  /** Opens a tunnel to `u`. `headers` is the sanitised header object, `path` the normalised path + query. */
  open(req: IncomingMessage, socket: Socket, head: Buffer, u: Upstream, headers: Record<string, string>, path: string): void {
    const s = socket as TunnelSocket;
    u.acquire();
    s.batonUpstream = u;
    u.tunnels.add(s);
    s.once('close', onTunnelClose);
    req.url = path;
    req.headers = headers;
    this.#proxy.ws(req, socket, head, { target: u.url, agent: u.wsAgent, connectTimeout: this.#connectTimeout }, (err) => {
      // Before the upstream answered: tell the client, once, and close.
      this.#log.warn({ upstream: u.id, err: { code: (err as { code?: string }).code, message: err.message } }, 'WebSocket upstream failed');
      if (!s.destroyed && s.writable && (s as { bytesWritten?: number }).bytesWritten === 0) {
        s.end(rawPage(502, 'upstream_unreachable', 'The upstream could not be reached.'));
      }
    });
  }

  close(): void {
    this.#proxy.close();
  }
}
