// The access log's lines, built by hand: string concatenation of known fields, no object per line. Strings that
// come from the client (host, path, referer, user-agent) are escaped only when a fast check finds a character that
// needs it, and are cut to a bound, so no line can be broken or forged by a header value and every line stays well
// under PIPE_BUF (4 KiB: one write of a line to a pipe shared with other threads is never split).
//
//   json:   {"level":"info","time":"<ISO>","name":"baton","component":"access"[,"worker":n],"method":…,"msg":"request"}
//           (the line pino wrote before: same fields, same order)
//   common: Traefik's Common Log Format,
//           <client> - <user> [<dd/Mon/yyyy:HH:MM:SS +0000>] "<method> <path> <proto>" <status> <size>
//           "<referer>" "<user-agent>" <request count> "<router>" "<server URL>" <duration>ms

/** Longest path logged (longer ones are cut and end in "..."), in characters. */
export const MAX_PATH = 1024;
/** Longest Host logged. */
export const MAX_HOST = 256;
/** Longest Referer or User-Agent logged. */
export const MAX_HEADER = 512;

const CUT = '...';

// A character JSON must escape: quote, backslash, C0 controls, and surrogates (a lone one is escaped by
// JSON.stringify; a pair is checked too, which is rare enough in a path or Host).
const JSON_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function cut(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - CUT.length) + CUT;
}

/** A JSON string literal of `s` (cut to `max` characters first). */
export function jsonString(s: string, max: number): string {
  const v = cut(s, max);
  return JSON_ESCAPE.test(v) ? JSON.stringify(v) : '"' + v + '"';
}

// Anything outside printable ASCII, the quote and the backslash: a Common Log Format field stays one ASCII line.
const CLF_ESCAPE = /[^\u0020-\u007e]|["\\]/;

/** `s` with quotes, backslashes, control characters and every non-ASCII byte escaped (\", \\, \n, \xHH),
 *  as nginx and Go's %q do; cut to `max` characters first. Node decodes header bytes as latin1, so each
 *  character up to U+00FF is one byte on the wire; anything above (an HTTP/2 header) is written as \uHHHH. */
export function clfEscape(s: string, max: number): string {
  const v = cut(s, max);
  if (!CLF_ESCAPE.test(v)) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) out += v[i];
    else if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c <= 0xff) out += '\\x' + (c < 0x10 ? '0' : '') + c.toString(16);
    else out += '\\u' + c.toString(16).padStart(4, '0');
  }
  return out;
}

/** The request's path in a CLF line: escaped, and a space (an HTTP/2 :path may have one) written \x20, so the
 *  request field keeps its three parts. */
function clfPath(path: string): string {
  const v = clfEscape(path, MAX_PATH);
  return v.indexOf(' ') === -1 ? v : v.replaceAll(' ', '\\x20');
}

/** A quoted Common Log Format field; `"-"` when absent or empty. */
export function clfQuoted(s: string | undefined | null, max: number): string {
  return s === undefined || s === null || s === '' ? '"-"' : '"' + clfEscape(s, max) + '"';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function two(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/** `dd/Mon/yyyy:HH:MM:SS +0000` (UTC), the Common Log Format's time. */
export function clfTime(ms: number): string {
  const d = new Date(ms);
  const date = two(d.getUTCDate()) + '/' + MONTHS[d.getUTCMonth()] + '/' + d.getUTCFullYear();
  return date + ':' + two(d.getUTCHours()) + ':' + two(d.getUTCMinutes()) + ':' + two(d.getUTCSeconds()) + ' +0000';
}

/** The start of a JSON line up to the first field: level, time, name, component and the bindings (`,"worker":1`). */
export function jsonHead(ms: number, bindings: string): string {
  return '{"level":"info","time":"' + new Date(ms).toISOString() + '","name":"baton","component":"access"' + bindings;
}

/** A JSON access line (with its newline). Absent fields: null (retries: -1, duration: -1). */
export function jsonLine(
  head: string,
  method: string,
  host: string | undefined,
  path: string,
  status: number,
  service: string | null,
  upstream: string | null,
  duration: number,
  retries: number,
  upgrade: boolean,
  error: string | null,
): string {
  let line = head + ',"method":' + jsonString(method, MAX_HOST);
  if (host !== undefined) line += ',"host":' + jsonString(host, MAX_HOST);
  line += ',"path":' + jsonString(path, MAX_PATH) + ',"status":' + status;
  if (service !== null) line += ',"service":' + jsonString(service, MAX_HOST);
  if (upgrade) line += ',"upgrade":"websocket"';
  if (upstream !== null) line += ',"upstream":' + jsonString(upstream, MAX_HOST);
  if (duration >= 0) line += ',"duration":' + duration;
  if (retries >= 0) line += ',"retries":' + retries;
  if (error !== null) line += ',"error":' + jsonString(error, MAX_HOST);
  return line + ',"msg":"request"}\n';
}

/** A Common Log Format access line (with its newline). `size` -1: unknown ("-"). */
export function commonLine(
  client: string | undefined,
  time: string,
  method: string,
  path: string,
  protocol: string,
  status: number,
  size: number,
  referer: string | undefined,
  userAgent: string | undefined,
  count: number,
  router: string | null,
  server: string | null,
  durationMs: number,
): string {
  const request = clfEscape(method, MAX_HOST) + ' ' + clfPath(path) + ' ' + protocol;
  return (
    (client === undefined || client === '' ? '-' : clfEscape(client, MAX_HOST)) +
    ' - - [' +
    time +
    '] "' +
    request +
    '" ' +
    status +
    ' ' +
    (size < 0 ? '-' : size) +
    ' ' +
    clfQuoted(referer, MAX_HEADER) +
    ' ' +
    clfQuoted(userAgent, MAX_HEADER) +
    ' ' +
    count +
    ' ' +
    clfQuoted(router, MAX_HOST) +
    ' ' +
    clfQuoted(server, MAX_HOST) +
    ' ' +
    durationMs +
    'ms\n'
  );
}
