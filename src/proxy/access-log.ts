// The access log: one line per request, forwarded, answered by baton itself, or upgraded to a WebSocket.
import type { Logger } from 'pino';
import type { ClientRequest } from './exchange.ts';
import type { Forward } from './forward.ts';

/** A forwarded request, when it is over. */
export function logForwarded(log: Logger, f: Forward): void {
  log.info(
    {
      method: f.method,
      host: f.req.headers.host,
      path: pathOnly(f.path),
      status: f.status,
      service: f.service.name,
      upstream: f.upstream?.id,
      duration: Math.round((performance.now() - f.started) * 100) / 100,
      retries: f.retries,
      error: f.error ?? undefined,
    },
    'request',
  );
}

/** A response baton made itself (no upstream). */
export function logAnswered(log: Logger, req: ClientRequest, status: number, error: string): void {
  log.info(
    { method: req.method, host: req.headers.host, path: pathOnly(req.url), status, error, duration: 0 },
    'request',
  );
}

/** A WebSocket upgrade: tunnelled (101, with its upstream) or refused. */
export function logUpgrade(
  log: Logger,
  req: ClientRequest,
  status: number,
  error: string | null,
  upstream: string | null,
): void {
  const path = pathOnly(req.url);
  const fields = { method: req.method, host: req.headers.host, path, status, upgrade: 'websocket' };
  log.info({ ...fields, upstream: upstream ?? undefined, error: error ?? undefined }, 'request');
}

function pathOnly(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
