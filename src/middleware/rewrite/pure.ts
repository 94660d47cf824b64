// The pure parts of the rewrite middlewares (redirect.ts, path.ts), exported for table tests: option fields for
// regexes and path texts, Go's ReplaceAllString, the checks a rewritten path and a redirect target must pass, and
// the URLs Traefik's redirect middlewares compare.
//
// Paths here are baton's normalised request paths (routing/target.ts normalizePath): percent-escapes of unreserved
// characters decoded, others kept upper-case, no dot segments. Traefik matches stripPrefix and stripPrefixRegex
// against the decoded path; baton matches this escaped form, and puts configured texts into the same form.
import { parseHost } from '../../routing/target.ts';
import type { HeaderMap } from '../api.ts';
import { list, str, type Field } from '../options.ts';
import { expandGo, linearRegExp } from '../regex.ts';

// ── option fields ─────────────────────────────────────────────────────────────────────────────────────────────

function compile(src: string, flags: string, at: string, errors: string[]): RegExp | undefined {
  if (src === '') {
    errors.push(`${at}: the regular expression is empty`);
    return undefined;
  }
  const re = linearRegExp(src, flags);
  if (typeof re === 'string') {
    errors.push(`${at}: ${re}`);
    return undefined;
  }
  return re;
}

/** A Go (RE2) regular expression, compiled by linearRegExp (`flags` e.g. 'g'); what it refuses is a problem when
 *  the config is read. `trim`: surrounding spaces dropped first (Traefik trims stripPrefixRegex/replacePathRegex). */
export function regexOption(flags = '', trim = false): Field<RegExp> {
  const text = str();
  return {
    fallback: undefined,
    read(raw, at, errors) {
      const s = text.read(raw, at, errors);
      return s === undefined ? undefined : compile(trim ? s.trim() : s, flags, at, errors);
    },
  };
}

/** A list of Go regular expressions (YAML list, or comma-separated in labels, as Traefik's []string). */
export function regexListOption(): Field<RegExp[]> {
  const texts = list();
  return {
    fallback: [],
    read(raw, at, errors) {
      const items = texts.read(raw, at, errors);
      if (items === undefined) return undefined;
      const before = errors.length;
      const out = items.map((s, i) => compile(s, '', `${at}[${i}]`, errors));
      return errors.length === before ? (out as RegExp[]) : undefined;
    },
  };
}

// ── path texts from the config ─────────────────────────────────────────────────────────────────────────────────

const CONTROL = /[\x00-\x1f\x7f]/;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/** UTF-8 percent-escapes of `s` (a lone surrogate becomes U+FFFD's). */
function utf8Escape(s: string): string {
  return encodeURIComponent(s.toWellFormed());
}

/** Space and non-ASCII characters percent-encoded as UTF-8, as Go escapes a path ("/a b" → "/a%20b"). */
export function encodeUnsafe(s: string): string {
  return s.replace(/[ \u0080-\uffff]+/g, utf8Escape);
}

/** What is wrong with a text that becomes part of a request path (replacePath's path, addPrefix's prefix,
 *  replacePathRegex's replacement, a stripPrefix prefix), after encodeUnsafe; null when nothing is. */
export function pathTextProblem(s: string): string | null {
  if (CONTROL.test(s)) return 'contains a control character (CR, LF, NUL, ...), which no path may hold';
  if (s.includes('#')) return 'contains "#": a request path has no fragment (write %23 for the character)';
  if (s.includes('?')) return 'contains "?", which would start a query (write %3F for the character)';
  if (s.includes('\\')) return 'contains "\\", which baton never forwards in a path';
  if (BAD_ESCAPE.test(s)) return 'has a "%" that is not followed by two hex digits';
  if (/%00/.test(s)) return 'contains %00 (an encoded NUL byte)';
  return null;
}

const HEX = '0123456789ABCDEF';
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** A configured prefix in the form of baton's normalised paths: unsafe characters encoded, escapes of
 *  unreserved characters decoded ("%7E" → "~"), other escapes in upper case ("%c3%a9" → "%C3%A9"). */
export function normalizePrefix(p: string): string {
  return encodeUnsafe(p).replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => {
    const c = String.fromCharCode(parseInt(h, 16));
    return UNRESERVED.test(c) ? c : `%${h.toUpperCase()}`;
  });
}

// ── rewritten paths ────────────────────────────────────────────────────────────────────────────────────────────

