// Traefik's forwardAuth middleware (pkg/middlewares/auth/forward.go): each request is first sent to the auth server
// at `address` (GET, or the request's method with preserveRequestMethod; its headers per trustForwardHeader and
// authRequestHeaders, see forward-headers.ts; its body with forwardBody). A 2xx answer lets the request go on, with
// the auth server's authResponseHeaders / authResponseHeadersRegex headers set on it, and its
// addAuthCookiesToResponse cookies put on the response. Any other answer goes to the client as it is (status,
// headers, body; Location resolved against the address unless preserveLocationHeader; a 401 becomes a 302 to
// authSigninURL when set). An auth server that cannot be reached, or that times out, answers 500 — the request is
// never forwarded unauthenticated.
//
// Where baton deviates, for safety: the auth server's body is bounded even when maxResponseBodySize is unset
// (1 MiB; beyond it 401, as Traefik does for its limit), and so is the request body with forwardBody when
// maxBodySize is unset (10 MiB; beyond it 401); connections per instance are bounded (64, queued beyond), connect
// takes at most 10 s and the whole check at most 30 s (Traefik's client timeout); X-headers baton's entrypoint
// does not vet (X-Forwarded-Uri, -Method, ...) reach the auth server only from a peer shown trusted (see
// forward-headers.ts). headerField only names Traefik's access-log user: accepted, no effect. tls.ca/cert/key are
// PEM text or a path (resolved against the config file's folder).
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import { ResponseTooLargeError } from '../../errors.ts';
import type { RequestContext, ResponseContext } from '../api.ts';
import { bool, group, int, list, str } from '../options.ts';
import { linearRegExp } from '../regex.ts';
import { defineType } from '../types.ts';
import { isToken } from '../header-names.ts';
import {
  authRequestHeaders,
  copyOps,
  mergeCookies,
  redirectBody,
  refusalHeaders,
  refusalLocation,
  requestAuthority,
  signinLocation,
  withCookies,
  type RawHeaders,
} from './forward-headers.ts';

const TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
const MAX_CONNECTIONS = 64;
/** forwardBody with maxBodySize unset (-1, Traefik: unlimited) */
export const DEFAULT_MAX_BODY = 10 * 1024 * 1024;
/** maxResponseBodySize unset (Traefik: unlimited) */
export const DEFAULT_MAX_RESPONSE_BODY = 1024 * 1024;
/** at most one error log per this interval per instance */
const LOG_EVERY_MS = 10_000;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function badNames(option: string, names: readonly string[]): string[] {
  return names.filter((n) => !isToken(n)).map((n) => `${option}: ${JSON.stringify(n)} is not a header name`);
}

