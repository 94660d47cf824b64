// The rows of the report: which load each target gets (plain targets: HTTP/1.1 with wrk; TLS targets: HTTPS/1.1
// with wrk, HTTP/2 with h2load, new TLS connections with h2load), their order, labels and reference rows.

import { MIDDLEWARE_TARGETS, MULTI_CORE_TARGETS, TARGET_LABELS, VS_BATON_TARGETS, type TargetName } from './targets.ts';

/**
 * - `http`: wrk, plain HTTP/1.1 over kept-alive connections, a 6-byte body, --connections (50)
 * - the shapes (`--shapes`): the same with a 16 KiB or a 1 MiB body, or with 10 or 500 connections
 * - `https`: wrk, HTTP/1.1 over kept-alive TLS connections
 * - `h2`: h2load, HTTP/2 streams over kept-alive TLS connections
 * - `handshake`: h2load bursts, one full TLS handshake + one HTTP/1.1 request per connection
 */
export type Load = 'http' | 'http-16k' | 'http-1m' | 'http-c10' | 'http-c500' | 'https' | 'h2' | 'handshake';
export const TLS_LOADS: readonly Load[] = ['https', 'h2', 'handshake'];
export const SHAPE_LOADS: readonly Load[] = ['http-c10', 'http-c500', 'http-16k', 'http-1m'];

/** What a shape changes: the path the upstream answers with a body of that size, or the connection count. */
export const SHAPES: Partial<Record<Load, { path?: string; connections?: number }>> = {
  'http-16k': { path: '/body/16k' },
  'http-1m': { path: '/body/1m' },
  'http-c10': { connections: 10 },
  'http-c500': { connections: 500 },
};

const LOAD_LABELS: Record<Load, string> = {
  http: '',
  'http-16k': '16 KiB body',
  'http-1m': '1 MiB body',
  'http-c10': 'c=10',
  'http-c500': 'c=500',
  https: 'HTTPS/1.1',
  h2: 'HTTP/2',
  handshake: 'new TLS conns',
};

export interface RowId {
  target: TargetName;
  load: Load;
}

export const isTlsTarget = (t: TargetName): boolean => t === 'nginx-tls' || t === 'baton-tls';

/** The plain targets that take the shapes: the ones that forward GET / as is on one core (not the middleware or
 *  multi-core rows). */
export const takesShapes = (t: TargetName): boolean =>
  !isTlsTarget(t) && !MIDDLEWARE_TARGETS.includes(t) && !MULTI_CORE_TARGETS.includes(t);

/** Plain targets first (one row each, as given), then with `shapes` per shape the targets side by side, then per
 *  TLS load the TLS targets side by side. */
export function planRows(targets: TargetName[], shapes = false): RowId[] {
  const rows: RowId[] = targets.filter((t) => !isTlsTarget(t)).map((target) => ({ target, load: 'http' }));
  if (shapes)
    for (const load of SHAPE_LOADS) for (const target of targets.filter(takesShapes)) rows.push({ target, load });
  const tls = targets.filter(isTlsTarget);
  for (const load of TLS_LOADS) for (const target of tls) rows.push({ target, load });
  return rows;
}

export function rowLabel(r: RowId): string {
  return r.load === 'http' ? TARGET_LABELS[r.target] : `${TARGET_LABELS[r.target]}, ${LOAD_LABELS[r.load]}`;
}

export function isTlsLoad(load: Load): boolean {
  return TLS_LOADS.includes(load);
}

/** The row a row's ratio is taken against: the nginx proxy with the same load (plain or TLS). */
export function referenceOf(r: RowId): RowId {
  return { target: isTlsTarget(r.target) ? 'nginx-tls' : 'nginx', load: r.load };
}

/** The row a middleware, access-log or realistic row is also compared with ("vs baton"): plain baton with the same
 *  load; null for others. */
export function batonReferenceOf(r: RowId): RowId | null {
  return VS_BATON_TARGETS.includes(r.target) ? { target: 'baton', load: r.load } : null;
}

export const sameRow = (a: RowId, b: RowId): boolean => a.target === b.target && a.load === b.load;
