// The security options of Traefik's headers middleware, which Traefik hands to unrolled/secure (v1.0.9,
// secure.go's processRequest and ModifyResponseHeaders), as pure decisions: the allowed-hosts check (a refused host
// is answered 500 "Bad Host", as secure's default handler does), whether the request is HTTPS, and the headers set
// on the response (each replacing the upstream's): Strict-Transport-Security only over HTTPS unless forceSTSHeader,
// Public-Key-Pins only over HTTPS, neither (nor the host check) with isDevelopment.
import { randomBytes } from 'node:crypto';

export interface Secure {
  /** lower-cased host names, without a port; [] allows any host */
  readonly allowedHosts: readonly string[];
  /** headers that may carry the request's host (the first one present wins) */
  readonly hostsProxyHeaders: readonly string[];
  /** [name, value]: the request is HTTPS when one of these headers has exactly that value */
  readonly sslProxyHeaders: ReadonlyArray<readonly [string, string]>;
  readonly isDevelopment: boolean;
  /** headers over HTTP and over HTTPS ($NONCE not yet replaced) */
  readonly http: ReadonlyArray<readonly [string, string]>;
  readonly https: ReadonlyArray<readonly [string, string]>;
  /** whether a CSP holds $NONCE (a fresh nonce per request) */
  readonly nonce: boolean;
}

export interface SecureOptions {
  allowedHosts: readonly string[];
  hostsProxyHeaders: readonly string[];
  sslProxyHeaders: Record<string, string>;
  stsSeconds: number | undefined;
  stsIncludeSubdomains: boolean;
  stsPreload: boolean;
  forceSTSHeader: boolean;
  frameDeny: boolean;
  customFrameOptionsValue: string | undefined;
  contentTypeNosniff: boolean;
  browserXssFilter: boolean;
  customBrowserXSSValue: string | undefined;
  contentSecurityPolicy: string | undefined;
  contentSecurityPolicyReportOnly: string | undefined;
  publicKey: string | undefined;
  referrerPolicy: string | undefined;
  permissionsPolicy: string | undefined;
  isDevelopment: boolean;
}

const NONCE = '$NONCE';

/** A host name without its port, lower-cased ("[::1]:8080" → "[::1]", "A.test:80" → "a.test"). */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  // a bare IPv6 address (several colons) has no port
  return colon !== -1 && h.indexOf(':', colon + 1) === -1 ? h.slice(0, colon) : h;
}

/** The headers secure sets, in its order, for a request over HTTPS (`ssl`) or not. */
function headersFor(o: SecureOptions, ssl: boolean): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const sts = o.stsSeconds ?? 0;
  if (sts !== 0 && (ssl || o.forceSTSHeader) && !o.isDevelopment) {
    const sub = (o.stsIncludeSubdomains ? '; includeSubDomains' : '') + (o.stsPreload ? '; preload' : '');
    out.push(['Strict-Transport-Security', `max-age=${sts}${sub}`]);
  }
  if (o.customFrameOptionsValue) out.push(['X-Frame-Options', o.customFrameOptionsValue]);
  else if (o.frameDeny) out.push(['X-Frame-Options', 'DENY']);
  if (o.contentTypeNosniff) out.push(['X-Content-Type-Options', 'nosniff']);
  if (o.customBrowserXSSValue) out.push(['X-XSS-Protection', o.customBrowserXSSValue]);
  else if (o.browserXssFilter) out.push(['X-XSS-Protection', '1; mode=block']);
  if (o.publicKey && ssl && !o.isDevelopment) out.push(['Public-Key-Pins', o.publicKey]);
  if (o.contentSecurityPolicy) out.push(['Content-Security-Policy', o.contentSecurityPolicy]);
  if (o.contentSecurityPolicyReportOnly) {
    out.push(['Content-Security-Policy-Report-Only', o.contentSecurityPolicyReportOnly]);
  }
  if (o.referrerPolicy) out.push(['Referrer-Policy', o.referrerPolicy]);
  if (o.permissionsPolicy) out.push(['Permissions-Policy', o.permissionsPolicy]);
  return out;
}

export function compileSecure(o: SecureOptions): Secure {
  return {
    allowedHosts: o.allowedHosts.map(hostName),
    hostsProxyHeaders: o.hostsProxyHeaders,
    sslProxyHeaders: Object.entries(o.sslProxyHeaders),
    isDevelopment: o.isDevelopment,
    http: headersFor(o, false),
    https: headersFor(o, true),
    nonce: `${o.contentSecurityPolicy ?? ''}${o.contentSecurityPolicyReportOnly ?? ''}`.includes(NONCE),
  };
}

/**
 * The request's host for the allowed-hosts check: the first non-empty hostsProxyHeaders header, else `host` (the
 * request's, or the Host customRequestHeaders set). `get` reads a request header's first field ('' when absent).
 */
export function requestHost(s: Secure, host: string, get: (name: string) => string): string {
  for (const name of s.hostsProxyHeaders) {
    const v = get(name);
    if (v !== '') return v;
  }
  return host;
}

/**
 * Whether the host may be served. secure compares the whole Host (port included) case-insensitively; baton's
 * request host has no port, so host names are compared without their ports (a deviation: "a.test:8080" in
 * allowedHosts also allows a.test on another port). An empty host is refused, as in secure.
 */
export function hostAllowed(s: Secure, host: string): boolean {
  if (s.allowedHosts.length === 0 || s.isDevelopment) return true;
  const name = hostName(host);
  return name !== '' && s.allowedHosts.includes(name);
}

/** secure's isSSL: a TLS connection, or a request header of sslProxyHeaders with exactly its value. */
export function isSSL(s: Secure, scheme: 'http' | 'https', get: (name: string) => string): boolean {
  if (scheme === 'https') return true;
  for (const [name, value] of s.sslProxyHeaders) if (get(name) === value) return true;
  return false;
}

/** secure's nonce: 16 random bytes, base64 without padding. */
export function cspNonce(): string {
  return randomBytes(16).toString('base64').replace(/=+$/, '');
}

/** The security headers of one response ($NONCE → 'nonce-…' when `nonce` is given). */
export function secureHeaders(s: Secure, ssl: boolean, nonce?: string): ReadonlyArray<readonly [string, string]> {
  const list = ssl ? s.https : s.http;
  if (nonce === undefined || !s.nonce) return list;
  const value = `'nonce-${nonce}'`;
  return list.map(([n, v]) => (n.startsWith('Content-Security-Policy') ? [n, v.replaceAll(NONCE, value)] : [n, v]));
}

/** The answer to a refused host (secure's defaultBadHostHandler: http.Error(w, "Bad Host", 500)). */
export const BAD_HOST = {
  status: 500,
  headers: [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['X-Content-Type-Options', 'nosniff'],
  ] as ReadonlyArray<readonly [string, string]>,
  body: 'Bad Host\n',
};
