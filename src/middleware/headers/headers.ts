// Traefik's `headers` middleware (pkg/middlewares/headers/): custom request and response headers, CORS (with
// preflights answered here, never sent upstream) and the security headers of unrolled/secure. Traefik's order:
//
//   request:  CORS preflight? → answered 200 (only the CORS headers)
//             customRequestHeaders → allowedHosts (500 "Bad Host") → upstream
//   response: security headers → customResponseHeaders (may override or remove them) → CORS headers, Vary
//
// Every header name and value the config holds is checked when it is read, never at request time.
import type { Handler, HeaderMap, PluginEnv, RequestContext } from '../api.ts';
import { bool, int, list, str, textMap, type Options } from '../options.ts';
import { linearRegExp } from '../regex.ts';
import { defineType } from '../types.ts';
import { responseCorsHeaders, isPreflight, preflightHeaders, type Cors } from './cors.ts';
import {
  applyRequestHeaders,
  applyResponseHeaders,
  first,
  headerMapProblems,
  headerOps,
  hostOverride,
  isToken,
  RecordHeaders,
  valueProblem,
  type HeaderOp,
} from './custom.ts';
import {
  BAD_HOST,
  compileSecure,
  cspNonce,
  hostAllowed,
  isSSL,
  requestHost,
  secureHeaders,
  type Secure,
} from './secure.ts';

export const spec = {
  customRequestHeaders: textMap({}),
  customResponseHeaders: textMap({}),
  accessControlAllowCredentials: bool(false),
  accessControlAllowHeaders: list([]),
  accessControlAllowMethods: list([]),
  accessControlAllowOriginList: list([]),
  accessControlAllowOriginListRegex: list([]),
  accessControlExposeHeaders: list([]),
  accessControlMaxAge: int(),
  addVaryHeader: bool(false),
  allowedHosts: list([]),
  hostsProxyHeaders: list([]),
  sslProxyHeaders: textMap({}),
  // Traefik: negative values are not validated outside Kubernetes (and give "max-age=-1"); baton refuses them
  stsSeconds: int(undefined, 0),
  stsIncludeSubdomains: bool(false),
  stsPreload: bool(false),
  forceSTSHeader: bool(false),
  frameDeny: bool(false),
  customFrameOptionsValue: str(),
  contentTypeNosniff: bool(false),
  browserXssFilter: bool(false),
  customBrowserXSSValue: str(),
  contentSecurityPolicy: str(),
  contentSecurityPolicyReportOnly: str(),
  publicKey: str(),
  referrerPolicy: str(),
  permissionsPolicy: str(),
  isDevelopment: bool(false),
  // Removed in Traefik v3: still read there (a v2 config loads) but without effect; the same here, with a warning.
  featurePolicy: str(),
  sslRedirect: bool(),
  sslTemporaryRedirect: bool(),
  sslHost: str(),
  sslForceHost: bool(),
};

export type HeadersOptions = Options<typeof spec>;

/** The options Traefik v3 ignores, with what to use instead. */
const REMOVED: ReadonlyArray<readonly [keyof HeadersOptions, string]> = [
  ['featurePolicy', 'permissionsPolicy'],
  ['sslRedirect', 'the redirectScheme middleware or an entrypoint redirection'],
  ['sslTemporaryRedirect', 'the redirectScheme middleware or an entrypoint redirection'],
  ['sslHost', 'the redirectRegex middleware'],
  ['sslForceHost', 'the redirectRegex middleware'],
];

/** The removed options a config sets (Traefik counts sslRedirect etc. only when true, sslHost when not ""). */
export function removedOptions(o: HeadersOptions): string[] {
  return REMOVED.filter(([k]) => o[k] !== undefined && o[k] !== false && o[k] !== '').map(([k]) => k);
}

const SECURE_VALUES = [
  'customFrameOptionsValue',
  'customBrowserXSSValue',
  'contentSecurityPolicy',
  'contentSecurityPolicyReportOnly',
  'publicKey',
  'referrerPolicy',
  'permissionsPolicy',
] as const;
const CORS_VALUES = [
  'accessControlAllowHeaders',
  'accessControlAllowMethods',
  'accessControlAllowOriginList',
  'accessControlExposeHeaders',
] as const;

