// The small, clear responses baton itself answers with. No upstream addresses: the public never sees internals.
import type { ClientResponse } from './exchange.ts';

export const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
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
  if (close && !res.h2) headers.push('connection', 'close');
  res.writeHead(status, headers);
  res.end(method === 'HEAD' ? undefined : body);
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
