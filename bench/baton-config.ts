// baton's configs for the baton targets: one entrypoint, the admin API, log settings and the one route to the
// upstream; `baton-mw3` adds a chain of three built-in middlewares on that route, `baton-plugin` one plugin
// (bench/plugin-bench.ts), `baton-real` a health check and the access log, `baton-w2` two worker threads,
// `baton-nometrics` turns `metrics.enabled` off (the hot path's request counters and duration histograms).
// Everything else is the `baton` row's config, so that the ratio to it is the price of that one change alone.

import path from 'node:path';
import type { Certificate } from './tls.ts';

export type BatonName =
  'baton' | 'baton-log' | 'baton-real' | 'baton-tls' | 'baton-mw3' | 'baton-plugin' | 'baton-w2' | 'baton-nometrics';

/** The path prefix baton-mw3's stripPrefix removes: its load asks for `${STRIP_PREFIX}/`, the upstream gets `/`
 *  (and answers 404 under this prefix, so that a prefix not stripped shows as non-2xx responses). */
export const STRIP_PREFIX = '/bench';
/** The request header the plugin sets (from the Host header's first label). */
export const PLUGIN_HEADER = 'X-Tenant';
const PLUGIN_MODULE = path.join(import.meta.dirname, 'plugin-bench.ts');

/** The path each baton target's load asks for. */
export const batonPath = (name: BatonName): string => (name === 'baton-mw3' ? `${STRIP_PREFIX}/` : '/');

export interface BatonPorts {
  web: number;
  admin: number;
  upstream: number;
}

/** The three middlewares of baton-mw3, in chain order: headers, stripPrefix, ipAllowList. */
const MIDDLEWARES_MW3 = `middlewares:
  bench-headers:
    headers:
      customRequestHeaders:
        X-Bench: "1"
      customResponseHeaders:
        X-Bench-Proxy: baton
      frameDeny: true
  bench-strip:
    stripPrefix:
      prefixes: ["${STRIP_PREFIX}"]
  bench-allow:
    ipAllowList:
      sourceRange: ["127.0.0.1/32", "::1/128"]
`;

const PLUGINS = `plugins:
  bench-tenant:
    module: ${JSON.stringify(PLUGIN_MODULE)}
    options:
      header: ${PLUGIN_HEADER}
`;

/** baton-real's route: an active health check every second and passive ejection, as a production route has (the
 *  access log is on too; its lines go to a file, as a log shipper reads them). */
const REALISTIC_ROUTE = `    healthCheck: { path: /, interval: 1s, timeout: 1s, rise: 2, fall: 2 }
    passive: { failures: 5, cooldown: 10s }
`;

/** The route's middleware list, and the top-level sections that define them. */
function chain(name: BatonName): { sections: string; route: string } {
  if (name === 'baton-mw3') {
    return { sections: MIDDLEWARES_MW3, route: '    middlewares: [bench-headers, bench-strip, bench-allow]\n' };
  }
  if (name === 'baton-plugin') return { sections: PLUGINS, route: '    middlewares: [bench-tenant]\n' };
  return { sections: '', route: '' };
}

/** baton's config: one entrypoint, the admin API, log settings, and the one route to the upstream (the TLS
 *  target: the route with `tls: {}`, served only over TLS, with the bench certificate; access log off). */
export function batonConfig(name: BatonName, ports: BatonPorts, host: string, cert: Certificate | null): string {
  const common = `${name === 'baton-w2' ? 'workers: 2\n' : ''}admin:
  address: "127.0.0.1:${ports.admin}"
  token: "bench-token-0123456789"
log:
  level: info
  accessLog: ${name === 'baton-log' || name === 'baton-real'}
${name === 'baton-nometrics' ? 'metrics:\n  enabled: false\n' : ''}`;
  if (name !== 'baton-tls') {
    const { sections, route } = chain(name);
    return `entrypoints:
  web:
    address: "127.0.0.1:${ports.web}"
${common}${sections}services:
  bench:
    rule: "Host(\`${host}\`)"
    upstreams: ["http://127.0.0.1:${ports.upstream}"]
${route}${name === 'baton-real' ? REALISTIC_ROUTE : ''}`;
  }
  if (cert === null) throw new Error('baton-tls needs the bench certificate');
  return `entrypoints:
  websecure:
    address: "127.0.0.1:${ports.web}"
${common}tls:
  certificates:
    - certFile: ${JSON.stringify(cert.certFile)}
      keyFile: ${JSON.stringify(cert.keyFile)}
services:
  bench:
    rule: "Host(\`${host}\`)"
    upstreams: ["http://127.0.0.1:${ports.upstream}"]
    tls: {}
`;
}