function hasCustom(o: HeadersOptions): boolean {
  return Object.keys(o.customRequestHeaders).length > 0 || Object.keys(o.customResponseHeaders).length > 0;
}

function hasCors(o: HeadersOptions): boolean {
  return (
    o.accessControlAllowCredentials ||
    o.addVaryHeader ||
    o.accessControlMaxAge !== undefined ||
    CORS_VALUES.some((k) => o[k].length > 0) ||
    o.accessControlAllowOriginListRegex.length > 0
  );
}

function hasSecure(o: HeadersOptions): boolean {
  return (
    o.allowedHosts.length > 0 ||
    o.hostsProxyHeaders.length > 0 ||
    Object.keys(o.sslProxyHeaders).length > 0 ||
    o.stsSeconds !== undefined ||
    o.stsIncludeSubdomains ||
    o.stsPreload ||
    o.forceSTSHeader ||
    o.frameDeny ||
    o.contentTypeNosniff ||
    o.browserXssFilter ||
    o.isDevelopment ||
    SECURE_VALUES.some((k) => o[k] !== undefined && o[k] !== '') ||
    removedOptions(o).length > 0
  );
}

/** Problems across the options (config time). */
export function check(o: HeadersOptions): string[] {
  if (!hasCustom(o) && !hasCors(o) && !hasSecure(o)) {
    return ['headers configuration not valid: set at least one option (Traefik refuses an empty headers too)'];
  }
  const problems = [
    ...headerMapProblems(o.customRequestHeaders, 'request', 'customRequestHeaders'),
    ...headerMapProblems(o.customResponseHeaders, 'response', 'customResponseHeaders'),
  ];
  for (const k of SECURE_VALUES) {
    const v = o[k];
    const bad = v === undefined ? null : valueProblem(v);
    if (bad !== null) problems.push(`${k}: the value ${bad}`);
  }
  for (const k of CORS_VALUES) {
    o[k].forEach((v, i) => {
      const bad = valueProblem(v);
      if (bad !== null) problems.push(`${k}[${i}]: ${bad}`);
    });
  }
  o.accessControlAllowOriginListRegex.forEach((src, i) => {
    const re = linearRegExp(src);
    if (typeof re === 'string') problems.push(`accessControlAllowOriginListRegex[${i}]: ${re}`);
  });
  o.hostsProxyHeaders.forEach((name, i) => {
    if (!isToken(name)) problems.push(`hostsProxyHeaders[${i}]: ${JSON.stringify(name)} is not a header name`);
  });
  for (const name of Object.keys(o.sslProxyHeaders)) {
    if (!isToken(name)) problems.push(`sslProxyHeaders.${name}: ${JSON.stringify(name)} is not a header name`);
  }
  return problems;
}

function compileCors(o: HeadersOptions): Cors {
  return {
    enabled: hasCors(o),
    allowCredentials: o.accessControlAllowCredentials,
    allowHeaders: o.accessControlAllowHeaders,
    allowMethods: o.accessControlAllowMethods,
    originList: o.accessControlAllowOriginList,
    originRegexes: o.accessControlAllowOriginListRegex.map((src) => {
      const re = linearRegExp(src);
      if (typeof re === 'string') throw new Error(`accessControlAllowOriginListRegex: ${re}`);
      return re;
    }),
    exposeHeaders: o.accessControlExposeHeaders,
    maxAge: o.accessControlMaxAge,
    addVary: o.addVaryHeader,
  };
}

/** The compiled middleware: what its hooks need, decided once. */
export interface Compiled {
  readonly requestOps: readonly HeaderOp[];
  readonly responseOps: readonly HeaderOp[];
  /** the Host customRequestHeaders sets (the host the allowed-hosts check sees), or null */
  readonly host: string | null;
  readonly cors: Cors;
  /** CORS headers may be set on responses */
  readonly corsOnResponse: boolean;
  /** null when no security option has an effect */
  readonly secure: Secure | null;
  /** the security headers depend on the request (HTTPS or not, a nonce) */
  readonly perRequest: boolean;
}

