// An entrypoint's connections before any request: the connection cap (a fast 503 beyond it), who the peer is
// (client IP, and whether its X-Forwarded-* headers are trusted), and the answer to requests Node's parser refused.
import type { Server } from 'node:http';
import { BlockList, isIPv4, isIPv6, type Socket } from 'node:net';
import { rawPage } from './pages.ts';

/** What an entrypoint knows of a connection's peer, for every request on it. */
export interface ConnInfo {
  clientIp: string;
  /** the peer's X-Forwarded-* headers are kept and appended to */
  trusted: boolean;
  /** the local port (X-Forwarded-Port) */
  port: string;
  /** spoken over TLS (X-Forwarded-Proto: https; the TLS routes) */
  tls: boolean;
  /** the TLS handshake's SNI name */
  serverName: string | null;
}

const kConn = Symbol('baton.conn');
type BatonSocket = Socket & { [kConn]?: ConnInfo };

export function connInfo(socket: Socket): ConnInfo {
  return (socket as BatonSocket)[kConn]!;
}

/** The same peer, now spoken to over TLS on `tlsSocket` (which wraps the accepted socket). */
export function securedConnInfo(raw: Socket, tlsSocket: Socket, serverName: string | null): void {
  (tlsSocket as BatonSocket)[kConn] = { ...connInfo(raw), tls: true, serverName };
}

export interface AdmissionOptions {
  maxConnections: number;
  trustedIPs: readonly string[];
  /** trust every peer */
  insecure: boolean;
  /** true once the entrypoint is closing: new connections are refused like over the cap */
  closing: () => boolean;
}

/** Counts an entrypoint's connections and admits them up to the cap. */
export class Admission {
  rejected = 0;
  #count = 0;
  readonly #opts: AdmissionOptions;
  readonly #trusted: BlockList | null;

  constructor(opts: AdmissionOptions) {
    this.#opts = opts;
    this.#trusted = opts.trustedIPs.length > 0 ? trustedList(opts.trustedIPs) : null;
  }

  get connections(): number {
    return this.#count;
  }

  /** Node's own connection listener runs only for connections under the cap; the rest get a fast 503. An admitted
   *  connection goes to `accept`, with `http1` to hand it (or the TLS socket wrapping it) to Node's HTTP/1 parser. */
  wrap(server: Server, accept: (socket: Socket, http1: (s: Socket) => void) => void): void {
    const [nodeListener] = server.listeners('connection') as Array<(this: Server, s: Socket) => void>;
    server.removeAllListeners('connection');
    server.on('connection', (socket: BatonSocket) => {
      if (this.#count >= this.#opts.maxConnections || this.#opts.closing()) {
        this.rejected++;
        socket.on('error', () => {});
        socket.end(rawPage(503, 'too_many_connections', 'baton is at its connection limit; try again shortly.'));
        socket.resume();
        setTimeout(() => socket.destroy(), 1000).unref();
        return;
      }
      this.#count++;
      socket.once('close', () => this.#count--);
      let ip = socket.remoteAddress ?? '';
      if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) ip = ip.slice(7);
      const port = String(socket.localPort ?? '');
      socket[kConn] = { clientIp: ip, trusted: this.#isTrusted(ip), port, tls: false, serverName: null };
      accept(socket, (s) => nodeListener.call(server, s));
    });
  }

  #isTrusted(ip: string): boolean {
    if (this.#opts.insecure) return true;
    return this.#trusted !== null && ip !== '' && this.#trusted.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  }
}

function trustedList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/');
    const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

const REQUEST_TIMEOUT_PAGE = rawPage(408, 'request_timeout', 'The request did not arrive in time.');

/** A connection on which no byte arrived in time: the 408 Node's parser would have sent. */
export function requestTimedOut(socket: Socket): void {
  socket.on('error', () => {});
  socket.end(REQUEST_TIMEOUT_PAGE);
  socket.destroySoon();
}

/** Requests Node's parser refused (bad framing or bytes, oversize head, header/request timeout): baton's own
 *  page, then close. Bytes after a `Connection: close` request are ignored so earlier answers still go out. */
export function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  const code = err.code ?? '';
  if (code === 'HPE_CLOSED_CONNECTION') return;
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (code === 'ECONNRESET' || !socket.writable || (inProgress != null && inProgress.headersSent)) {
    socket.destroy();
    return;
  }
  let page: string;
  if (code === 'HPE_HEADER_OVERFLOW') {
    page = rawPage(431, 'header_too_large', 'The request head is larger than the limit.');
  } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') {
    page = REQUEST_TIMEOUT_PAGE;
  } else {
    page = rawPage(400, 'bad_request', 'The request is malformed.');
  }
  socket.end(page);
  socket.destroySoon();
}
