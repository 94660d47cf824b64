// forwardAuth's header decisions, pure, as Traefik's pkg/middlewares/auth/forward.go makes them: the headers of the
// request to the auth server (writeHeader / oldWriteHeader), the auth server's headers copied onto the upstream
// request after a 2xx (authResponseHeaders, authResponseHeadersRegex), the headers relayed to the client otherwise,
// and the cookie merge of addAuthCookiesToResponse. Names are handled as Go's http.Header does: canonical keys.
import { isToken } from '../header-names.ts';

/** Go's textproto.CanonicalMIMEHeaderKey: "x-auth-user" → "X-Auth-User" (a name with a non-token byte unchanged). */
export function canonicalHeaderKey(name: string): string {
  if (!isToken(name)) return name;
  let out = '';
  let upper = true;
  for (const c of name) {
    out += upper ? c.toUpperCase() : c.toLowerCase();
    upper = c === '-';
  }
  return out;
}

/** Traefik's forwardedheaders.XHeadersSet: the X-headers Traefik manages. */
export const X_HEADERS = [
  'X-Forwarded-Proto',
  'X-Forwarded-Scheme',
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Port',
  'X-Forwarded-Server',
  'X-Forwarded-Uri',
  'X-Forwarded-Method',
  'X-Forwarded-Prefix',
  'X-Forwarded-Tls-Client-Cert',
  'X-Forwarded-Tls-Client-Cert-Info',
  'X-Scheme',
  'X-Real-Ip',
];
const X_SET = new Set(X_HEADERS);
/** The ones baton's entrypoint replaces unless the peer is trusted (src/proxy/headers.ts): safe to pass on. */
const VETTED = new Set([
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
  'X-Forwarded-Port',
  'X-Forwarded-Server',
  'X-Real-Ip',
]);

/** Traefik's isManagedXHeader: one of X_HEADERS, '_' read as '-' (X_Forwarded_Uri). */
export function isManagedXHeader(canonical: string): boolean {
  if (X_SET.has(canonical)) return true;
  return canonical.includes('_') && X_SET.has(canonicalHeaderKey(canonical.replaceAll('_', '-')));
}

/** Never copied to the auth request: hop-by-hop (Traefik's hopHeaders) and what Go's client writes itself. */
const NOT_SENT = new Set(['Connection', 'Keep-Alive', 'Te', 'Trailers', 'Transfer-Encoding', 'Upgrade']);
['Host', 'Content-Length', 'Trailer', 'Proxy-Connection'].forEach((h) => NOT_SENT.add(h));

export interface AuthRequestInput {
  /** the request's headers (ctx.headers: X-Forwarded-* set by baton) */
  headers: Iterable<[string, string]>;
  method: string;
  scheme: 'http' | 'https';
  /** the client's Host (with its port, if it gave one) */
  authority: string;
  /** path and query as sent upstream (Go's RequestURI) */
  uri: string;
  /** the peer's address */
  remoteAddr: string;
  /** X-Forwarded-For as a trusted peer sent it, [] otherwise (ctx.forwardedFor) */
  forwardedFor: readonly string[];
  /** trustForwardHeader: undefined is Traefik's legacy behaviour (oldWriteHeader) */
  trust: boolean | undefined;
  /** authRequestHeaders: when not empty, only these are sent */
  allowed: readonly string[];
}

type Fields = Map<string, string[]>;

function add(h: Fields, name: string, value: string): void {
  const k = canonicalHeaderKey(name);
  const v = h.get(k);
  if (v === undefined) h.set(k, [value]);
  else v.push(value);
}

/** Go's net.SplitHostPort's port, '' when there is none. */
function portOf(authority: string): string {
  const m = /^(?:\[[^\]]*\]|[^:]*):(\d*)$/.exec(authority);
  return m === null ? '' : m[1];
}

/**
 * The headers sent to the auth server, flat [name, value, ...], as Traefik's writeHeader (trust set) or
 * oldWriteHeader (trust unset). Baton's own rule on top (Traefik's entrypoint strips these from untrusted peers,
 * baton's does not): the X-headers baton's entrypoint does not vet (X-Forwarded-Uri, -Method, -Tls-Client-Cert*,
 * -Scheme, X-Scheme, '_' variants) are passed on only from a peer shown trusted (it sent X-Forwarded-For, so
 * ctx.forwardedFor is not empty); otherwise baton's own values are sent. X-Forwarded-Prefix, which stripPrefix
 * sets, is passed on.
 */
