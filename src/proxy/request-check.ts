// Steps 0–2 of a request (pure): framing Node's parser lets through, the Host, and the target. A refusal is a 400
// with a stable code; what passes is the one authority and the normalised path that routing and forwarding use.
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { RequestView } from '../routing/rule.ts';
import type { ClientRequest } from './exchange.ts';
import { normalizePath, parseHost, splitTarget, type Target } from '../routing/target.ts';

export interface Checked {
  kind: 'checked';
  /** the authority the request is routed by, lower-cased, without a port */
  host: string;
  hostHeader: string | undefined;
  /** the path to route and forward (dot segments resolved) */
  path: string;
  target: Target;
}

export interface Refused {
  kind: 'refused';
  code: string;
  detail: string;
}

const refused = (code: string, detail: string): Refused => Object.freeze({ kind: 'refused', code, detail });
const BAD_FRAMING = refused('bad_framing', 'Only "Transfer-Encoding: chunked" is accepted on requests.');
const TWO_HOSTS = refused('bad_host', 'The request has more than one Host header.');
const BAD_HOST = refused('bad_host', 'The Host header is malformed.');
const BAD_TARGET = refused('bad_target', 'The request target is not a path or an absolute http URL.');
const HOST_MISMATCH = refused('bad_host', 'The absolute request target does not match the Host header.');
const BAD_PATH = refused('bad_path', 'The request path is malformed.');
const NUL_PATH = refused('bad_path', 'The request path contains an encoded NUL byte.');
const SLASH_PATH = refused('bad_path', 'The request path contains an encoded "/" or "\\".');
const BACKSLASH_PATH = refused('bad_path', 'The request path contains a "\\".');

const NO_AUTHORITY = refused('bad_host', 'The request has neither :authority nor Host.');
const AUTHORITY_MISMATCH = refused('bad_host', 'The :authority and Host of the request disagree.');

/** An HTTP/2 request: `:authority` is the Host (RFC 9113 §8.3.1), and a Host header must agree with it. */
export function checkH2Request(req: Http2ServerRequest): Checked | Refused {
  const authority = req.headers[':authority'];
  const host = req.headers.host;
  if (authority === undefined && host === undefined) return NO_AUTHORITY;
  if (authority !== undefined && host !== undefined && authority.toLowerCase() !== host.toLowerCase()) {
    return AUTHORITY_MISMATCH;
  }
  const hostHeader = authority ?? host!;
  const parsed = parseHost(hostHeader);
  if (parsed === null) return BAD_HOST;
  return checkTarget(req.url, hostHeader, parsed);
}

export function checkRequest(req: IncomingMessage): Checked | Refused {
  // 0. framing Node's parser lets through: only plain `chunked` is a transfer coding baton forwards
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.toLowerCase() !== 'chunked') return BAD_FRAMING;

  // 1. Host: exactly one, well formed
  const raw = req.rawHeaders;
  let hostCount = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') hostCount++;
  }
  if (hostCount > 1) return TWO_HOSTS;
  const hostHeader = req.headers.host;
  let host = '';
  if (hostHeader !== undefined) {
    const parsed = parseHost(hostHeader);
    if (parsed === null) return BAD_HOST;
    host = parsed;
  }

  return checkTarget(req.url!, hostHeader, host);
}

/** 2. target: origin-form, or absolute-form agreeing with Host; the path normalised. */
function checkTarget(url: string, hostHeader: string | undefined, hostFromHeader: string): Checked | Refused {
  let host = hostFromHeader;
  const target = splitTarget(url);
  if (target === null) return BAD_TARGET;
  if (target.authority !== null) {
    const fromTarget = parseHost(target.authority);
    const disagrees = hostHeader !== undefined && target.authority.toLowerCase() !== hostHeader.toLowerCase();
    if (fromTarget === null || disagrees) return HOST_MISMATCH;
    host = fromTarget;
  }
  const path = normalizePath(target.path);
  switch (path) {
    case 'not-origin-form':
    case 'bad-escape':
      return BAD_PATH;
    case 'encoded-null':
      return NUL_PATH;
    case 'encoded-slash':
      return SLASH_PATH;
    case 'backslash':
      return BACKSLASH_PATH;
  }
  return { kind: 'checked', host, hostHeader, path, target };
}

/** The request as the route table sees it. Headers are read lazily (Node builds them on first access). */
export class View implements RequestView {
  host = '';
  path = '';
  query = '';
  method = '';
  clientIp = '';
  req: ClientRequest;
  constructor(req: ClientRequest) {
    this.req = req;
  }
  get headers() {
    return this.req.headers;
  }
}
