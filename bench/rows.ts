// The rows of the report: which load each target gets (plain targets: HTTP/1.1 with wrk; TLS targets: HTTPS/1.1
// with wrk, HTTP/2 with h2load, new TLS connections with h2load), their order, labels and reference rows.

import { MIDDLEWARE_TARGETS, TARGET_LABELS, type TargetName } from './targets.ts';

/**
 * - `http`: wrk, plain HTTP/1.1 over kept-alive connections
 * - `https`: wrk, HTTP/1.1 over kept-alive TLS connections
 * - `h2`: h2load, HTTP/2 streams over kept-alive TLS connections
 * - `handshake`: h2load bursts, one full TLS handshake + one HTTP/1.1 request per connection
 */
export type Load = 'http' | 'https' | 'h2' | 'handshake';
export const TLS_LOADS: readonly Load[] = ['https', 'h2', 'handshake'];

const LOAD_LABELS: Record<Load, string> = {
  http: '',
  https: 'HTTPS/1.1',
  h2: 'HTTP/2',
  handshake: 'new TLS conns',
};

export interface RowId {
  target: TargetName;
  load: Load;
}

export const isTlsTarget = (t: TargetName): boolean => t === 'nginx-tls' || t === 'baton-tls';

/** Plain targets first (one row each, as given), then per TLS load the TLS targets side by side. */
export function planRows(targets: TargetName[]): RowId[] {
  const rows: RowId[] = targets.filter((t) => !isTlsTarget(t)).map((target) => ({ target, load: 'http' }));
  const tls = targets.filter(isTlsTarget);
  for (const load of TLS_LOADS) for (const target of tls) rows.push({ target, load });
  return rows;
}

export function rowLabel(r: RowId): string {
  return r.load === 'http' ? TARGET_LABELS[r.target] : `${TARGET_LABELS[r.target]}, ${LOAD_LABELS[r.load]}`;
}

/** The row a row's ratio is taken against: the nginx proxy with the same load (plain or TLS). */
export function referenceOf(r: RowId): RowId {
  return { target: isTlsTarget(r.target) ? 'nginx-tls' : 'nginx', load: r.load };
}

/** The row a middleware row is also compared with ("vs baton"): plain baton with the same load; null for others. */
export function batonReferenceOf(r: RowId): RowId | null {
  return MIDDLEWARE_TARGETS.includes(r.target) ? { target: 'baton', load: r.load } : null;
}

export const sameRow = (a: RowId, b: RowId): boolean => a.target === b.target && a.load === b.load;
