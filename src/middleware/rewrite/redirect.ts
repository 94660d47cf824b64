// Traefik's redirect middlewares, redirectScheme and redirectRegex (pkg/middlewares/redirect): each builds the
// request's URL as Traefik does, works out the target, and answers with a redirect when the target is another URL.
//
//   redirectScheme  scheme (required), port, permanent: `scheme://host[:port]/path?query` of the client's request —
//                   scheme from TLS, then X-Forwarded-Proto (http/ws, https/wss; baton keeps it from trusted peers
//                   only), default ports dropped — against the same URL with the configured scheme and port. As in
//                   Traefik, a request already on that scheme and port passes on; one on another port is redirected.
//   redirectRegex   regex (required), replacement, permanent: the regex against `scheme://host[:port]/path?query`
//                   (the scheme from TLS only, as Traefik's rawURL), every match replaced (Go's ReplaceAllString,
//                   `$1`/`${name}`); no match, or the same URL, passes on.
//
// Status as Traefik's moveHandler: 302 (301 permanent) for GET, 307 (308) for every other method, HEAD included.
// Body: the status text. A target Go's url.Parse would refuse is answered 502 (Traefik's error handler does so).
// baton's deviations, for safety: a target that is the same resource spelled otherwise (scheme or host case, a
// default port, dot segments, a fragment) passes on instead of redirecting to itself forever; redirectScheme's
// scheme must be a URL scheme and its port a port number; replacement may hold no control character.
import type { Handler, PluginEnv, RequestContext } from '../api.ts';
import { bool, str } from '../options.ts';
import { defineType } from '../types.ts';
import {
  clientScheme,
  encodeUnsafe,
  goReplaceAll,
  redirectDecision,
  regexOption,
  requestAuthority,
  schemeURLs,
  STATUS_TEXT,
  targetPort,
  type RedirectDecision,
} from './pure.ts';

const BAD_TARGET_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/plain; charset=utf-8',
  'cache-control': 'no-store',
  'x-baton-error': 'bad_redirect',
});
const BAD_TARGET_BODY = '502 Bad Gateway\nThe redirect target is not a valid URL.\n';

/** The request's path and query, as Go's RequestURI. */
function requestURI(ctx: RequestContext): string {
  return ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`;
}

/** Carries out a decision: a redirect, a 502 (logged once per middleware instance), or nothing. */
function answerer(env: PluginEnv): (ctx: RequestContext, d: RedirectDecision) => void {
  let logged = false;
  return (ctx, d) => {
    if (d === null) return;
    if ('problem' in d) {
      if (!logged) {
        logged = true;
        env.log.warn({ middleware: env.name, problem: d.problem }, 'redirect target is not a valid URL: answered 502');
      }
      ctx.respond(502, BAD_TARGET_HEADERS, BAD_TARGET_BODY);
      return;
    }
    ctx.respond(
      d.status,
      { location: d.location, 'content-type': 'text/plain; charset=utf-8' },
      STATUS_TEXT[d.status] ?? '',
    );
  };
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

export const redirectScheme = defineType({
  name: 'redirectScheme',
  spec: { scheme: str(), port: str(''), permanent: bool(false) },
  check(o) {
    const problems: string[] = [];
    if (!o.scheme) problems.push('scheme: required (the scheme of the new URL, e.g. https)');
    else if (!SCHEME.test(o.scheme)) problems.push(`scheme: ${JSON.stringify(o.scheme)} is not a URL scheme`);
    const port = o.port.trim();
    if (port !== '' && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
      problems.push(`port: expected a port number from 1 to 65535, got ${JSON.stringify(o.port)}`);
    }
    return problems;
  },
  create(o, env): Handler {
    // lower case: Traefik compares the scheme as written, so "HTTPS" would redirect https requests to themselves
    const scheme = o.scheme.toLowerCase();
    const target = { scheme, port: targetPort(scheme, o.port.trim()) };
    const answer = answerer(env);
    return {
      onRequest(ctx) {
        const from = clientScheme(ctx.scheme, ctx.headers.get('x-forwarded-proto'));
        const urls = schemeURLs(target, from, requestAuthority(ctx.host, ctx.headers), requestURI(ctx));
        answer(ctx, redirectDecision(ctx.method, o.permanent, urls.from, urls.to));
      },
    };
  },
});

const CONTROL = /[\x00-\x1f\x7f]/;

export const redirectRegex = defineType({
  name: 'redirectRegex',
  spec: { regex: regexOption('g'), replacement: str(''), permanent: bool(false) },
  check(o) {
    const problems: string[] = [];
    if (o.regex === undefined) problems.push('regex: required (matched against the URL, e.g. "^http://a.test/(.*)")');
    if (CONTROL.test(o.replacement)) {
      problems.push('replacement: contains a control character (CR, LF, NUL, ...), which no Location may hold');
    }
    return problems;
  },
  create(o, env): Handler {
    const replacement = encodeUnsafe(o.replacement);
    const answer = answerer(env);
    return {
      onRequest(ctx) {
        const from = `${ctx.scheme}://${requestAuthority(ctx.host, ctx.headers)}${requestURI(ctx)}`;
        const to = goReplaceAll(o.regex, from, replacement);
        if (to !== null) answer(ctx, redirectDecision(ctx.method, o.permanent, from, to));
      },
    };
  },
});
