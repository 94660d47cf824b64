// Traefik's CORS options of the headers middleware (pkg/middlewares/headers/header.go), as pure decisions: whether
// a request is a preflight and the headers of its answer (Traefik answers it itself: 200, no body, nothing sent
// upstream), and the headers added to every other response. Lists are joined with "," (no space), as Traefik does;
// a "*" in accessControlAllowHeaders or accessControlAllowMethods with accessControlAllowCredentials echoes the
// request's Access-Control-Request-Headers / -Method, and a "*" origin with credentials echoes the Origin.

export interface Cors {
  /** any CORS option set (Traefik's HasCorsHeadersDefined): preflights are answered only then */
  readonly enabled: boolean;
  readonly allowCredentials: boolean;
  readonly allowHeaders: readonly string[];
  readonly allowMethods: readonly string[];
  readonly originList: readonly string[];
  readonly originRegexes: readonly RegExp[];
  readonly exposeHeaders: readonly string[];
  /** seconds; undefined: no Access-Control-Max-Age */
  readonly maxAge: number | undefined;
  readonly addVary: boolean;
}

/** Traefik's matchOrigin: the Access-Control-Allow-Origin value for `origin` ('' when the request has none), or
 *  null when it is not allowed. The list is tried first (an exact entry, or "*"), then the patterns (a match
 *  anywhere in the origin, as Go's MatchString). */
export function matchOrigin(c: Cors, origin: string): string | null {
  for (const item of c.originList) {
    if (item === origin) return item;
    if (item === '*') return c.allowCredentials ? origin : item; // "*" cannot go with credentials
  }
  for (const re of c.originRegexes) if (re.test(origin)) return origin;
  return null;
}

/** A CORS preflight, by Traefik's test: OPTIONS with an Origin and an Access-Control-Request-Method (first fields). */
export function isPreflight(c: Cors, method: string, origin: string, requestMethod: string): boolean {
  return c.enabled && method === 'OPTIONS' && origin !== '' && requestMethod !== '';
}

function exposeHeaders(c: Cors): string | null {
  if (c.exposeHeaders.length === 0) return null;
  if (c.exposeHeaders.includes('*') && c.allowCredentials) return null;
  return c.exposeHeaders.join(',');
}

/**
 * The headers of Traefik's answer to a preflight (status 200, Content-Length 0), in Traefik's order.
 * `requestHeaders` is the request's Access-Control-Request-Headers ('' when absent).
 */
export function preflightHeaders(
  c: Cors,
  origin: string,
  requestMethod: string,
  requestHeaders: string,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (c.allowCredentials) out.push(['Access-Control-Allow-Credentials', 'true']);
  if (c.allowHeaders.includes('*') && c.allowCredentials) {
    if (requestHeaders !== '') out.push(['Access-Control-Allow-Headers', requestHeaders]);
  } else if (c.allowHeaders.length > 0) {
    out.push(['Access-Control-Allow-Headers', c.allowHeaders.join(',')]);
  }
  if (c.allowMethods.includes('*') && c.allowCredentials) {
    out.push(['Access-Control-Allow-Methods', requestMethod]);
  } else if (c.allowMethods.length > 0) {
    out.push(['Access-Control-Allow-Methods', c.allowMethods.join(',')]);
  }
  const allowed = matchOrigin(c, origin);
  if (allowed !== null) out.push(['Access-Control-Allow-Origin', allowed]);
  if (c.maxAge !== undefined) out.push(['Access-Control-Max-Age', String(c.maxAge)]);
  const expose = exposeHeaders(c);
  if (expose !== null) out.push(['Access-Control-Expose-Headers', expose]);
  return out;
}

/**
 * The CORS headers Traefik sets on any other response (after the custom response headers): `origin` is the
 * request's Origin ('' when absent), `vary` the response's first Vary field ('' when absent). Each replaces the
 * response's header of that name.
 */
export function responseCorsHeaders(c: Cors, origin: string, vary: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const allowed = matchOrigin(c, origin);
  if (allowed !== null) out.push(['Access-Control-Allow-Origin', allowed]);
  if (c.allowCredentials) out.push(['Access-Control-Allow-Credentials', 'true']);
  const expose = exposeHeaders(c);
  if (expose !== null) out.push(['Access-Control-Expose-Headers', expose]);
  if (c.addVary && vary !== 'Origin') out.push(['Vary', vary === '' ? 'Origin' : `${vary},Origin`]);
  return out;
}
