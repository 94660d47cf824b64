// Request-target and Host parsing, pure. The path used for routing is exactly the path forwarded.

const HOST_RE = /^(?:\[[0-9a-fA-F:.]{2,45}\]|[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,252}))(?::(\d{1,5}))?$/;

/** Host header value → lower-cased host without port (IPv6 keeps its brackets), or null if malformed. */
export function parseHost(value: string): string | null {
  const m = HOST_RE.exec(value);
  if (m === null) return null;
  if (m[1] !== undefined && Number(m[1]) > 65535) return null;
  const end = m[1] === undefined ? value.length : value.length - m[1].length - 1;
  const host = end === value.length ? value : value.slice(0, end);
  return host.toLowerCase();
}

const HEX = '0123456789ABCDEF';
function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}
function isUnreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

export type PathProblem = 'bad-escape' | 'encoded-null' | 'encoded-slash' | 'backslash' | 'not-origin-form';

/**
 * Normalises an origin-form path (no query): percent-escapes of unreserved characters are decoded (so `%2e%2e`
 * becomes `..`), other escapes get upper-case hex, dot segments are removed (RFC 3986 §5.2.4). Returns the
 * normalised path, or a problem: `%00`, encoded `/` or `\` (unless allowed), a raw `\`, or a broken escape.
 */
export function normalizePath(raw: string, allowEncodedSlash = false): string | PathProblem {
  if (raw.charCodeAt(0) !== 47 /* / */) return 'not-origin-form';
  // fast path: nothing to decode and no dot segment
  if (raw.indexOf('%') === -1 && raw.indexOf('/.') === -1) {
    return raw.indexOf('\\') === -1 ? raw : 'backslash';
  }
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 92 /* \ */) return 'backslash';
    if (c !== 37 /* % */) {
      out += raw[i];
      continue;
    }
    const h = i + 2 < raw.length ? hexVal(raw.charCodeAt(i + 1)) : -1;
    const l = h === -1 ? -1 : hexVal(raw.charCodeAt(i + 2));
    if (l === -1) return 'bad-escape';
    const byte = h * 16 + l;
    if (byte === 0) return 'encoded-null';
    if ((byte === 0x2f || byte === 0x5c) && !allowEncodedSlash) return 'encoded-slash';
    out += isUnreserved(byte) ? String.fromCharCode(byte) : '%' + HEX[h] + HEX[l];
    i += 2;
  }
  return removeDotSegments(out);
}

/** RFC 3986 §5.2.4 on an absolute path. */
export function removeDotSegments(path: string): string {
  if (path.indexOf('/.') === -1) return path;
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is '' (the path starts with '/')
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  }
  return '/' + out.join('/');
}

export interface Target {
  path: string;
  /** query without '?', '' when absent */
  query: string;
  /** for absolute-form targets: the authority (host[:port]) given in the target */
  authority: string | null;
}

/** Splits a request-target (origin-form or absolute-form) into authority, path and query. Null if neither form. */
export function splitTarget(url: string): Target | null {
  let authority: string | null = null;
  let rest = url;
  if (url.charCodeAt(0) !== 47) {
    const m = /^https?:\/\/([^/?#]*)/i.exec(url);
    if (m === null) return null;
    authority = m[1];
    rest = url.slice(m[0].length);
    if (rest === '' || rest[0] === '?') rest = '/' + rest;
  }
  const q = rest.indexOf('?');
  if (q === -1) return { path: rest, query: '', authority };
  return { path: rest.slice(0, q), query: rest.slice(q + 1), authority };
}
