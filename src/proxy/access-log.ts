// The access log: one line per request, forwarded, answered by baton itself, or upgraded to a WebSocket. The line
// (access-line.ts) is built by hand in the configured format and handed whole, newline included, to a sink: the
// log's buffered stdout stream or the access log file (src/log-file.ts), which batch the writes.
import type { ClientRequest } from './exchange.ts';
import type { Forward } from './forward.ts';
import { clfTime, commonLine, jsonHead, jsonLine } from './access-line.ts';

/** Where whole lines go. */
export interface LineSink {
  write(line: string): unknown;
}

export type AccessLogFormat = 'json' | 'common';

export class AccessLog {
  readonly format: AccessLogFormat;
  /** requests logged by this event loop (the common format's request count, as Traefik's) */
  requests = 0;
  readonly #sink: LineSink;
  readonly #bindings: string;
  // the time strings, made once per millisecond (json) or second (common)
  #headMs = -1;
  #head = '';
  #clfSecond = -1;
  #clfTime = '';

  /** `worker`: the worker thread's number, logged in each JSON line (null: the main thread). */
  constructor(sink: LineSink, format: AccessLogFormat, worker: number | null = null) {
    this.#sink = sink;
    this.format = format;
    this.#bindings = worker === null ? '' : ',"worker":' + worker;
  }

  head(): string {
    const now = Date.now();
    if (now !== this.#headMs) {
      this.#headMs = now;
      this.#head = jsonHead(now, this.#bindings);
    }
    return this.#head;
  }

  /** The common format's time of a request that started `elapsedMs` ago. */
  clfTime(elapsedMs: number): string {
    const second = Math.floor((Date.now() - elapsedMs) / 1000);
    if (second !== this.#clfSecond) {
      this.#clfSecond = second;
      this.#clfTime = clfTime(second * 1000);
    }
    return this.#clfTime;
  }

  write(line: string): void {
    this.requests++;
    this.#sink.write(line);
  }
}

/** A forwarded request, when it is over. */
export function logForwarded(log: AccessLog, f: Forward): void {
  const elapsed = performance.now() - f.started;
  const req = f.req;
  const path = pathOnly(f.path);
  const upstream = f.upstream;
  if (log.format === 'json') {
    const duration = Math.round(elapsed * 100) / 100;
    const id = upstream === null ? null : upstream.id;
    log.write(
      jsonLine(
        log.head(),
        f.method,
        req.headers.host,
        path,
        f.status,
        f.service.name,
        id,
        duration,
        f.retries,
        false,
        f.error,
      ),
    );
    return;
  }
  const url = upstream === null ? null : upstream.url;
  log.write(common(log, req, f.method, path, f.status, f.service.name, url, elapsed, f.bytes));
}

/** A response baton made itself (no upstream). */
export function logAnswered(log: AccessLog, req: ClientRequest, status: number, error: string): void {
  const path = pathOnly(req.url);
  if (log.format === 'json')
    log.write(jsonLine(log.head(), req.method!, req.headers.host, path, status, null, null, 0, -1, false, error));
  else log.write(common(log, req, req.method!, path, status, null, null, 0));
}

/** A WebSocket upgrade: tunnelled (101, with its upstream) or refused. */
export function logUpgrade(
  log: AccessLog,
  req: ClientRequest,
  status: number,
  error: string | null,
  upstream: string | null,
): void {
  const path = pathOnly(req.url);
  if (log.format === 'json')
    log.write(jsonLine(log.head(), req.method!, req.headers.host, path, status, null, upstream, -1, -1, true, error));
  else log.write(common(log, req, req.method!, path, status, null, upstream, 0));
}

function common(
  log: AccessLog,
  req: ClientRequest,
  method: string,
  path: string,
  status: number,
  router: string | null,
  server: string | null,
  elapsedMs: number,
  size = -1,
): string {
  const h = req.headers;
  const time = log.clfTime(elapsedMs);
  const protocol = req.httpVersionMajor === 2 ? 'HTTP/2.0' : req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
  const ua = h['user-agent'];
  const count = log.requests + 1;
  const client = clientAddress(req);
  return commonLine(
    client,
    time,
    method,
    path,
    protocol,
    status,
    size,
    h.referer,
    ua,
    count,
    router,
    server,
    elapsedMs | 0,
  );
}

/** The peer's address (an IPv4 client of a dual-stack listener without its `::ffff:` prefix). */
function clientAddress(req: ClientRequest): string | undefined {
  const a = req.socket?.remoteAddress;
  return a !== undefined && a.startsWith('::ffff:') ? a.slice(7) : a;
}

function pathOnly(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
