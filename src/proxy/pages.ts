// The small, clear responses baton itself answers with. No upstream addresses: the public never sees internals.
import type { ClientResponse } from './exchange.ts';

export const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Writes a short text/plain page. `code` is a stable machine-readable reason, also sent as X-Baton-Error. */
export function sendPage(
  res: ClientResponse,
  method: string,
  status: number,
  code: string,
  detail: string,
  close: boolean,
  retryAfter = 0,
): void {
  const body = `${status} ${REASONS[status] ?? ''}\n${detail}\n`;
  const headers: string[] = [
    'content-type',
    'text/plain; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
    'cache-control',
    'no-store',
    'x-baton-error',
    code,
  ];
  if (retryAfter > 0) headers.push('retry-after', String(retryAfter));
  if (close && !res.h2) headers.push('connection', 'close');
  res.writeHead(status, headers);
  res.end(method === 'HEAD' ? undefined : body);
}

/** A service's maintenance page (text/html, the operator's), with Retry-After. */
export function sendMaintenance(res: ClientResponse, method: string, html: string, retryAfter: number, close: boolean) {
  const headers = ['content-type', 'text/html; charset=utf-8', 'content-length', String(Buffer.byteLength(html))];
  headers.push('cache-control', 'no-store', 'x-baton-error', 'maintenance', 'retry-after', String(retryAfter));
  if (close && !res.h2) headers.push('connection', 'close');
  res.writeHead(503, headers);
  res.end(method === 'HEAD' ? undefined : html);
}

/** Raw bytes for sockets that never became an HTTP exchange (connection cap, bad upgrade). */
export function rawPage(status: number, code: string, detail: string): string {
  const body = `${status} ${REASONS[status] ?? ''}\n${detail}\n`;
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? ''}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n` +
    `x-baton-error: ${code}\r\nconnection: close\r\n\r\n${body}`
  );
}

/** A short text/plain answer (ACME HTTP-01 key authorizations). */
export function sendText(res: ClientResponse, status: number, text: string): void {
  res.writeHead(status, ['content-type', 'text/plain', 'content-length', String(Buffer.byteLength(text))]);
  res.end(text);
}

/** A redirect with a one-line body. */
export function sendRedirect(res: ClientResponse, method: string, status: number, location: string, close: boolean) {
  const body = `Moved to ${location}\n`;
  const headers = ['location', location, 'content-type', 'text/plain; charset=utf-8'];
  headers.push('content-length', String(Buffer.byteLength(body)));
  if (close && !res.h2) headers.push('connection', 'close');
  res.writeHead(status, headers);
  res.end(method === 'HEAD' ? undefined : body);
}

/** Raw bytes of a middleware's answer to a WebSocket upgrade it refused (the connection is then closed). */
export function rawAnswer(status: number, list: readonly string[], body: Buffer): Buffer {
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? ''}\r\n`;
  for (let i = 0; i < list.length; i += 2) {
    const n = list[i].toLowerCase();
    if (n !== 'content-length' && n !== 'connection') head += `${list[i]}: ${list[i + 1]}\r\n`;
  }
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** baton's page as a header list and a body, for a response that goes through middlewares first. */
export function pageOf(status: number, code: string, detail: string, close: boolean): { list: string[]; body: Buffer } {
  const body = Buffer.from(`${status} ${REASONS[status] ?? ''}\n${detail}\n`);
  const list = ['content-type', 'text/plain; charset=utf-8', 'cache-control', 'no-store', 'x-baton-error', code];
  if (close) list.push('connection', 'close');
  return { list, body };
}