export function authRequestHeaders(input: AuthRequestInput): string[] {
  const h: Fields = new Map();
  const peerTrusted = input.forwardedFor.length > 0;
  for (const [name, value] of input.headers) {
    const k = canonicalHeaderKey(name);
    if (NOT_SENT.has(k)) continue;
    if (input.trust === false && isManagedXHeader(k)) continue;
    if (isManagedXHeader(k) && !VETTED.has(k) && k !== 'X-Forwarded-Prefix' && !peerTrusted) continue;
    add(h, k, value);
  }
  // baton's X-Forwarded-For already ends with the peer: rebuilt below from what the peer sent
  h.delete('X-Forwarded-For');
  if (input.trust === true && peerTrusted) h.set('X-Forwarded-For', [input.forwardedFor.join(', ')]);

  let out: Fields = h;
  const allowed = input.trust === true && input.allowed.length > 0 ? [...input.allowed, ...X_HEADERS] : input.allowed;
  if (allowed.length > 0) {
    out = new Map();
    for (const name of allowed) {
      const k = canonicalHeaderKey(name);
      const v = h.get(k);
      if (v !== undefined && v.length > 0) out.set(k, v);
    }
  }

  const ip = input.remoteAddr.replace(/%.*$/, '');
  if (input.trust === undefined) {
    out.set('X-Forwarded-For', [ip]);
    out.set('X-Forwarded-Proto', [input.scheme]);
    out.set('X-Forwarded-Method', [input.method]);
    out.set('X-Forwarded-Host', [input.authority]);
    out.set('X-Forwarded-Uri', [input.uri]);
  } else {
    const prior = out.get('X-Forwarded-For');
    out.set('X-Forwarded-For', [prior === undefined ? ip : `${prior.join(', ')}, ${ip}`]);
    if (!out.has('X-Forwarded-Method')) out.set('X-Forwarded-Method', [input.method]);
    if (!out.has('X-Forwarded-Proto')) out.set('X-Forwarded-Proto', [input.scheme]);
    if (!out.has('X-Forwarded-Port')) {
      const proto = out.get('X-Forwarded-Proto')?.[0];
      const port = portOf(input.authority);
      const secure = proto === 'https' || proto === 'wss' || input.scheme === 'https';
      out.set('X-Forwarded-Port', [port !== '' ? port : secure ? '443' : '80']);
    }
    if (!out.has('X-Forwarded-Host')) out.set('X-Forwarded-Host', [input.authority]);
    if (!out.has('X-Forwarded-Uri')) out.set('X-Forwarded-Uri', [input.uri]);
  }

  const flat: string[] = [];
  for (const [k, vs] of out) for (const v of vs) flat.push(k, v);
  return flat;
}

/**
 * The client's Host with its port: baton's X-Forwarded-Host (the client's Host, or a trusted peer's) when it names
 * the same host as ctx.host, else ctx.host (which has no port).
 */
export function requestAuthority(xForwardedHost: string | undefined, host: string): string {
  if (xForwardedHost === undefined) return host;
  const first = xForwardedHost.split(',')[0].trim();
  const name = first.startsWith('[') ? first.slice(0, first.indexOf(']') + 1) : first.replace(/:\d*$/, '');
  const bare = (s: string) => s.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return bare(name) === bare(host) ? first : host;
}

/** Response headers a middleware never sets (framing and hop-by-hop; the proxy writes its own). */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade']);
['content-length', 'host', 'proxy-connection'].forEach((h) => NOT_COPIED.add(h));

/** undici's parsed response headers (lower-case names). */
export type RawHeaders = Record<string, string | string[] | undefined>;