/** Characters no origin-form path sent upstream may hold: controls, space, '#', '?', '\' and non-Latin-1. */
const BAD_PATH_CHAR = /[\x00-\x20\x7f#?\\\u0100-\uffff]/;

/** Traefik's ensureLeadingSlash, except that '' becomes '/' (Go sends an empty path as "/"). */
export function leadingSlash(s: string): string {
  return s === '' ? '/' : s.charCodeAt(0) === 47 ? s : `/${s}`;
}

/** Whether Go's path cleaning (Traefik's URL.JoinPath after stripPrefix, stripPrefixRegex and replacePathRegex)
 *  leaves `p` as it is: no empty segment ("//") and no "." or ".." segment (baton also counts "%2E" as a dot). */
export function isCleanPath(p: string): boolean {
  const d = p.includes('%') ? p.replace(/%2e/gi, '.') : p;
  return !/\/\/|\/\.\.?(?:\/|$)/.test(d);
}

/** Why a rewritten path cannot be sent upstream (the request is answered 400), or null. `clean`: it must also be
 *  left unchanged by path cleaning, as Traefik requires after stripPrefix, stripPrefixRegex and replacePathRegex. */
export function rewrittenPathProblem(p: string, clean: boolean): string | null {
  if (p.charCodeAt(0) !== 47) return 'does not start with "/"';
  if (BAD_PATH_CHAR.test(p)) return 'contains a character no request path may hold';
  if (p.includes('%') && (BAD_ESCAPE.test(p) || /%00/.test(p))) return 'has a malformed or NUL percent-escape';
  if (clean && !isCleanPath(p)) return 'has an empty, "." or ".." segment';
  return null;
}

export interface Stripped {
  /** the path after the prefix */
  path: string;
  /** what was stripped (X-Forwarded-Prefix) */
  prefix: string;
}

/** stripPrefix: the first prefix the path starts with (as text: "/api" strips "/apix" too, as in Traefik). */
export function stripPrefixOf(path: string, prefixes: readonly string[]): Stripped | null {
  for (const prefix of prefixes) {
    if (path.startsWith(prefix)) return { path: leadingSlash(path.slice(prefix.length)), prefix };
  }
  return null;
}

/** stripPrefixRegex: the first regex whose leftmost match is non-empty and a prefix of the path. */
export function stripRegexOf(path: string, regexes: readonly RegExp[]): Stripped | null {
  for (const re of regexes) {
    const m = re.exec(path);
    if (m === null || m[0] === '' || !path.startsWith(m[0])) continue;
    return { path: leadingSlash(path.slice(m[0].length)), prefix: m[0] };
  }
  return null;
}

/**
 * Go's Regexp.ReplaceAllString: every non-overlapping match replaced by `template` expanded (expandGo), an empty
 * match right after a match ignored (where JavaScript's replace would insert the template again). `re` must have
 * the 'g' flag; its lastIndex is used and reset. Null when nothing matches (Traefik then passes the request on).
 */
export function goReplaceAll(re: RegExp, src: string, template: string): string | null {
  let out = '';
  let lastEnd = 0;
  let matched = false;
  let pos = 0;
  // each turn advances pos by at least one, so this ends after at most src.length + 1 turns
  while (pos <= src.length) {
    re.lastIndex = pos;
    const m = re.exec(src);
    if (m === null) break;
    const start = m.index;
    const end = start + m[0].length;
    out += src.slice(lastEnd, start);
    if (end > lastEnd || start === 0) out += expandGo(template, m);
    matched = true;
    lastEnd = end;
    const c = src.charCodeAt(pos);
    const width = c >= 0xd800 && c <= 0xdbff && pos + 1 < src.length ? 2 : 1;
    pos = pos + width > end ? pos + width : end;
  }
  re.lastIndex = 0;
  return matched ? out + src.slice(lastEnd) : null;
}

// ── redirects ──────────────────────────────────────────────────────────────────────────────────────────────────

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
};

/** Traefik's moveHandler: GET gets 302 (301 when permanent); every other method, HEAD included, gets 307 (308),
 *  which keep the method and body. */
export function redirectStatus(method: string, permanent: boolean): number {
  const get = method === 'GET';
  return permanent ? (get ? 301 : 308) : get ? 302 : 307;
}

/** The Host as the client sent it (its port and case kept), as Traefik's req.Host: baton's upstream request still
 *  carries it in Host, or in X-Forwarded-Host when the Host sent upstream is the upstream's own; when neither agrees
 *  with the routed host (e.g. a trusted peer's X-Forwarded-Host), the routed host alone. */
