// The HTTP servers behind an entrypoint's listener: Node's HTTP/1.1 server (which also owns the listening socket)
// and an HTTP/2 server that only ever receives TLS sockets whose ALPN chose h2. Their limits are set here.
import { createServer, type Server } from 'node:http';
import { createServer as createH2Server, type Http2Server, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Http2Config, Limits, Timeouts } from '../config/schema.ts';
import { BatonH2Request, BatonH2Response, BatonRequest, BatonResponse } from './exchange.ts';

/** HTTP/2 abuse bounds (beyond maxConcurrentStreams from the config): header pairs per block, settings per
 *  frame, pings in flight, session memory (MB), invalid frames and refused streams before the session goes. */
const H2_MAX_HEADER_PAIRS = 256;
const H2_MAX_SETTINGS = 32;
const H2_MAX_OUTSTANDING_PINGS = 10;
const H2_MAX_SESSION_MEMORY_MB = 10;
const H2_MAX_INVALID_FRAMES = 100;
const H2_MAX_REJECTED_STREAMS = 100;
/** RST_STREAM rate limit per session (rapid reset, CVE-2023-44487): a burst, then streams per second */
const H2_STREAM_RESET_BURST = 100;
const H2_STREAM_RESET_RATE = 33;

export type Http1Server = Server<typeof BatonRequest, typeof BatonResponse>;

export function http1Server(t: Timeouts, limits: Limits): Http1Server {
  const server = createServer({
    IncomingMessage: BatonRequest,
    ServerResponse: BatonResponse,
    headersTimeout: t.header,
    requestTimeout: t.request,
    keepAliveTimeout: t.idle,
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(t.header / 2))),
    maxHeaderSize: limits.maxHeaderSize,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    noDelay: true,
    insecureHTTPParser: false,
  });
  server.timeout = t.socket;
  return server;
}

/** Sets the client timeouts on running servers (a config reload): Node reads them for each new request and at each
 *  connection check, so keep-alive connections open now take them too. */
export function retime(server: Http1Server, h2: Http2Server, t: Timeouts): void {
  server.headersTimeout = t.header;
  server.requestTimeout = t.request;
  server.keepAliveTimeout = t.idle;
  server.timeout = t.socket;
  h2.setTimeout(t.socket);
}

export function h2Server(t: Timeouts, limits: Limits, h2: Http2Config): Http2Server {
  const server = createH2Server({
    Http2ServerRequest: BatonH2Request,
    Http2ServerResponse: BatonH2Response,
    settings: {
      maxConcurrentStreams: h2.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderSize,
      enablePush: false,
    },
    maxHeaderListPairs: H2_MAX_HEADER_PAIRS,
    maxSettings: H2_MAX_SETTINGS,
    maxOutstandingPings: H2_MAX_OUTSTANDING_PINGS,
    maxSessionMemory: H2_MAX_SESSION_MEMORY_MB,
    maxSessionInvalidFrames: H2_MAX_INVALID_FRAMES,
    maxSessionRejectedStreams: H2_MAX_REJECTED_STREAMS,
    streamResetBurst: H2_STREAM_RESET_BURST,
    streamResetRate: H2_STREAM_RESET_RATE,
  } as Parameters<typeof createH2Server>[0]);
  // a session on which nothing moves for `socket` is closed, like an HTTP/1.1 connection
  server.setTimeout(t.socket);
  return server;
}

/** Sessions of an HTTP/2 server, for a graceful stop (GOAWAY) and a final teardown. */
export class H2Sessions {
  /** each session and the TLS socket it runs on */
  readonly #sessions = new Map<Http2Session, Socket>();

  track(session: Http2Session, socket: Socket): void {
    this.#sessions.set(session, socket);
    session.once('close', () => this.#sessions.delete(session));
    session.on('error', () => session.destroy());
  }

  /** A session on which nothing moved for `timeouts.socket` (e.g. a client that stopped reading): its socket is
   *  destroyed outright — Node's own session.destroy() ends it gracefully and would wait for writes that can never
   *  finish. */
  timedOut(session: Http2Session): void {
    this.#sessions.get(session)?.destroy();
    session.destroy();
  }

  /** GOAWAY: no new streams; the ones running finish. */
  closeGracefully(): void {
    for (const s of this.#sessions.keys()) s.close();
  }

  destroyAll(): void {
    for (const [session, socket] of this.#sessions) {
      socket.destroy();
      session.destroy();
    }
    this.#sessions.clear();
  }
}