/** A PEM given as its text or as a file's path (Traefik's ClientTLS takes either). */
function pem(value: string | undefined, resolvePath: (p: string) => string, what: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.includes('-----BEGIN')) return value;
  const path = resolvePath(value);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`tls.${what} ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      cause: err,
    });
  }
}

/** The body, at most `limit` bytes (ResponseTooLargeError beyond: the rest is not read). */
async function readLimited(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) discard(body, limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Stops reading a body (the connection is closed: the rest is not read) and says it was too large. */
function discard(body: Readable, limit: number): never {
  body.on('error', () => {});
  body.destroy();
  throw new ResponseTooLargeError(limit);
}

function basicFromUrl(u: URL): string | null {
  if (u.username === '' && u.password === '') return null;
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

export const forwardAuth = defineType({
  name: 'forwardAuth',
  spec: {
    address: str(),
    tls: group({ ca: str(), cert: str(), key: str(), insecureSkipVerify: bool(false), caOptional: bool() }),
    trustForwardHeader: bool(),
    authResponseHeaders: list([]),
    authResponseHeadersRegex: str(''),
    authRequestHeaders: list([]),
    addAuthCookiesToResponse: list([]),
    headerField: str(),
    forwardBody: bool(false),
    maxBodySize: int(-1, -1),
    maxResponseBodySize: int(undefined, -1),
    preserveLocationHeader: bool(false),
    preserveRequestMethod: bool(false),
    authSigninURL: str(''),
  },
  check(o) {
    const problems: string[] = [];
    let url: URL | null = null;
    try {
      url = new URL(o.address ?? '');
    } catch {
      // reported below
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      problems.push(`address: expected the auth server's http:// or https:// URL, got ${JSON.stringify(o.address)}`);
    }
    if (o.authResponseHeadersRegex !== '') {
      const re = linearRegExp(o.authResponseHeadersRegex);
      if (typeof re === 'string') problems.push(`authResponseHeadersRegex: ${re}`);
    }
    problems.push(...badNames('authResponseHeaders', o.authResponseHeaders));
    problems.push(...badNames('authRequestHeaders', o.authRequestHeaders));
    if (o.tls !== undefined && (o.tls.cert ?? '') !== '' && (o.tls.key ?? '') === '') {
      problems.push('tls.key: required with tls.cert');
    }
    if (o.tls !== undefined && (o.tls.key ?? '') !== '' && (o.tls.cert ?? '') === '') {
      problems.push('tls.cert: required with tls.key');
    }
    if (CONTROL.test(o.authSigninURL)) problems.push('authSigninURL: control characters are not allowed');
    return problems;
  },
  create(o, env) {
    const address = new URL(o.address!);
    const regex = o.authResponseHeadersRegex === '' ? null : (linearRegExp(o.authResponseHeadersRegex) as RegExp);
    const rule = { names: o.authResponseHeaders, regex };
    const cookieNames = new Set(o.addAuthCookiesToResponse);
    const maxBody = o.maxBodySize < 0 ? DEFAULT_MAX_BODY : o.maxBodySize;
    const maxResponse = (o.maxResponseBodySize ?? -1) < 0 ? DEFAULT_MAX_RESPONSE_BODY : o.maxResponseBodySize!;
    const basic = basicFromUrl(address);
    const path = `${address.pathname}${address.search}`;
    const href = address.href;
    if (o.trustForwardHeader === undefined) {
      env.log.warn(
        {},
        "forwardAuth trustForwardHeader is not set: Traefik's legacy headers are sent (set it to true or false)",
      );
    }
    const tls = o.tls;
    const pool = new Pool(address.origin, {
      connections: MAX_CONNECTIONS,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
      connect: {
        timeout: CONNECT_TIMEOUT_MS,
        ca: pem(tls?.ca, env.resolvePath, 'ca'),
        cert: pem(tls?.cert, env.resolvePath, 'cert'),
        key: pem(tls?.key, env.resolvePath, 'key'),
        rejectUnauthorized: tls?.insecureSkipVerify !== true,
      },
    });
    const close = () => void pool.close().catch(() => {});
    if (env.signal.aborted) close();
    else env.signal.addEventListener('abort', close, { once: true });

    let lastLog = -Infinity;
    const fail = (ctx: RequestContext, err: unknown): void => {
      const now = performance.now();
      if (now - lastLog >= LOG_EVERY_MS) {
        lastLog = now;
        const why = err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}` : err;
        env.log.error({ address: href, err: why }, 'forwardAuth: the auth server could not be asked');
      }
      ctx.respond(500);
    };
    /** the key of this instance's per-request data: the auth server's cookies for the response */
    const authCookies = Symbol('forwardAuth cookies');

    const check = async (ctx: RequestContext): Promise<void> => {
      let body: Buffer | null = null;
      if (o.forwardBody && ctx.method !== 'CONNECT') {
        try {
          body = await ctx.readBody(maxBody);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'BATON_BODY_TOO_LARGE') return ctx.respond(401);
          return fail(ctx, err);
        }
        if (body.length === 0) body = null;
      }
      const headers = authRequestHeaders({
        headers: ctx.headers.entries(),
        method: ctx.method,
        scheme: ctx.scheme,
        authority: requestAuthority(ctx.headers.get('x-forwarded-host'), ctx.host),
        uri: ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`,
        remoteAddr: ctx.remoteAddr,
        forwardedFor: ctx.forwardedFor,
        trust: o.trustForwardHeader,
        allowed: o.authRequestHeaders,
      });
      if (basic !== null && !headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'authorization')) {
        headers.push('Authorization', basic);
      }

      let status: number;
      let auth: RawHeaders;
      let answer: Buffer;
      try {
        const res = await pool.request({
          path,
          method: o.preserveRequestMethod ? ctx.method : 'GET',
          headers,
          body,
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        status = res.statusCode;
        auth = res.headers;
        if (Number(auth['content-length'] ?? 0) > maxResponse) discard(res.body, maxResponse);
        answer = await readLimited(res.body, maxResponse);
      } catch (err) {
        if ((err as { code?: unknown }).code === 'BATON_RESPONSE_TOO_LARGE') return ctx.respond(401);
        return fail(ctx, err);
      }

      if (o.authSigninURL !== '' && status === 401) {
        const location = signinLocation(o.authSigninURL, ctx.path);
        const get = ctx.method === 'GET';
        const h: Record<string, string> = { Location: location };
        if (get || ctx.method === 'HEAD') h['Content-Type'] = 'text/html; charset=utf-8';
        return ctx.respond(302, h, get ? redirectBody(location) : '');
      }
      if (status > 599) return fail(ctx, new Error(`the auth server answered status ${status}`));
      if (status < 200 || status >= 300) {
        const { headers: out, cookies } = refusalHeaders(auth);
        const given = Array.isArray(auth.location) ? auth.location[0] : auth.location;
        const location = refusalLocation(given, href, o.preserveLocationHeader);
        if (location === undefined) return fail(ctx, new Error('the auth server sent a Location that does not parse'));
        if (location !== null) out.Location = location;
        return ctx.respond(status, withCookies(out, cookies), answer);
      }

      const names = Array.from(ctx.headers.entries(), ([n]) => n);
      for (const op of copyOps(names, auth, rule)) {
        if (op.op === 'delete') ctx.headers.delete(op.name);
        else ctx.headers.append(op.name, op.value);
      }
      const sc = auth['set-cookie'];
      const lines = sc === undefined ? [] : typeof sc === 'string' ? [sc] : sc;
      if (cookieNames.size > 0 && lines.length > 0) ctx.data.set(authCookies, lines);
    };

    if (cookieNames.size === 0) return { onRequest: check };
    return {
      onRequest: check,
      onResponse(ctx: RequestContext, res: ResponseContext) {
        const fromAuth = ctx.data.get(authCookies) as string[] | undefined;
        if (fromAuth === undefined) return;
        const merged = mergeCookies(res.headers.getAll('set-cookie'), fromAuth, cookieNames);
        res.headers.delete('set-cookie');
        for (const c of merged) res.headers.append('set-cookie', c);
      },
    };
  },
});
