// The middleware and plugin API: what a middleware sees of a request and its response, and what it may do. Every
// built-in middleware (Traefik's redirectScheme, basicAuth, compress, ...) is written against these types, and so
// is a user's TypeScript plugin (`import type { Plugin } from 'baton'`). Types only: the proxy implements them.
//
//   onRequest(ctx)       in the order the middlewares are listed, after routing, before an upstream is picked:
//                        read the request, rewrite its path, query and headers, choose an upstream or another
//                        service, or answer it (ctx.respond) — then the middlewares after it do not run
//   onResponse(ctx, res) in reverse order, for every middleware whose onRequest passed the request on: the
//                        upstream's response, an answer a later middleware made, or baton's own error page
//                        (res.error says which)
//   onDone(ctx)          once per request whose onRequest passed it on, when it is over, however it ended
//
// A middleware that answers (ctx.respond) or fails in onRequest gets neither onResponse nor onDone for that request:
// it did not pass it on (an inFlightReq that refuses a request has nothing to count down).
//
// Any hook may return a promise. A hook that throws or rejects answers 500 (X-Baton-Error: plugin_error).

import type { Transform } from 'node:stream';

/** Header fields by case-insensitive name. Values are checked: a CR, LF or NUL throws, and so does a name that is
 *  not an HTTP token. Request framing (Content-Length, Transfer-Encoding, Connection, ...) cannot be set. */
export interface HeaderMap {
  /** the value; several fields of that name are joined with ", " (Set-Cookie: use getAll) */
  get(name: string): string | undefined;
  getAll(name: string): string[];
  has(name: string): boolean;
  /** replaces every field of that name */
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  delete(name: string): void;
  /** [name, value] of every field, in order (names as sent) */
  entries(): IterableIterator<[string, string]>;
}

export interface TlsInfo {
  /** the SNI name of the handshake, null when the client sent none */
  serverName: string | null;
}

/** An upstream of the routed service that takes traffic now. */
export interface UpstreamInfo {
  /** stable id (the admin API's) */
  readonly id: string;
  readonly url: string;
  /** Docker container id, when the upstream is a container */
  readonly containerId: string | null;
  readonly inflight: number;
}

/** The request, as a middleware sees it. */
export interface RequestContext {
  readonly method: string;
  /** the request's host, lower-case, without the port */
  readonly host: string;
  /** the path sent upstream (normalised, without the query); rewritable */
  path: string;
  /** the query sent upstream, without '?' ('' for none); rewritable */
  query: string;
  /** the request's headers as they will be sent upstream: X-Forwarded-* already set by baton */
  readonly headers: HeaderMap;
  /** the address of the peer that connected */
  readonly remoteAddr: string;
  /** X-Forwarded-For as the peer sent it, when the entrypoint trusts that peer (forwardedHeaders.trustedIPs);
   *  [] otherwise, so that a client cannot choose the address a middleware acts on */
  readonly forwardedFor: readonly string[];
  /** "https" over TLS, else "http" */
  readonly scheme: 'http' | 'https';
  readonly tls: TlsInfo | null;
  readonly entrypoint: string;
  /** the routed service's name (after useService: the other service) */
  readonly service: string;
  /** the upstreams of the service that take traffic now */
  readonly upstreams: readonly UpstreamInfo[];
  /** whether the request has a body (a Content-Length above 0, chunked, or an HTTP/2 stream not ended) */
  readonly hasBody: boolean;
  /** performance.now() when the request was routed */
  readonly startedAt: number;
  /** per-request storage between a middleware's hooks */
  readonly data: Map<unknown, unknown>;
  /** Send the request to this upstream of the service first (a retry may still go to another). */
  useUpstream(id: string): void;
  /** Send the request to another service (by name); false if there is no such service. */
  useService(name: string): boolean;
  /** Answer the request here: no upstream is contacted and the middlewares after this one do not run. */
  respond(status: number, headers?: Record<string, string>, body?: string | Buffer): void;
  /** The request body, read into memory (at most `limit` bytes; more: rejects with code BATON_BODY_TOO_LARGE and the
   *  request is answered 413). The upstream then gets it from memory, so a retry can resend it. */
  readBody(limit: number): Promise<Buffer>;
  /** Retry a failed attempt up to `attempts` times in all, waiting `initialInterval` ms, doubled each time (never
   *  what baton's safe-retry rules forbid: a request that may have reached the upstream is retried only when it is
   *  idempotent and its body was not streamed). */
  retry(attempts: number, initialInterval: number): void;
}

/** The response, as a middleware sees it in onResponse. */
export interface ResponseContext {
  status: number;
  readonly headers: HeaderMap;
  /** null for an upstream's response; baton's error code (e.g. "upstream_unreachable", "no_healthy_upstream") for a
   *  page baton made itself, "middleware" for an answer a middleware made */
  readonly error: string | null;
  /** whether a body follows (false for HEAD, 204, 304) */
  readonly hasBody: boolean;
  /** Stream the body through this transform (e.g. a compressor); set the headers that go with it yourself. */
  transformBody(t: Transform): void;
  /** Replace the response by the answer of another service to GET `path` (the errors middleware), sent with the
   *  request's headers (or only those named in `headers`); the status stays this one's unless `status` is given.
   *  False if that service has no upstream taking traffic. */
  replaceWith(service: string, path: string, opts?: { status?: number; headers?: readonly string[] }): boolean;
}

/** One middleware's hooks on one route. */
export interface Handler {
  onRequest?(ctx: RequestContext): void | Promise<void>;
  onResponse?(ctx: RequestContext, res: ResponseContext): void | Promise<void>;
  onDone?(ctx: RequestContext): void;
}

/** What a middleware is given when it is created. */
export interface PluginEnv {
  /** the middleware's name (e.g. "auth@docker", "geo@file") */
  readonly name: string;
  /** a logger for it */
  readonly log: PluginLog;
  /** aborted when the middleware is no longer used (its timers and sockets go with it) */
  readonly signal: AbortSignal;
  /** resolves relative paths (e.g. usersFile) against the config file's folder */
  resolvePath(path: string): string;
}

export interface PluginLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * A middleware type: a user's plugin module exports one as its default export. `options` validates the options the
 * config gives (throw an Error saying what is wrong: the routes using it are refused); `create` makes the hooks for
 * one configured middleware, once, not per request.
 */
export interface Plugin<O = Record<string, unknown>> {
  /** `env.resolvePath` resolves a path option against the config file's folder */
  options?(raw: Record<string, unknown>, env: { resolvePath(path: string): string }): O;
  create(options: O, env: PluginEnv): Handler;
}
