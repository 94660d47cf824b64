// Host formatting shared by every layer (pure): an IP or name as it goes into a URL or a Host header.

/** `host` as it appears in a URL authority: IPv6 addresses bracketed, everything else unchanged. */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The host to connect to for a listener bound to `bindHost`: a wildcard bind (`''`, `0.0.0.0`, `::`) is reached
 *  on loopback; the result is ready for a URL (IPv6 bracketed). */
export function dialHost(bindHost: string): string {
  if (bindHost === '' || bindHost === '0.0.0.0') return '127.0.0.1';
  if (bindHost === '::' || bindHost === '[::]') return '[::1]';
  return urlHost(bindHost);
}
