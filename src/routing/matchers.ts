// The rule matchers (Host, HostRegexp, Path, PathPrefix, PathRegexp, Method, Headers, HeadersRegexp, Query,
// ClientIP): their arity and how each compiles its arguments into a closure over a RequestView. Pure.

import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { RuleSyntaxError } from '../errors.ts';
import { urlHost } from '../net.ts';
import { clientIpRanges } from './client-ip.ts';
import type { StringToken } from './lexer.ts';
import { compileGoRegExp, templateSource } from './regexp.ts';

export interface RequestView {
  /** Lower-cased, port removed, IPv6 kept in brackets, e.g. "[::1]". */
  host: string;
  /** Normalised path, no query. */
  path: string;
  /** Raw query string without '?', '' if none. */
  query: string;
  /** Upper case as received. */
  method: string;
  /** Lower-case keys. */
  headers: IncomingHttpHeaders;
  clientIp: string;
}

export type Matcher = (r: RequestView) => boolean;

/** A compiled (sub)expression: its matcher and the exact hosts it is limited to (see ParsedRule.hosts). */
export interface Node {
  m: Matcher;
  hosts: string[] | null;
}

export interface MatcherSpec {
  min: number;
  max: number;
  /** Describes the expected arguments, for arity errors. */
  args: string;
  /** Builds the matcher from the argument tokens; throws RuleSyntaxError pointing at the bad argument. */
  build(args: StringToken[]): Node;
}

export const MATCHERS: Record<string, MatcherSpec> = {
  Host: { min: 1, max: Infinity, args: 'one or more host names', build: buildHost },
  HostRegexp: { min: 1, max: Infinity, args: 'one or more regular expressions', build: buildHostRegexp },
  Path: { min: 1, max: Infinity, args: 'one or more paths', build: buildPath },
  PathPrefix: { min: 1, max: Infinity, args: 'one or more path prefixes', build: buildPathPrefix },
  PathRegexp: { min: 1, max: Infinity, args: 'one or more regular expressions', build: buildPathRegexp },
  Method: { min: 1, max: Infinity, args: 'one or more methods', build: buildMethod },
  Headers: { min: 2, max: 2, args: 'exactly 2 arguments (name, value)', build: buildHeaders },
  HeadersRegexp: {
    min: 2,
    max: 2,
    args: 'exactly 2 arguments (name, regular expression)',
    build: buildHeadersRegexp,
  },
  Query: { min: 1, max: 2, args: '1 or 2 arguments (key[, value])', build: buildQuery },
  ClientIP: { min: 1, max: Infinity, args: 'one or more IP addresses or CIDR ranges', build: buildClientIP },
};

export const MATCHER_NAMES = Object.keys(MATCHERS);

function anyOf(ms: Matcher[]): Matcher {
  if (ms.length === 1) return ms[0];
  if (ms.length === 2) {
    const [a, b] = ms;
    return (r) => a(r) || b(r);
  }
  return (r) => {
    for (let i = 0; i < ms.length; i++) if (ms[i](r)) return true;
    return false;
  };
}

function anyString(values: string[], get: (r: RequestView) => string): Matcher {
  if (values.length === 1) {
    const v = values[0];
    return (r) => get(r) === v;
  }
  const set = new Set(values);
  return (r) => set.has(get(r));
}

const HOSTNAME = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*\.?$/;

/** Lower-cases a Host() argument, strips a port, brackets a bare IPv6 address. Throws on anything else. */
function normaliseHost(tok: StringToken): string {
  let h = tok.value.toLowerCase();
  const bad = (why: string) => new RuleSyntaxError(`invalid host '${tok.value}' in Host: ${why}`, tok.pos);
  if (h === '') throw bad('empty host');
  if (/[\s/\\?#@]/.test(h)) throw bad('expected a host name or IP address');
  if (h.includes('*')) throw bad('wildcards are not supported, use HostRegexp');
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end === -1) throw bad("missing ']'");
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) throw bad('expected a port after the IPv6 address');
    h = h.slice(0, end + 1);
    if (isIP(h.slice(1, -1)) !== 6) throw bad('invalid IPv6 address');
    return h;
  }
  const colons = h.split(':').length - 1;
  if (colons > 1) {
    // bare IPv6 address (no port possible without brackets)
    if (isIP(h) !== 6) throw bad('invalid IPv6 address');
    return urlHost(h);
  }
  if (colons === 1) {
    const i = h.indexOf(':');
    if (!/^\d{1,5}$/.test(h.slice(i + 1))) throw bad('invalid port');
    h = h.slice(0, i);
  }
  if (!HOSTNAME.test(h)) throw bad('expected a host name or IP address');
  return h;
}

function buildHost(args: StringToken[]): Node {
  const hosts: string[] = [];
  for (const a of args) {
    const h = normaliseHost(a);
    if (!hosts.includes(h)) hosts.push(h);
  }
  return { m: anyString(hosts, (r) => r.host), hosts };
}

