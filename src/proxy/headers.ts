// Header hygiene, pure. Requests: hop-by-hop headers and those named in Connection are dropped, framing is
// regenerated, X-Forwarded-* / X-Real-IP are set by baton (client values replaced unless the peer is trusted).
// Responses: hop-by-hop headers and those named in the upstream's Connection are dropped.

/** Always removed from requests (lower-case). `host` and `content-length` are re-added by baton. */
const REQUEST_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'content-length',
  'http2-settings',
]);
/** Set by baton; from untrusted peers removed, from trusted peers kept (XFF appended to). */
const FORWARDED = new Set([
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-real-ip',
  'forwarded',
  // set by baton's middlewares (stripPrefix) or read by upstreams and auth servers: from untrusted peers never passed
  // on, as in Traefik (and their '_' spellings, which CGI-style upstreams read as the '-' ones)
  'x-forwarded-prefix',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-scheme',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-scheme',
  'x_forwarded_for',
  'x_forwarded_host',
  'x_forwarded_proto',
  'x_forwarded_port',
  'x_forwarded_server',
  'x_forwarded_prefix',
  'x_forwarded_uri',
  'x_forwarded_method',
  'x_real_ip',
]);
/** Always removed from responses. */
const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
]);

export interface RequestContext {
  clientIp: string;
  trusted: boolean;
  proto: string;
  /** port the client connected to */
  port: string;
  /** the client's Host header, as sent */
  host: string;
  /** Host sent upstream when not passing the client's (upstream host:port); null = pass the client's Host */
  upstreamHost: string | null;
  /** parsed request Content-Length, -1 when the request has none (chunked or no body) */
  contentLength: number;
  /** HTTP/2 client: its separate cookie headers are joined into one */
  joinCookies?: boolean;
}

const COLON = 58;

/** Tokens of Connection header values, lower-cased; null when there are none besides keep-alive/close/upgrade. */
export function connectionTokens(values: string | readonly string[] | undefined): string[] | null {
  if (values === undefined) return null;
  let tokens: string[] | null = null;
  const list = typeof values === 'string' ? [values] : values;
  for (const v of list) {
    for (const part of v.split(',')) {
      const t = part.trim().toLowerCase();
      if (t === '' || t === 'close' || t === 'keep-alive') continue;
      (tokens ??= []).push(t);
    }
  }
  return tokens;
}

/** Builds the flat [name, value, ...] header list sent upstream from the client's raw headers. */
export function upstreamRequestHeaders(
  raw: readonly string[],
  ctx: RequestContext,
  extraDrop: readonly string[] | null = null,
): string[] {
  const out: string[] = [];
  let named: string[] | null = null;
  // Connection-named headers (rare: look only if a Connection header lists more than keep-alive/close)
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 10 && n.toLowerCase() === 'connection') {
      const t = connectionTokens(raw[i + 1]);
      if (t !== null) (named ??= []).push(...t);
    }
  }
  let xff: string | null = null;
  let xfHost: string | null = null;
  let xfProto: string | null = null;
  let xfPort: string | null = null;
  let realIp: string | null = null;
  let cookies: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.charCodeAt(0) === COLON) continue; // HTTP/2 pseudo-headers (:authority is the Host)
    const lower = name.toLowerCase();
    if (REQUEST_DROP.has(lower)) continue;
    if (ctx.joinCookies && lower === 'cookie') {
      // HTTP/2 sends each cookie apart; an HTTP/1.1 upstream wants one header (RFC 9113 §8.2.3)
      cookies = cookies === null ? raw[i + 1] : `${cookies}; ${raw[i + 1]}`;
      continue;
    }
    if (named !== null && named.includes(lower)) continue;
    if (extraDrop !== null && extraDrop.includes(lower)) continue;
    if (FORWARDED.has(lower)) {
      if (!ctx.trusted) continue;
      const v = raw[i + 1];
      switch (lower) {
        case 'x-forwarded-for':
          xff = xff === null ? v : `${xff}, ${v}`;
          continue;
        case 'x-forwarded-host':
          xfHost ??= v;
          continue;
        case 'x-forwarded-proto':
          xfProto ??= v;
          continue;
        case 'x-forwarded-port':
          xfPort ??= v;
          continue;
        case 'x-real-ip':
          realIp ??= v;
          continue;
      }
    }
    out.push(name, raw[i + 1]);
  }
  if (cookies !== null) out.push('cookie', cookies);
  out.push('host', ctx.upstreamHost ?? ctx.host);
  if (ctx.contentLength >= 0) out.push('content-length', String(ctx.contentLength));
  out.push(
    'x-forwarded-for',
    xff === null ? ctx.clientIp : `${xff}, ${ctx.clientIp}`,
    'x-forwarded-host',
    xfHost ?? ctx.host,
    'x-forwarded-proto',
    xfProto ?? ctx.proto,
    'x-forwarded-port',
    xfPort ?? ctx.port,
    'x-real-ip',
    realIp ?? ctx.clientIp,
  );
  return out;
}

/** A response header that never reaches the client: hop-by-hop, or named in the upstream's Connection. */
function dropFromResponse(name: string, named: readonly string[] | null): boolean {
  return RESPONSE_DROP.has(name) || (named !== null && named.includes(name));
}

/** Builds the flat [name, value, ...] list for the client from undici's parsed (lower-cased) response headers. */
export function clientResponseHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  const named = connectionTokens(headers.connection);
  for (const name in headers) {
    if (dropFromResponse(name, named)) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (const one of v) out.push(name, one);
  }
  return out;
}

/**
 * Sanitises, in place, the upstream's answer to a WebSocket upgrade (Node's parsed, lower-cased headers) before it
 * is relayed: hop-by-hop headers and those named in the upstream's Connection are removed. A 101 (`switched`)
 * keeps its Upgrade and says `Connection: Upgrade`; any other answer ends the connection, so it says
 * `Connection: close` (never keep-alive, never upgrade).
 */
export function sanitizeUpgradeResponse(
  headers: Record<string, string | string[] | undefined>,
  switched: boolean,
): void {
  const upgrade = headers.upgrade;
  const named = connectionTokens(headers.connection);
  for (const name of Object.keys(headers)) {
    if (dropFromResponse(name, named)) delete headers[name];
  }
  if (switched) {
    if (upgrade !== undefined) headers.upgrade = upgrade;
    headers.connection = 'Upgrade';
  } else {
    headers.connection = 'close';
  }
}
