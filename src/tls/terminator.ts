// TLS termination for an entrypoint. Every accepted connection's first bytes are read here, before any TLS: plain
// HTTP goes on as it is (an entrypoint speaks both, like Traefik's); a TLS ClientHello picks its certificate by SNI
// (and answers ACME TLS-ALPN-01 `acme-tls/1` handshakes with the challenge certificate), is handed back to a real
// TLSSocket, and once the handshake is done goes to HTTP/1.1 or HTTP/2 by ALPN; anything else is closed.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { readClientHello, MAX_CLIENT_HELLO_BYTES } from './client-hello.ts';

export const ACME_TLS_ALPN = 'acme-tls/1';
const ALPN_H2_FIRST = ['h2', 'http/1.1'];
const ALPN_H1_ONLY = ['http/1.1'];
const ALPN_ACME = [ACME_TLS_ALPN];

/** Where a connection goes once it is known what it speaks. */
export interface Handlers {
  /** plain HTTP: the raw socket, and the bytes read from it so far (to be fed to the parser first) */
  plain(socket: Socket, firstBytes: Buffer): void;
  /** TLS done, ALPN http/1.1 (or none) */
  http1(socket: TLSSocket, serverName: string | null): void;
  /** TLS done, ALPN h2 */
  h2(socket: TLSSocket, serverName: string | null): void;
  /** nothing arrived within the timeout: the raw socket, for a 408 */
  timeout(socket: Socket): void;
}

export interface Certificates {
  /** The context for a handshake's SNI name; null refuses the handshake (sniStrict). */
  contextFor(serverName: string | null, options?: string): SecureContext | null;
}

export interface Challenges {
  /** The TLS-ALPN-01 challenge certificate for `serverName`, while an order waits for it. */
  alpnContext(serverName: string): SecureContext | null;
}

export interface TerminatorOptions {
  certificates: Certificates;
  challenges?: Challenges | null;
  /** the whole of it: first bytes, ClientHello and handshake, like the request head's timeout */
  timeoutMs: number;
  /** offer h2 in ALPN */
  h2: boolean;
  /** the tls.options name for an SNI name (the routes' `tls.options`), 'default' when unset */
  optionsFor?: (serverName: string | null) => string | undefined;
}

/** Per connection: collects the first bytes until it is clear what the client speaks. */
class Sniffer {
  readonly #socket: Socket;
  readonly #t: TlsTerminator;
  readonly #handlers: Handlers;
  readonly #timer: NodeJS.Timeout;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(socket: Socket, t: TlsTerminator, handlers: Handlers, timeoutMs: number) {
    this.#socket = socket;
    this.#t = t;
    this.#handlers = handlers;
    this.#timer = setTimeout(this.#onTimeout, timeoutMs);
    socket.on('data', this.#onData);
    socket.once('end', this.#onEnd);
    socket.once('close', this.#onClose);
    socket.on('error', this.#onError);
  }

  #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    const bytes = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#size);
    const hello = readClientHello(bytes, MAX_CLIENT_HELLO_BYTES);
    if (hello.kind === 'need-more') return;
    this.#stop();
    this.#socket.pause();
    if (hello.kind === 'not-tls') {
      this.#handlers.plain(this.#socket, bytes);
    } else if (hello.kind === 'invalid') {
      this.#socket.destroy();
    } else {
      this.#socket.unshift(bytes); // a TLSSocket reads what the socket has buffered first
      this.#t.handshake(this.#socket, hello.serverName, hello.alpn, this.#handlers);
    }
  };

  #onTimeout = (): void => {
    this.#stop();
    if (this.#size === 0) this.#handlers.timeout(this.#socket);
    else this.#socket.destroy(); // a ClientHello that never completes
  };

  /** the client went away (or half-closed) before saying anything: nothing to answer */
  #onEnd = (): void => {
    this.#stop();
    this.#socket.destroy();
  };

  #onClose = (): void => this.#stop();

  #onError = (): void => {
    this.#stop();
    this.#socket.destroy();
  };

  #stop(): void {
    clearTimeout(this.#timer);
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onClose);
    this.#socket.off('error', this.#onError);
  }
}

export class TlsTerminator {
  readonly #o: TerminatorOptions;

  constructor(opts: TerminatorOptions) {
    this.#o = opts;
  }

  /** Reads the connection's first bytes and hands it to one of `handlers`. */
  accept(socket: Socket, handlers: Handlers): void {
    new Sniffer(socket, this, handlers, this.#o.timeoutMs);
  }

  /** The handshake, with the certificate the ClientHello asked for (the sniffed bytes are unread again). */
  handshake(raw: Socket, serverName: string | null, offered: string[], handlers: Handlers): void {
    const o = this.#o;
    let context: SecureContext | null;
    let alpn: string[];
    if (serverName !== null && offered.length === 1 && offered[0] === ACME_TLS_ALPN) {
      context = o.challenges?.alpnContext(serverName) ?? null;
      alpn = ALPN_ACME;
    } else {
      context = o.certificates.contextFor(serverName, o.optionsFor?.(serverName));
      alpn = o.h2 ? ALPN_H2_FIRST : ALPN_H1_ONLY;
    }
    if (context === null) {
      raw.destroy();
      return;
    }
    raw.on('error', () => {}); // the TLS socket reports errors from here on
    const socket = new TLSSocket(raw, { isServer: true, secureContext: context, ALPNProtocols: alpn });
    const timer = setTimeout(() => socket.destroy(), o.timeoutMs);
    // the accepted socket allows half-open connections (Node's HTTP server wants that): a peer that goes away
    // during the handshake must not leave this one open until the timeout
    const peerGone = () => socket.destroy();
    socket.on('error', peerGone);
    socket.once('end', peerGone);
    socket.once('close', () => {
      clearTimeout(timer);
      raw.destroy(); // its server counts it until then
    });
    socket.once('secure', () => {
      clearTimeout(timer);
      socket.off('end', peerGone);
      // a TLSSocket made by hand (not by a tls.Server) keeps saying it is still connecting, and node:http2 would
      // wait for a 'secureConnect' that never comes
      (socket as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      const protocol = socket.alpnProtocol;
      if (protocol === ACME_TLS_ALPN)
        socket.end(); // the validator only looks at the certificate
      else if (protocol === 'h2') {
        // Node's HTTP/2 session ends with its socket; a half-open one would keep every stream of a vanished client
        socket.allowHalfOpen = false;
        handlers.h2(socket, serverName);
      } else handlers.http1(socket, serverName);
    });
  }
}