export function requestAuthority(host: string, headers: HeaderMap): string {
  const h = headers.get('host');
  if (h !== undefined && parseHost(h) === host) return h;
  const xfh = headers.get('x-forwarded-host');
  if (xfh !== undefined && parseHost(xfh) === host) return xfh;
  return host;
}

/** An authority's host and ":port" ('' without one), as Go's net.SplitHostPort splits req.Host. */
export function splitAuthority(a: string): { host: string; port: string } {
  const colon = a.lastIndexOf(':');
  if (colon === -1 || a.indexOf(']', colon) !== -1 || (a[0] !== '[' && a.indexOf(':') !== colon)) {
    return { host: a, port: '' };
  }
  return { host: a.slice(0, colon), port: a.slice(colon) };
}

/** The scheme Traefik's redirectScheme sees: TLS or not, overridden by X-Forwarded-Proto when it says http/ws or
 *  https/wss (baton keeps that header only from trusted peers, as Traefik's forwarded-headers handling does). */
export function clientScheme(scheme: 'http' | 'https', xfp: string | undefined): 'http' | 'https' {
  if (xfp === undefined || xfp === '') return scheme;
  const p = xfp.toLowerCase();
  if (p === 'http' || p === 'ws') return 'http';
  if (p === 'https' || p === 'wss') return 'https';
  return scheme;
}

/** The ":port" redirectScheme puts in its target ('' for none, or the scheme's default port). */
export function targetPort(scheme: string, port: string): string {
  if (port === '' || (scheme === 'http' && port === '80') || (scheme === 'https' && port === '443')) return '';
  return `:${port}`;
}

/** redirectScheme's two URLs: the request's (default port dropped) and the target (`port` from targetPort). */
export function schemeURLs(
  target: { scheme: string; port: string },
  scheme: 'http' | 'https',
  authority: string,
  uri: string,
): { from: string; to: string } {
  const a = splitAuthority(authority);
  const port = (scheme === 'http' && a.port === ':80') || (scheme === 'https' && a.port === ':443') ? '' : a.port;
  return { from: `${scheme}://${a.host}${port}${uri}`, to: `${target.scheme}://${a.host}${target.port}${uri}` };
}

/** Why Go's url.Parse would refuse a redirect target (Traefik then answers 502), or null. */
export function locationProblem(u: string): string | null {
  if (CONTROL.test(u)) return 'contains a control character';
  if (BAD_ESCAPE.test(u)) return 'has a "%" that is not followed by two hex digits';
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(u);
  if (m === null) return null;
  const hostPort = m[1].slice(m[1].lastIndexOf('@') + 1);
  const { host, port } = splitAuthority(hostPort);
  if (port !== '' && !/^:\d*$/.test(port)) return 'has a port that is not a number';
  if (/[ {}|\\^`]/.test(host)) return 'has a character no host name may hold';
  if (/%(?!25)[0-7]/.test(host)) return 'has a percent-escape of an ASCII character in its host';
  return null;
}

/** Whether a redirect from `from` to `to` leads to the same resource (a client would ask for the same URL again):
 *  scheme and host case, default ports, dot segments and fragments aside. Relative targets are resolved. */
export function sameResource(from: string, to: string): boolean {
  try {
    const a = new URL(from);
    const b = new URL(to, a);
    a.hash = '';
    b.hash = '';
    return a.href === b.href;
  } catch {
    return false;
  }
}

/** The Location header for a valid target: spaces and non-ASCII percent-encoded (a Latin-1 character is a byte of
 *  the request as Node read it, and is encoded as that byte). */
export function encodeLocation(u: string): string {
  return u.replace(/[ \u0080-\u00ff]|[\u0100-\uffff]+/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `%${HEX[code >> 4]}${HEX[code & 15]}` : utf8Escape(c);
  });
}

export type RedirectDecision = { status: number; location: string } | { status: 502; problem: string } | null;

/** What a redirect middleware does with a request whose URL is `from` and whose target is `to`: nothing (null)
 *  when the target is the same URL — Traefik's loop guard, which baton extends to the same resource spelled
 *  otherwise —, 502 for a target Go could not parse (as Traefik), else the redirect. */
export function redirectDecision(method: string, permanent: boolean, from: string, to: string): RedirectDecision {
  if (to === from) return null;
  const problem = locationProblem(to);
  if (problem !== null) return { status: 502, problem };
  if (sameResource(from, to)) return null;
  return { status: redirectStatus(method, permanent), location: encodeLocation(to) };
}
