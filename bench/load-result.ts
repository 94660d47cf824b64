// What one load run (wrk or h2load) reports, and the duration units both print.

/** One load run's numbers, from wrk or h2load. */
export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  non2xx3xx: number;
  /** wrk: connect, read, write, timeout; h2load: errored, timeout */
  socketErrors: Record<string, number>;
  /** h2load: requests that failed for any reason (errored and timed out included); null for wrk */
  failed: number | null;
  /** h2load: TLS protocol, cipher and key-exchange group negotiated; null for wrk */
  tls: string | null;
  /** h2load: the ALPN protocol negotiated; null for wrk */
  alpn: string | null;
}

/** A duration as wrk and h2load print it (value and unit), in milliseconds. */
export function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    case 'h':
      return n * 3_600_000;
    default:
      return Number.NaN;
  }
}