function values(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

/** Which header names go where: the names of `authResponseHeaders` and `authResponseHeadersRegex`. */
export interface CopyRule {
  names: readonly string[];
  regex: RegExp | null;
}

/** The operations that copy a 2xx auth response's headers onto the upstream request, in order: Traefik's loop
 *  (delete each listed header, then set the auth server's values), then the regex's (delete every matching
 *  header, then set every matching one of the auth server's). Names as Go's canonical keys. */
export function copyOps(
  requestNames: Iterable<string>,
  auth: RawHeaders,
  rule: CopyRule,
): Array<{ op: 'delete'; name: string } | { op: 'append'; name: string; value: string }> {
  const ops: Array<{ op: 'delete'; name: string } | { op: 'append'; name: string; value: string }> = [];
  for (const n of rule.names) {
    const k = canonicalHeaderKey(n);
    if (NOT_COPIED.has(k.toLowerCase())) continue;
    ops.push({ op: 'delete', name: k });
    for (const value of values(auth[k.toLowerCase()])) ops.push({ op: 'append', name: k, value });
  }
  const re = rule.regex;
  if (re !== null) {
    const seen = new Set<string>();
    for (const n of requestNames) {
      const k = canonicalHeaderKey(n);
      if (seen.has(k) || NOT_COPIED.has(k.toLowerCase()) || !re.test(k)) continue;
      seen.add(k);
      ops.push({ op: 'delete', name: k });
    }
    for (const [name, v] of Object.entries(auth)) {
      const k = canonicalHeaderKey(name);
      if (NOT_COPIED.has(name.toLowerCase()) || !re.test(k)) continue;
      ops.push({ op: 'delete', name: k });
      for (const value of values(v)) ops.push({ op: 'append', name: k, value });
    }
  }
  return ops;
}

/** The auth server's headers for the client when it refused (not 2xx): all but hop-by-hop and framing, several
 *  values joined with ", ", Set-Cookie kept apart. */
export function refusalHeaders(auth: RawHeaders): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  let cookies: string[] = [];
  for (const [name, v] of Object.entries(auth)) {
    if (NOT_COPIED.has(name) || v === undefined) continue;
    if (name === 'set-cookie') cookies = values(v);
    else headers[canonicalHeaderKey(name)] = values(v).join(', ');
  }
  return { headers, cookies };
}

/** At most this many Set-Cookie lines of a refusal reach the client. */
export const MAX_REFUSAL_COOKIES = 64;

/** "set-cookie" in its i-th spelling (i's bits choose upper-case letters): distinct keys for one header name. */
function spelling(name: string, i: number): string {
  let bit = 0;
  let out = '';
  for (const c of name) {
    if (!/[a-z]/.test(c)) out += c;
    else out += (i >> bit++) & 1 ? c.toUpperCase() : c;
  }
  return out;
}

/** The refusal's headers with its Set-Cookie lines: respond() takes one value per key and sends every key, so each
 *  cookie gets a key of its own, spelled in another case (header names are case-insensitive; baton sends them
 *  lower-cased). */
export function withCookies(headers: Record<string, string>, cookies: readonly string[]): Record<string, string> {
  const out = { ...headers };
  cookies.slice(0, MAX_REFUSAL_COOKIES).forEach((c, i) => (out[spelling('set-cookie', i)] = c));
  return out;
}

/** The Location to send: Go's Response.Location() (relative to the auth server's address), or as given with
 *  preserveLocationHeader. null: none; undefined: it does not parse (Traefik answers 500). */
export function refusalLocation(
  location: string | undefined,
  address: string,
  preserve: boolean,
): string | null | undefined {
  if (location === undefined || location === '') return null;
  if (preserve) return location;
  try {
    return new URL(location, address).href;
  } catch {
    return undefined;
  }
}

/** A Set-Cookie line's cookie name (Go's readSetCookies), null when it is not a valid cookie. */
export function cookieName(line: string): string | null {
  const first = line.trim().split(';')[0];
  const eq = first.indexOf('=');
  if (eq === -1) return null;
  const name = first.slice(0, eq).trim();
  return isToken(name) ? name : null;
}

/** addAuthCookiesToResponse: the response's Set-Cookie lines with the listed names replaced by the auth server's
 *  (Traefik's buildModifier; invalid cookies are dropped as Go's parser drops them). */
export function mergeCookies(
  response: readonly string[],
  auth: readonly string[],
  names: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const c of response) {
    const n = cookieName(c);
    if (n !== null && !names.has(n)) out.push(c);
  }
  for (const c of auth) {
    const n = cookieName(c);
    if (n !== null && names.has(n)) out.push(c);
  }
  return out;
}

/** Go's http.Redirect Location for authSigninURL: non-ASCII hex-escaped; a relative URL resolved against the
 *  request's path. */
export function signinLocation(url: string, requestPath: string): string {
  const escaped = url.replace(/[^\x00-\x7f]+/g, (s) => encodeURIComponent(s));
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(escaped) || escaped.startsWith('//')) return escaped;
  const u = new URL(escaped, `http://h${requestPath.startsWith('/') ? requestPath : `/${requestPath}`}`);
  return `${u.pathname}${u.search}${u.hash}`;
}

/** Go's http.Redirect body for GET. */
export function redirectBody(location: string): string {
  const html = location.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;' })[c] ?? '&#39;',
  );
  return `<a href="${html}">Found</a>.\n\n`;
}
