// Traefik (v2 and v3) HTTP router rule parser.
//
//   rule    := or
//   or      := and ('||' and)*
//   and     := unary ('&&' unary)*
//   unary   := '!' unary | primary
//   primary := '(' or ')' | Matcher '(' string (',' string)* ')'
//   string  := `raw` | "Go-style escaped"
//
// Parsing compiles the rule straight into closures, so a request is matched without allocating (except Query,
// which has to parse the query string). Pure: no I/O, no globals.

import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP, isIPv4 } from 'node:net';
import { RuleSyntaxError } from '../errors.ts';

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

export interface ParsedRule {
  matcher: Matcher;
  /** Exact lower-cased hosts the rule can match, or null if it may match any host (no Host() constraint that is
   *  required on every path through the expression, or a HostRegexp / negation involved). Used to index routes by host. */
  hosts: string[] | null;
  /** Traefik's default priority: the length of the rule text. */
  priority: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Matchers

interface MatcherSpec {
  min: number;
  max: number;
  /** Describes the expected arguments, for arity errors. */
  args: string;
  /** Builds the matcher from the argument tokens; throws RuleSyntaxError pointing at the bad argument. */
  build(args: StringToken[]): Node;
}

interface Node {
  m: Matcher;
  hosts: string[] | null;
}

const MATCHERS: Record<string, MatcherSpec> = {
  Host: { min: 1, max: Infinity, args: 'one or more host names', build: buildHost },
  HostRegexp: { min: 1, max: Infinity, args: 'one or more regular expressions', build: buildHostRegexp },
  Path: { min: 1, max: Infinity, args: 'one or more paths', build: buildPath },
  PathPrefix: { min: 1, max: Infinity, args: 'one or more path prefixes', build: buildPathPrefix },
  PathRegexp: { min: 1, max: Infinity, args: 'one or more regular expressions', build: buildPathRegexp },
  Method: { min: 1, max: Infinity, args: 'one or more methods', build: buildMethod },
  Headers: { min: 2, max: 2, args: 'exactly 2 arguments (name, value)', build: buildHeaders },
  HeadersRegexp: { min: 2, max: 2, args: 'exactly 2 arguments (name, regular expression)', build: buildHeadersRegexp },
  Query: { min: 1, max: 2, args: '1 or 2 arguments (key[, value])', build: buildQuery },
  ClientIP: { min: 1, max: Infinity, args: 'one or more IP addresses or CIDR ranges', build: buildClientIP },
};

const MATCHER_NAMES = Object.keys(MATCHERS);

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
    return `[${h}]`;
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

/** Escapes a literal for use inside a RegExp. */
export function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/**
 * Translates the Go (RE2) regexp syntax people write in Traefik rules into a JS RegExp:
 * `(?P<name>` → `(?<name>`, and a leading flag group like `(?i)` becomes RegExp flags.
 */
function compileGoRegExp(src: string, tok: StringToken, matcher: string, extraFlags = ''): RegExp {
  let flags = extraFlags;
  let body = src;
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    for (const f of lead[1]) {
      if (f === 'U') throw new RuleSyntaxError(`invalid regular expression in ${matcher}: flag 'U' is not supported`, tok.pos);
      if (!flags.includes(f)) flags += f;
    }
    body = body.slice(lead[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      out += body.slice(i, i + 2);
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
      if (body[i + 1] === '^') out += body[++i];
      if (body[i + 1] === ']') out += body[++i]; // leading ']' is literal in RE2
    } else if (body.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else {
      out += c;
    }
  }
  try {
    return new RegExp(out, flags);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
    throw new RuleSyntaxError(`invalid regular expression in ${matcher}: ${why}`, tok.pos);
  }
}

/**
 * Traefik v2 host templates (gorilla/mux): `{name:re}` → `(?:re)`, `{name}` → `[^.]+`, literal text escaped, anchored.
 * Recognised by a `{` followed by a name character (a v3 regexp quantifier `{2,3}` starts with a digit), or by
 * HostRegexp having several arguments (v2 only). Anything else is a v3 regexp: unanchored, as in Traefik.
 */
const V2_TEMPLATE = /\{[A-Za-z_]/;

/**
 * A gorilla/mux template (`{sub:[a-z]+}.example.com`, `/users/{id}`) → an anchored regexp source without the
 * trailing `$`: literal text escaped, `{name:re}` → `(?:re)`, `{name}` → `placeholder`. Throws an Error saying
 * what is wrong. Shared by HostRegexp (placeholder `[^.]+`) and the Traefik v1 label translation (paths, `[^/]+`).
 */
export function templateSource(s: string, placeholder: string): string {
  let out = '^';
  let i = 0;
  while (i < s.length) {
    const open = s.indexOf('{', i);
    const close = s.indexOf('}', i);
    if (close !== -1 && (open === -1 || close < open)) throw new Error("unbalanced '}'");
    if (open === -1) {
      out += escapeRegExp(s.slice(i));
      break;
    }
    out += escapeRegExp(s.slice(i, open));
    let depth = 0;
    let end = -1;
    for (let j = open; j < s.length; j++) {
      if (s[j] === '\\') j++;
      else if (s[j] === '{') depth++;
      else if (s[j] === '}' && --depth === 0) {
        end = j;
        break;
      }
    }
    if (end === -1) throw new Error("unbalanced '{'");
    const inner = s.slice(open + 1, end);
    const colon = inner.indexOf(':');
    const name = colon === -1 ? inner : inner.slice(0, colon);
    if (name === '') throw new Error('missing variable name');
    if (colon === -1) out += placeholder;
    else {
      const re = inner.slice(colon + 1);
      if (re === '') throw new Error(`missing pattern for '${name}'`);
      out += `(?:${re})`;
    }
    i = end + 1;
  }
  return out;
}

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
  return { m: anyString(args.map((a) => checkPath(a, 'Path')), (r) => r.path), hosts: null };
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

/**
 * Parses dotted-quad IPv4 in s[start..] into an unsigned 32-bit number without allocating; -1 if it is not one.
 */
function ipv4ToInt(s: string, start: number): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (octet < 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = -1;
    } else if (c >= 48 && c <= 57) {
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (octet < 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

/** Prefix length of a leading `::ffff:` (IPv4-mapped IPv6), case-insensitive; 0 if absent. */
function mappedPrefixLength(s: string): number {
  return s.length > 7 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58 && s.slice(2, 7).toLowerCase() === 'ffff:'
    ? 7
    : 0;
}

/**
 * IPv4 ranges (and IPv4-mapped IPv6 ones, e.g. `::ffff:10.0.0.0/104`) are matched in plain JS against IPv4 and
 * IPv4-mapped clients; IPv6 ranges go to a node:net BlockList and match IPv6 clients (as in Go's net.IPNet).
 */
function buildClientIP(args: StringToken[]): Node {
  const v4Nets: number[] = []; // pairs: network, mask
  const v6 = new BlockList();
  let hasV6 = false;
  for (const a of args) {
    const bad = () => new RuleSyntaxError(`invalid IP address or CIDR '${a.value}' in ClientIP`, a.pos);
    const slash = a.value.indexOf('/');
    const addr = slash === -1 ? a.value : a.value.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw bad();
    let prefix = family === 4 ? 32 : 128;
    if (slash !== -1) {
      const bits = a.value.slice(slash + 1);
      if (!/^\d{1,3}$/.test(bits) || Number(bits) > prefix) throw bad();
      prefix = Number(bits);
    }
    const mapped = family === 6 ? mappedPrefixLength(addr) : 0;
    if (family === 4 || (mapped && prefix >= 96 && isIPv4(addr.slice(mapped)))) {
      const ip = ipv4ToInt(addr, mapped);
      const bits = family === 4 ? prefix : prefix - 96;
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      v4Nets.push((ip & mask) >>> 0, mask);
    } else {
      v6.addSubnet(addr, prefix, 'ipv6');
      hasV6 = true;
    }
  }
  const inV4 = (ip: number): boolean => {
    if (ip < 0) return false;
    for (let i = 0; i < v4Nets.length; i += 2) if (((ip & v4Nets[i + 1]) >>> 0) === v4Nets[i]) return true;
    return false;
  };
  return {
    m: (r) => {
      let ip = r.clientIp;
      if (!ip) return false;
      if (ip.indexOf(':') === -1) return inV4(ipv4ToInt(ip, 0));
      // dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d
      const mapped = mappedPrefixLength(ip);
      if (mapped && ip.indexOf('.', mapped) !== -1) return inV4(ipv4ToInt(ip, mapped));
      if (!hasV6) return false;
      if (ip.charCodeAt(0) === 91 /* [ */) ip = ip.slice(1, ip.indexOf(']'));
      const zone = ip.indexOf('%');
      if (zone !== -1) ip = ip.slice(0, zone);
      return v6.check(ip, 'ipv6');
    },
    hosts: null,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Lexer (on demand, so the first error in reading order is the one reported)

interface StringToken {
  kind: 'string';
  pos: number;
  value: string;
}
type Token =
  | StringToken
  | { kind: 'ident'; pos: number; value: string }
  | { kind: '(' | ')' | ',' | '&&' | '||' | '!' | 'eof'; pos: number; value: string };

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of rule';
    case 'ident':
      return `'${t.value}'`;
    case 'string':
      return 'a string';
    default:
      return `'${t.kind}'`;
  }
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"',
};

class Lexer {
  src: string;
  pos = 0;
  #peeked: Token | null = null;

  constructor(src: string) {
    this.src = src;
  }

  peek(): Token {
    this.#peeked ??= this.#read();
    return this.#peeked;
  }

  next(): Token {
    const t = this.peek();
    this.#peeked = null;
    return t;
  }

  #read(): Token {
    const s = this.src;
    while (this.pos < s.length && /\s/.test(s[this.pos])) this.pos++;
    const start = this.pos;
    if (start >= s.length) return { kind: 'eof', pos: s.length, value: '' };
    const c = s[start];
    switch (c) {
      case '(':
      case ')':
      case ',':
      case '!':
        this.pos++;
        return { kind: c, pos: start, value: c };
      case '&':
      case '|':
        if (s[start + 1] !== c) throw new RuleSyntaxError(`unexpected character '${c}', expected '${c}${c}'`, start);
        this.pos += 2;
        return { kind: c === '&' ? '&&' : '||', pos: start, value: c + c };
      case '`': {
        const end = s.indexOf('`', start + 1);
        if (end === -1) throw new RuleSyntaxError('unterminated string', start);
        this.pos = end + 1;
        return { kind: 'string', pos: start, value: s.slice(start + 1, end) };
      }
      case '"':
        return this.#readQuoted(start);
    }
    if (/[A-Za-z_]/.test(c)) {
      let end = start + 1;
      while (end < s.length && /[A-Za-z0-9_]/.test(s[end])) end++;
      this.pos = end;
      return { kind: 'ident', pos: start, value: s.slice(start, end) };
    }
    const shown = JSON.stringify(String.fromCodePoint(s.codePointAt(start)!)).slice(1, -1);
    throw new RuleSyntaxError(`unexpected character '${shown}'`, start);
  }

  /** Double-quoted string with Go escapes (\n, \t, \\, \", \xHH, \uHHHH, \UHHHHHHHH, \ooo). */
  #readQuoted(start: number): StringToken {
    const s = this.src;
    let out = '';
    let i = start + 1;
    for (;;) {
      if (i >= s.length || s[i] === '\n') throw new RuleSyntaxError('unterminated string', start);
      const c = s[i];
      if (c === '"') break;
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = s[i + 1];
      if (e === undefined) throw new RuleSyntaxError('unterminated string', start);
      if (e in SIMPLE_ESCAPES) {
        out += SIMPLE_ESCAPES[e];
        i += 2;
        continue;
      }
      let code = -1;
      let len = 0;
      if (e === 'x' || e === 'u' || e === 'U') {
        const hexLen = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = s.slice(i + 2, i + 2 + hexLen);
        if (hex.length === hexLen && /^[0-9a-fA-F]+$/.test(hex)) code = parseInt(hex, 16);
        len = 2 + hexLen;
      } else if (e >= '0' && e <= '7') {
        const oct = s.slice(i + 1, i + 4);
        if (/^[0-7]{3}$/.test(oct)) code = parseInt(oct, 8);
        if (code > 0xff) code = -1;
        len = 4;
      }
      if (code < 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        throw new RuleSyntaxError(
          `invalid escape sequence '\\${e}' in string (use a backtick string for regular expressions)`,
          i,
        );
      }
      out += String.fromCodePoint(code);
      i += len;
    }
    this.pos = i + 1;
    return { kind: 'string', pos: start, value: out };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parser

const MAX_DEPTH = 256;

class Parser {
  lx: Lexer;
  depth = 0;

  constructor(src: string) {
    this.lx = new Lexer(src);
  }

  parse(): Node {
    const first = this.lx.peek();
    if (first.kind === 'eof') throw new RuleSyntaxError('empty rule', 0);
    const node = this.or();
    const t = this.lx.peek();
    if (t.kind !== 'eof') throw new RuleSyntaxError(`expected '&&', '||' or end of rule but found ${describe(t)}`, t.pos);
    return node;
  }

  or(): Node {
    let left = this.and();
    while (this.lx.peek().kind === '||') {
      this.lx.next();
      const right = this.and();
      const a = left.m;
      const b = right.m;
      left = {
        m: (r) => a(r) || b(r),
        hosts: left.hosts === null || right.hosts === null ? null : union(left.hosts, right.hosts),
      };
    }
    return left;
  }

  and(): Node {
    let left = this.unary();
    while (this.lx.peek().kind === '&&') {
      this.lx.next();
      const right = this.unary();
      const a = left.m;
      const b = right.m;
      left = {
        m: (r) => a(r) && b(r),
        hosts:
          left.hosts === null ? right.hosts : right.hosts === null ? left.hosts : left.hosts.filter((h) => right.hosts!.includes(h)),
      };
    }
    return left;
  }

  unary(): Node {
    const t = this.lx.peek();
    if (t.kind === '!') {
      this.lx.next();
      this.enter(t.pos);
      const inner = this.unary().m;
      this.depth--;
      return { m: (r) => !inner(r), hosts: null };
    }
    return this.primary();
  }

  primary(): Node {
    const t = this.lx.next();
    if (t.kind === '(') {
      this.enter(t.pos);
      const node = this.or();
      this.depth--;
      const close = this.lx.next();
      if (close.kind !== ')') throw new RuleSyntaxError(`expected ')' but found ${describe(close)}`, close.pos);
      return node;
    }
    if (t.kind === 'ident') return this.matcher(t.value, t.pos);
    throw new RuleSyntaxError(`expected a matcher, '!' or '(' but found ${describe(t)}`, t.pos);
  }

  matcher(name: string, pos: number): Node {
    const spec = Object.hasOwn(MATCHERS, name) ? MATCHERS[name] : undefined;
    if (!spec) {
      const alike = MATCHER_NAMES.find((n) => n.toLowerCase() === name.toLowerCase());
      const hint = alike ? `did you mean '${alike}'? matcher names are case-sensitive` : `expected one of ${MATCHER_NAMES.join(', ')}`;
      throw new RuleSyntaxError(`unknown matcher '${name}' (${hint})`, pos);
    }
    const open = this.lx.next();
    if (open.kind !== '(') throw new RuleSyntaxError(`expected '(' after '${name}' but found ${describe(open)}`, open.pos);
    const args: StringToken[] = [];
    let close: Token;
    for (;;) {
      const a = this.lx.next();
      if (a.kind !== 'string') {
        throw new RuleSyntaxError(
          `expected a quoted string argument to ${name} (backticks or double quotes) but found ${describe(a)}`,
          a.pos,
        );
      }
      args.push(a);
      close = this.lx.next();
      if (close.kind === ')') break;
      if (close.kind !== ',') throw new RuleSyntaxError(`expected ',' or ')' but found ${describe(close)}`, close.pos);
    }
    if (args.length < spec.min) throw new RuleSyntaxError(`${name} takes ${spec.args}, got ${args.length}`, close.pos);
    if (args.length > spec.max) {
      throw new RuleSyntaxError(`${name} takes ${spec.args}, got ${args.length}`, args[spec.max].pos);
    }
    return spec.build(args);
  }

  enter(pos: number): void {
    if (++this.depth > MAX_DEPTH) throw new RuleSyntaxError('rule nested too deeply', pos);
  }
}

function union(a: string[], b: string[]): string[] {
  const out = a.slice();
  for (const h of b) if (!out.includes(h)) out.push(h);
  return out;
}

/** Parses a Traefik rule. Throws RuleSyntaxError with the 0-based position of the problem. */
export function parseRule(rule: string): ParsedRule {
  if (typeof rule !== 'string') throw new RuleSyntaxError('rule must be a string', 0);
  const node = new Parser(rule).parse();
  return { matcher: node.m, hosts: node.hosts, priority: rule.length };
}
