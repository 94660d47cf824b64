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

type Entrypoints = Readonly<Record<string, { tls?: RouteTls }>>;

/** Every entrypoint a route is served on, with the TLS it is served with there (null: plain HTTP). Names the
 *  config does not have serve nothing (they are reported where routes come from). */
function* servings<S>(routes: readonly RouteSpec<S>[], entrypoints: Entrypoints) {
  for (const route of routes) {
    for (const entrypoint of route.entrypoints ?? Object.keys(entrypoints)) {
      const ep = entrypoints[entrypoint];
      if (ep !== undefined) yield { route, entrypoint, tls: route.tls ?? ep.tls ?? null };
    }
  }
}

/** The exact Host() names of a rule ([] for none, or for an invalid rule: refused where routes are built). */
function hostsOf(rule: string): string[] {
  try {
    return parseRule(rule).hosts ?? [];
  } catch {
    return [];
  }
}

/** Routes per listener key, for every entrypoint in `entrypoints` (name → its default TLS, if any). */
export function routesByListener<S>(
  routes: readonly RouteSpec<S>[],
  entrypoints: Entrypoints,
): Map<string, ListenerRoute<S>[]> {
  const out = new Map<string, ListenerRoute<S>[]>();
  for (const name of Object.keys(entrypoints)) {
    out.set(listenerKey(name, false), []);
    out.set(listenerKey(name, true), []);
  }
  for (const { route: r, entrypoint, tls } of servings(routes, entrypoints)) {
    const { entrypoints: _on, tls: _tls, ...route } = r;
    out.get(listenerKey(entrypoint, tls !== null))!.push({ ...route, tls });
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
export function certificateDemands<S>(routes: readonly RouteSpec<S>[], entrypoints: Entrypoints): CertificateDemand[] {
  const seen = new Map<string, CertificateDemand>();
  const add = (resolver: string, domains: string[]) => {
    const key = `${resolver} ${domains.join(',')}`;
    if (!seen.has(key)) seen.set(key, { resolver, domains });
  };
  for (const { route, tls } of servings(routes, entrypoints)) {
    const resolver = (tls as { certResolver?: string } | null)?.certResolver;
    if (tls === null || resolver === undefined) continue;
    if (tls.domains.length > 0) {
      for (const d of tls.domains) add(resolver, [d.main, ...d.sans.filter((s) => s !== d.main)]);
      continue;
    }
    for (const h of hostsOf(route.rule)) if (!h.startsWith('[') && !/^\d+(\.\d+){3}$/.test(h)) add(resolver, [h]);
  }
  return [...seen.values()].sort((a, b) => (a.resolver + a.domains[0] < b.resolver + b.domains[0] ? -1 : 1));
}

/** The `tls.options` each exact host of a TLS route asks for (the handshake picks them by SNI, before any
 *  route is known; Traefik's semantics). A host whose routes disagree keeps the first by route order. */
export function tlsOptionsByHost<S>(routes: readonly RouteSpec<S>[], entrypoints: Entrypoints): Map<string, string> {
  const out = new Map<string, string>();
  for (const { route, tls } of servings(routes, entrypoints)) {
    const options = (tls as { options?: string } | null)?.options;
    if (tls === null || options === undefined) continue;
    for (const h of hostsOf(route.rule)) if (!out.has(h)) out.set(h, options);
    for (const d of tls.domains) for (const h of [d.main, ...d.sans]) if (!out.has(h)) out.set(h, options);
  }
  return out;
}