export function compile(o: HeadersOptions): Compiled {
  const requestOps = headerOps(o.customRequestHeaders);
  const cors = compileCors(o);
  const s = compileSecure(o);
  const sameLists =
    s.http.length === s.https.length && s.http.every(([n, v], i) => s.https[i][0] === n && s.https[i][1] === v);
  const effective = s.allowedHosts.length > 0 || s.http.length > 0 || s.https.length > 0;
  return {
    requestOps,
    responseOps: headerOps(o.customResponseHeaders),
    host: hostOverride(requestOps),
    cors,
    corsOnResponse:
      cors.allowCredentials ||
      cors.addVary ||
      cors.originList.length > 0 ||
      cors.originRegexes.length > 0 ||
      cors.exposeHeaders.length > 0,
    secure: effective ? s : null,
    perRequest: s.nonce || !sameLists,
  };
}

/** What Traefik's PostRequestModifyResponseHeaders does to a response: custom headers, then CORS. */
export function modifyResponse(c: Compiled, request: HeaderMap, response: HeaderMap): void {
  applyResponseHeaders(response, c.responseOps);
  if (!c.corsOnResponse) return;
  for (const [n, v] of responseCorsHeaders(c.cors, first(request, 'Origin'), first(response, 'Vary'))) {
    response.set(n, v);
  }
}

function answerBadHost(c: Compiled, ctx: RequestContext): void {
  const h = new RecordHeaders();
  for (const [n, v] of BAD_HOST.headers) h.set(n, v);
  modifyResponse(c, ctx.headers, h); // secure's answer goes through the CORS/custom layer above it, as in Traefik
  ctx.respond(BAD_HOST.status, h.toRecord(), BAD_HOST.body);
}

export function createHeaders(o: HeadersOptions, env: PluginEnv): Handler {
  const removed = removedOptions(o);
  if (removed.length > 0) {
    const instead = removed.map((k) => `${k} → ${REMOVED.find(([r]) => r === k)![1]}`).join('; ');
    env.log.warn({ options: removed }, `headers: removed in Traefik v3 and ignored (use instead: ${instead})`);
  }
  const c = compile(o);
  const { cors, secure, requestOps, perRequest } = c;
  /** per-request security headers in ctx.data, under a key of this instance */
  const key = {};
  return {
    onRequest(ctx) {
      const h = ctx.headers;
      if (cors.enabled && ctx.method === 'OPTIONS') {
        const origin = first(h, 'Origin');
        const method = first(h, 'Access-Control-Request-Method');
        if (isPreflight(cors, ctx.method, origin, method)) {
          const acrh = first(h, 'Access-Control-Request-Headers');
          ctx.respond(200, Object.fromEntries(preflightHeaders(cors, origin, method, acrh)), '');
          return;
        }
      }
      if (requestOps.length > 0) applyRequestHeaders(h, requestOps);
      if (secure === null) return;
      if (secure.allowedHosts.length === 0 && !perRequest) return;
      const get = (name: string): string => first(h, name);
      if (secure.allowedHosts.length > 0 && !hostAllowed(secure, requestHost(secure, c.host ?? ctx.host, get))) {
        answerBadHost(c, ctx);
        return;
      }
      if (perRequest) {
        ctx.data.set(key, secureHeaders(secure, isSSL(secure, ctx.scheme, get), secure.nonce ? cspNonce() : undefined));
      }
    },
    onResponse(ctx, res) {
      if (secure !== null) {
        const list = perRequest ? (ctx.data.get(key) as typeof secure.http | undefined) : secure.http;
        if (list !== undefined) for (const [n, v] of list) res.headers.set(n, v);
      }
      modifyResponse(c, ctx.headers, res.headers);
    },
  };
}

export const headersType = defineType({
  name: 'headers',
  spec,
  check,
  create: createHeaders,
});
