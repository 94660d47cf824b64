// Which routes each listener serves (pure). A listener is an entrypoint spoken to in plain HTTP or over TLS. A
// route is served on the entrypoints it names (every entrypoint when it names none) — over TLS when it has TLS, its
// own or the entrypoint's default `http.tls`, and in plain HTTP otherwise: Traefik's semantics.
import type { RouteTls } from '../config/tls-schema.ts';
import type { Route } from '../routing/route-table.ts';
import { parseRule } from '../routing/rule.ts';

/** A route as a listener serves it: with the TLS it is served with (null: plain HTTP). */
export interface ListenerRoute<S> extends Route<S> {
  tls: RouteTls | null;
}

export interface RouteSpec<S> extends Route<S> {
  entrypoints?: readonly string[];
  tls?: RouteTls;
}

export function listenerKey(entrypoint: string, tls: boolean): string {
  return tls ? `${entrypoint}+tls` : entrypoint;
}

/** Routes per listener key, for every entrypoint in `entrypoints` (name → its default TLS, if any). */
export function routesByListener<S>(
  routes: readonly RouteSpec<S>[],
  entrypoints: Readonly<Record<string, { tls?: RouteTls }>>,
): Map<string, ListenerRoute<S>[]> {
  const out = new Map<string, ListenerRoute<S>[]>();
  for (const name of Object.keys(entrypoints)) {
    out.set(listenerKey(name, false), []);
    out.set(listenerKey(name, true), []);
  }
  for (const r of routes) {
    const { entrypoints: on, tls, ...route } = r;
    for (const name of on ?? Object.keys(entrypoints)) {
      const ep = entrypoints[name];
      if (ep === undefined) continue; // a name the config does not have: checked where routes come from
      const effective = tls ?? ep.tls ?? null;
      out.get(listenerKey(name, effective !== null))!.push({ ...route, tls: effective });
    }
  }
  return out;
}

/** A certificate some TLS route needs from an ACME resolver: `domains[0]` is the main name, the rest its SANs. */
export interface CertificateDemand {
  resolver: string;
  domains: string[];
}

/** What the TLS routes ask their resolvers for (pure): one certificate per `tls.domains` entry, and one per exact
 *  Host() name of the rule when the route names no domains (a name per certificate, so that one failing name never
 *  holds up the others). HostRegexp names cannot be ordered. Sorted and without duplicates. */
export function certificateDemands<S>(
  routes: readonly RouteSpec<S>[],
  entrypoints: Readonly<Record<string, { tls?: RouteTls }>>,
): CertificateDemand[] {
  const seen = new Map<string, CertificateDemand>();
  const add = (resolver: string, domains: string[]) => {
    const key = `${resolver} ${domains.join(',')}`;
    if (!seen.has(key)) seen.set(key, { resolver, domains });
  };
  for (const r of routes) {
    for (const name of r.entrypoints ?? Object.keys(entrypoints)) {
      const ep = entrypoints[name];
      if (ep === undefined) continue;
      const tls = r.tls ?? ep.tls;
      const resolver = (tls as { certResolver?: string } | undefined)?.certResolver;
      if (tls === undefined || resolver === undefined) continue;
      if (tls.domains.length > 0) {
        for (const d of tls.domains) add(resolver, [d.main, ...d.sans.filter((s) => s !== d.main)]);
        continue;
      }
      let hosts: string[] | null;
      try {
        hosts = parseRule(r.rule).hosts;
      } catch {
        continue; // an invalid rule is refused where routes are built
      }
      for (const h of hosts ?? []) if (!h.startsWith('[') && !/^\d+(\.\d+){3}$/.test(h)) add(resolver, [h]);
    }
  }
  return [...seen.values()].sort((a, b) => (a.resolver + a.domains[0] < b.resolver + b.domains[0] ? -1 : 1));
}

/** The `tls.options` each exact host of a TLS route asks for (the handshake picks them by SNI, before any
 *  route is known; Traefik's semantics). A host whose routes disagree keeps the first by route order. */
export function tlsOptionsByHost<S>(
  routes: readonly RouteSpec<S>[],
  entrypoints: Readonly<Record<string, { tls?: RouteTls }>>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of routes) {
    for (const name of r.entrypoints ?? Object.keys(entrypoints)) {
      const tls = r.tls ?? entrypoints[name]?.tls;
      const options = (tls as { options?: string } | undefined)?.options;
      if (options === undefined) continue;
      let hosts: string[] | null;
      try {
        hosts = parseRule(r.rule).hosts;
      } catch {
        continue;
      }
      for (const h of hosts ?? []) if (!out.has(h)) out.set(h, options);
      for (const d of tls!.domains) for (const h of [d.main, ...d.sans]) if (!out.has(h)) out.set(h, options);
    }
  }
  return out;
}