/**
 * Traefik v2 host templates (gorilla/mux): `{name:re}` → `(?:re)`, `{name}` → `[^.]+`, literal text escaped,
 * anchored.
 * Recognised by a `{` followed by a name character (a v3 regexp quantifier `{2,3}` starts with a digit), or by
 * HostRegexp having several arguments (v2 only). Anything else is a v3 regexp: unanchored, as in Traefik.
 */
const V2_TEMPLATE = /\{[A-Za-z_]/;

function translateHostTemplate(tok: StringToken): string {
  try {
    return templateSource(tok.value, '[^.]+') + '$';
  } catch (err) {
    throw new RuleSyntaxError(`invalid HostRegexp template '${tok.value}': ${(err as Error).message}`, tok.pos);
  }
}

function buildHostRegexp(args: StringToken[]): Node {
  // v3 takes exactly one regexp; several arguments only existed in v2, where each one is a template.
  const v2 = args.length > 1;
  const ms: Matcher[] = [];
  for (const a of args) {
    if (a.value === '') throw new RuleSyntaxError('empty regular expression in HostRegexp', a.pos);
    const src = v2 || V2_TEMPLATE.test(a.value) ? translateHostTemplate(a) : a.value;
    const re = compileGoRegExp(src, a, 'HostRegexp', 'i');
    ms.push((r) => re.test(r.host));
  }
  return { m: anyOf(ms), hosts: null };
}

function checkPath(tok: StringToken, matcher: string): string {
  if (!tok.value.startsWith('/')) throw new RuleSyntaxError(`${matcher} argument must start with '/'`, tok.pos);
  if (/\s/.test(tok.value)) throw new RuleSyntaxError(`${matcher} argument must not contain whitespace`, tok.pos);
  return tok.value;
}

function buildPath(args: StringToken[]): Node {
  return {
    m: anyString(
      args.map((a) => checkPath(a, 'Path')),
      (r) => r.path,
    ),
    hosts: null,
  };
}

function buildPathPrefix(args: StringToken[]): Node {
  const ms = args.map((a): Matcher => {
    const prefix = checkPath(a, 'PathPrefix');
    if (prefix === '/') return (r) => r.path.charCodeAt(0) === 47;
    return (r) => r.path.startsWith(prefix);
  });
  return { m: anyOf(ms), hosts: null };
}

function buildPathRegexp(args: StringToken[]): Node {
  const ms = args.map((a): Matcher => {
    const re = compileGoRegExp(a.value, a, 'PathRegexp');
    return (r) => re.test(r.path);
  });
  return { m: anyOf(ms), hosts: null };
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function buildMethod(args: StringToken[]): Node {
  const methods = args.map((a) => {
    if (!TOKEN.test(a.value)) throw new RuleSyntaxError(`invalid HTTP method '${a.value}' in Method`, a.pos);
    return a.value.toUpperCase();
  });
  return { m: anyString(methods, (r) => r.method), hosts: null };
}

function headerName(tok: StringToken, matcher: string): string {
  if (!TOKEN.test(tok.value)) throw new RuleSyntaxError(`invalid header name '${tok.value}' in ${matcher}`, tok.pos);
  return tok.value.toLowerCase();
}

function headerMatcher(name: string, test: (v: string) => boolean): Matcher {
  return (r) => {
    const v = r.headers[name];
    if (v === undefined) return false;
    if (typeof v === 'string') return test(v);
    for (let i = 0; i < v.length; i++) if (test(v[i])) return true;
    return false;
  };
}

function buildHeaders(args: StringToken[]): Node {
  const name = headerName(args[0], 'Headers');
  const value = args[1].value;
  return { m: headerMatcher(name, (v) => v === value), hosts: null };
}

function buildHeadersRegexp(args: StringToken[]): Node {
  const name = headerName(args[0], 'HeadersRegexp');
  const re = compileGoRegExp(args[1].value, args[1], 'HeadersRegexp');
  return { m: headerMatcher(name, (v) => re.test(v)), hosts: null };
}

/**
 * v3: Query(`key`) — key present; Query(`key`, `value`) — key has that value among its values.
 * v2: Query(`key=value`[, ...]) — recognised when every argument contains '='; all pairs must be present.
 */
function buildQuery(args: StringToken[]): Node {
  for (const a of args) if (a.value === '') throw new RuleSyntaxError('empty query key in Query', a.pos);
  let pairs: [string, string | null][];
  if (args.every((a) => a.value.includes('='))) {
    pairs = args.map((a) => {
      const i = a.value.indexOf('=');
      if (i === 0) throw new RuleSyntaxError('empty query key in Query', a.pos);
      return [a.value.slice(0, i), a.value.slice(i + 1)];
    });
  } else {
    pairs = [[args[0].value, args.length === 2 ? args[1].value : null]];
  }
  return {
    m: (r) => {
      if (r.query === '') return false;
      const q = new URLSearchParams(r.query);
      for (const [key, value] of pairs) {
        if (value === null ? !q.has(key) : !q.getAll(key).includes(value)) return false;
      }
      return true;
    },
    hosts: null,
  };
}

function buildClientIP(args: StringToken[]): Node {
  const inRanges = clientIpRanges(args);
  return { m: (r) => inRanges(r.clientIp), hosts: null };
}
