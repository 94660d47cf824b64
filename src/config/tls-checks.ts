// The HTTPS settings' cross-references (pure): every name a redirection, route, entrypoint or resolver refers to
// must exist, each problem with its path. Relative file paths are resolved here too.
import { isAbsolute, resolve } from 'node:path';
import type { Config } from './schema.ts';
import type { RouteTls } from './tls-schema.ts';

export function checkTlsReferences(config: Config): string[] {
  const problems: string[] = [];
  const entrypoints = new Set(Object.keys(config.entrypoints));
  const resolvers = new Set(Object.keys(config.certificatesResolvers));
  const options = new Set(['default', ...Object.keys(config.tls.options)]);
  const quote = JSON.stringify;
  const checkTls = (path: string, tls: RouteTls | undefined) => {
    if (tls === undefined) return;
    if ('certResolver' in tls && tls.certResolver !== undefined && !resolvers.has(tls.certResolver)) {
      problems.push(`${path}.certResolver: no resolver ${quote(tls.certResolver)} under certificatesResolvers`);
    }
    if ('options' in tls && tls.options !== undefined && !options.has(tls.options)) {
      problems.push(`${path}.options: no TLS options ${quote(tls.options)} under tls.options`);
    }
  };
  for (const [name, ep] of Object.entries(config.entrypoints)) {
    const to = ep.http.redirections?.entryPoint.to;
    if (to !== undefined && !/^:\d{1,5}$/.test(to)) {
      const path = `entrypoints.${name}.http.redirections.entryPoint.to`;
      if (to === name) problems.push(`${path}: an entrypoint cannot redirect to itself`);
      else if (!entrypoints.has(to))
        problems.push(`${path}: no entrypoint ${quote(to)} (use a name or a port like ":443")`);
    }
    checkTls(`entrypoints.${name}.http.tls`, ep.http.tls);
  }
  for (const [name, s] of Object.entries(config.services)) {
    for (const [i, e] of (s.entrypoints ?? []).entries()) {
      if (!entrypoints.has(e)) problems.push(`services.${name}.entrypoints.${i}: no entrypoint ${quote(e)}`);
    }
    checkTls(`services.${name}.tls`, s.tls);
  }
  for (const [name, r] of Object.entries(config.certificatesResolvers)) {
    const e = r.acme.httpChallenge?.entryPoint;
    if (e !== undefined && !entrypoints.has(e)) {
      problems.push(`certificatesResolvers.${name}.acme.httpChallenge.entryPoint: no entrypoint ${quote(e)}`);
    }
  }
  return problems;
}

/** Certificate and CA files relative to the config file's folder; ACME storage relative to stateDir. */
export function resolveTlsPaths(config: Config, baseDir: string, stateDir: string): void {
  const at = (base: string, p: string) => (isAbsolute(p) ? p : resolve(base, p));
  for (const c of config.tls.certificates) {
    c.certFile = at(baseDir, c.certFile);
    c.keyFile = at(baseDir, c.keyFile);
  }
  const d = config.tls.stores.default?.defaultCertificate;
  if (d !== undefined) {
    d.certFile = at(baseDir, d.certFile);
    d.keyFile = at(baseDir, d.keyFile);
  }
  for (const r of Object.values(config.certificatesResolvers)) {
    r.acme.storage = at(stateDir, r.acme.storage);
    r.acme.caCertificates = r.acme.caCertificates.map((f) => at(baseDir, f));
  }
}
