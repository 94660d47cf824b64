// One service's labels → its spec (name, rule, priority, port, health check, ...), one step per field. Each step
// takes the first label set in order of precedence: baton.*, then Traefik v2/v3, then Traefik v1. Pure; a problem
// is recorded on the Reader. Used by labels.ts.

import type { RouteTls } from '../config/tls-schema.ts';
import type { DesiredRoute } from '../upstream/desired.ts';
import type { Label, Reader, TlsLabels } from './label-reader.ts';
import type { ContainerView, DockerProviderOptions, HealthCheckLabels } from './labels.ts';
import { middlewareRefs, shownRefs } from './middleware-labels.ts';
import { quote, translateV1Rule } from './traefik-v1.ts';
import { normalize, routerPrefix, type Group, type Router } from './traefik-v2.ts';

/** What the config schema accepts as a service name. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** A service's route as the labels give it, before its address is known. */
export interface Spec {
  service: string;
  /** Traefik v2/v3 syntax rule (v1 rules translated) */
  rule: string;
  priority?: number;
  port: number;
  /** ms numbers; only what labels set */
  healthCheck: HealthCheckLabels;
  /** ms, from baton.drain.timeout */
  drainTimeout?: number;
  /** from baton.hold.* (only what labels set) */
  hold?: { timeout?: number; maxRequests?: number; whenUnavailable?: boolean };
  passHostHeader?: boolean;
  loadBalancer?: 'round-robin' | 'least-connections';
  /** the entrypoints it is served on (undefined: every one) */
  entrypoints?: string[];
  /** served over TLS only, with these settings (undefined: no TLS of its own) */
  tls?: RouteTls;
  /** middleware references, as written ("auth", "auth@docker", "strip@file"); undefined: none, or each of `routes`
   *  has its own (a service's middlewares apply to its routes without their own: never the first route's here) */
  middlewares?: string[];
  /** one route per router, when the service's routers differ in priority, entrypoints, TLS or middlewares (sorted
   *  by name); rule, priority, entrypoints and tls are then the first one's, for display */
  routes?: DesiredRoute[];
}

/** How a service is routed: one route, or several (`routes`); rule undefined after a problem. */
type Routing = Pick<Spec, 'priority' | 'entrypoints' | 'tls' | 'middlewares' | 'routes'> & { rule?: string };

/** One router's route, its TLS as the labels give it. */
type RouterRoute = Omit<DesiredRoute, 'tls'> & { tls?: TlsLabels };

/** The entrypoint, resolver and middleware names the static config defines (undefined: names are not checked). */
type Known = Pick<DockerProviderOptions, 'entrypoints' | 'certResolvers' | 'fileMiddlewares' | 'provider'>;

/** A service's `traefik.http.services.<name>.loadbalancer.<field>` label. */
type ServiceLabel = (field: string) => Label | undefined;

/** baton.service, .rule, .port and .middlewares name one service: each is a problem on a container with several. */
export function batonLabelsOnSeveral(r: Reader, groups: Group[]): void {
  const names = groups.map((g) => g.name).join(', ');
  for (const key of ['baton.service', 'baton.rule', 'baton.port', 'baton.middlewares']) {
    const label = r.get(key);
    if (label !== undefined) r.error(label, `cannot apply to several services (${names}) defined by Traefik labels`);
  }
}

/**
 * The only TCP port the container exposes, for a service no label gives a port: looked up once (a problem if there
 * is not exactly one), then remembered.
 */
export function onlyExposedPort(r: Reader, c: ContainerView, single: boolean): () => number | undefined {
  let exposed: number | undefined | null = null;
  const traefik = 'traefik.http.services.<name>.loadbalancer.server.port';
  const setPort = single ? `set baton.port (or ${traefik})` : `set ${traefik}`;
  return () => {
    if (exposed !== null) return exposed;
    const ports = new Set<number>();
    for (const p of [...c.exposedPorts, ...Object.keys(c.publishedPorts ?? {})]) {
      const m = /^(\d+)(?:\/tcp)?$/i.exec(p);
      if (m !== null) ports.add(Number(m[1]));
    }
    const sorted = [...ports].sort((a, b) => a - b);
    if (sorted.length === 1) return (exposed = sorted[0]);
    if (sorted.length === 0) r.errors.push(`no TCP port exposed; ${setPort}`);
    else r.errors.push(`several ports exposed (${sorted.map((p) => `${p}/tcp`).join(', ')}); ${setPort}`);
    return (exposed = undefined);
  };
}

/** One service's spec; undefined if a label has a problem (recorded on `r`). `single`: the container's only one. */
export function serviceSpec(
  r: Reader,
  g: Group,
  single: boolean,
  exposedPort: () => number | undefined,
  known: Known,
): Spec | undefined {
  const lb: ServiceLabel = (field) => r.get(`traefik.http.services.${g.lower}.loadbalancer.${field}`);
  const name = serviceName(r, g, single);
  if (name === null) return undefined;
  const { rule, priority, entrypoints, tls, middlewares, routes } = routingOf(r, g, single, name, known);
  const portLabel = (single ? r.get('baton.port') : undefined) ?? lb('server.port') ?? r.get('traefik.port');
  const port = portLabel !== undefined ? r.port(portLabel) : exposedPort();
  const scheme = lb('server.scheme');
  if (scheme !== undefined && scheme.value.toLowerCase() !== 'http') {
    r.error(scheme, 'baton talks plain HTTP to upstreams only');
  }
  const healthCheck = healthCheckOf(r, lb);
  const drainTimeout = r.duration(r.get('baton.drain.timeout'));
  const hold = {
    timeout: r.duration(r.get('baton.hold.timeout')),
    maxRequests: r.int(r.get('baton.hold.maxrequests'), 0, 1_000_000),
    whenUnavailable: r.bool(r.get('baton.hold.whenunavailable')),
  };
  const passHostHeader = r.bool(
    r.get('baton.passhostheader') ?? lb('passhostheader') ?? r.get('traefik.frontend.passhostheader'),
  );
  const loadBalancer = loadBalancerOf(r);

  if (rule === undefined || port === undefined || name === '') return undefined;
  const spec: Spec = { service: name, rule, port, healthCheck };
  if (priority !== undefined) spec.priority = priority;
  if (drainTimeout !== undefined) spec.drainTimeout = drainTimeout;
  if (Object.values(hold).some((v) => v !== undefined)) spec.hold = hold;
  if (passHostHeader !== undefined) spec.passHostHeader = passHostHeader;
  if (loadBalancer !== undefined) spec.loadBalancer = loadBalancer;
  if (entrypoints !== undefined) spec.entrypoints = entrypoints;
  if (tls !== undefined) spec.tls = tls;
  if (middlewares !== undefined) spec.middlewares = middlewares;
  if (routes !== undefined) spec.routes = routes;
  return spec;
}

/**
 * The service's routes. baton.rule, baton.entrypoints and baton.tls* apply to the whole service: with one of them
 * set (or without routers) it has one route, field by field from the first label set. Otherwise its routers give
 * one route with their rules joined if they agree on priority, entrypoints, TLS and middlewares, else one route
 * each, as in Traefik (a router's entrypoints, TLS and middlewares then guard its own rule only). baton.middlewares
 * replaces every router's middlewares.
 */
function routingOf(r: Reader, g: Group, single: boolean, name: string, known: Known): Routing {
  const batonTls = r.tls('baton.', known.certResolvers);
  const batonRule = single && r.get('baton.rule') !== undefined;
  if (batonRule || r.get('baton.entrypoints') !== undefined || batonTls !== null || g.routers.length === 0) {
    const rule = ruleOf(r, g, single, name);
    const priority = priorityOf(r, g.routers);
    const entrypoints = entrypointsOf(r, g, name, known);
    const tls = batonTls !== null ? batonTls || undefined : tlsOf(r, g, name, known);
    return { rule, priority, entrypoints, tls, middlewares: middlewaresOf(r, g, single, name, known) };
  }
  const routes = routerRoutes(r, g, single, name, known);
  if (routes === undefined) return {};
  const settings = (d: RouterRoute) =>
    JSON.stringify([
      d.priority,
      d.entrypoints && [...d.entrypoints].sort(),
      d.tls && [d.tls.certResolver, d.tls.options],
      shownRefs(d.middlewares, known.provider),
    ]);
  const [first] = routes;
  if (routes.some((d) => settings(d) !== settings(first))) {
    const { name: _name, middlewares: _middlewares, ...one } = first;
    return { ...one, routes };
  }
  const rule = joinedRule(r, [...new Set(routes.map((d) => d.rule))]);
  const tls = mergedTls(routes.map((d) => d.tls));
  return { rule, priority: first.priority, entrypoints: first.entrypoints, tls, middlewares: first.middlewares };
}

/** Each router's own route, sorted by name (baton.priority sets every one's priority, baton.middlewares their
 *  middlewares); undefined after a problem. */
function routerRoutes(r: Reader, g: Group, single: boolean, service: string, known: Known): RouterRoute[] | undefined {
  const before = r.errors.length;
  const batonLabel = r.get('baton.priority');
  const batonPriority = r.int(batonLabel, -Infinity, Infinity);
  const batonMiddlewares = single ? r.get('baton.middlewares') : undefined;
  const batonRefs = middlewareRefs(r, batonMiddlewares, known);
  const routes: RouterRoute[] = [];
  for (const router of [...g.routers].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rule = router.rule?.value ?? `Host(${quote(service)})`;
    if (router.rule !== undefined) r.rule(router.rule, rule);
    const route: RouterRoute = { name: router.name, rule };
    const priority = batonLabel !== undefined ? batonPriority : r.int(router.priority, -Infinity, Infinity);
    if (priority !== undefined) route.priority = priority;
    const entrypoints = r.names(router.entrypoints, 'entrypoint', known.entrypoints);
    if (entrypoints !== undefined) route.entrypoints = entrypoints;
    const tls = r.tls(routerPrefix(router), known.certResolvers);
    if (tls) route.tls = tls;
    const refs = batonMiddlewares ? batonRefs : middlewareRefs(r, router.middlewares, known);
    if (refs !== undefined) route.middlewares = refs;
    routes.push(route);
  }
  return r.errors.length > before ? undefined : routes;
}

/** baton.service (normalised; '' after a problem) or the name the labels give; null if it is not a valid name. */
function serviceName(r: Reader, g: Group, single: boolean): string | null {
  let name = g.name;
  const renamed = single ? r.get('baton.service') : undefined;
  if (renamed !== undefined) {
    name = normalize(renamed.value);
    if (name === '') r.error(renamed, 'no letters or digits to name a service with');
  }
  if (name !== '' && !SERVICE_NAME.test(name)) {
    r.errors.push(`service name ${JSON.stringify(name)} must start with a letter or digit`);
    return null;
  }
  return name;
}

/** baton.rule, else the service's routers' rules, else the v1 traefik.frontend.rule, else Host(`<service>`). */
function ruleOf(r: Reader, g: Group, single: boolean, name: string): string | undefined {
  const defaultRule = `Host(${quote(name)})`;
  const batonRule = single ? r.get('baton.rule') : undefined;
  const v1Rule = single ? r.get('traefik.frontend.rule') : undefined;
  if (batonRule !== undefined) return r.rule(batonRule, batonRule.value) ? batonRule.value : undefined;
  if (g.routers.length > 0) return routersRule(r, g.routers, defaultRule);
  if (v1Rule !== undefined) return translatedRule(r, v1Rule);
  return defaultRule;
}

/** Routers on one service → one rule: theirs, or `(a) || (b)` for several different ones. */
function routersRule(r: Reader, routers: Router[], defaultRule: string): string | undefined {
  const parts: string[] = [];
  for (const router of [...routers].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (router.rule === undefined) parts.push(defaultRule);
    else if (r.rule(router.rule, router.rule.value)) parts.push(router.rule.value);
  }
  return parts.length === routers.length ? joinedRule(r, parts) : undefined;
}

/** Rules that each parse → one: the rule, or `(a) || (b)` for several different ones. */
function joinedRule(r: Reader, parts: string[]): string | undefined {
  const unique = [...new Set(parts)];
  if (unique.length === 1) return unique[0];
  const rule = unique.map((p) => `(${p})`).join(' || ');
  return r.rule(null, rule) ? rule : undefined;
}

/** A Traefik v1 frontend rule translated; what baton does not do (path stripping, rewriting) becomes a note. */
function translatedRule(r: Reader, v1Rule: Label): string | undefined {
  const t = translateV1Rule(v1Rule.value);
  if ('error' in t) {
    return r.error(v1Rule, `cannot translate the Traefik v1 rule ${JSON.stringify(v1Rule.value)}: ${t.error}`);
  }
  if (!r.rule(v1Rule, t.rule)) return undefined;
  for (const note of t.notes) r.notes.push(`${v1Rule.key}: ${note} (still routed)`);
  return t.rule;
}

/** baton.priority, else the highest of the routers', else (no routers) the v1 traefik.frontend.priority. */
function priorityOf(r: Reader, routers: Router[]): number | undefined {
  const baton = r.get('baton.priority');
  let priority = r.int(baton, -Infinity, Infinity);
  if (baton === undefined) {
    for (const router of routers) {
      const p = r.int(router.priority, -Infinity, Infinity);
      if (p !== undefined) priority = priority === undefined ? p : Math.max(priority, p);
    }
    if (priority === undefined && routers.length === 0) {
      priority = r.int(r.get('traefik.frontend.priority'), -Infinity, Infinity);
    }
  }
  return priority !== undefined && !Number.isSafeInteger(priority) ? undefined : priority;
}

/** baton.health.*, else the service's loadbalancer.healthcheck.*, else v1 traefik.backend.healthcheck.*. */
function healthCheckOf(r: Reader, lb: ServiceLabel): HealthCheckLabels {
  const healthCheck: HealthCheckLabels = {};
  const path = r.first('baton.health.path') ?? lb('healthcheck.path') ?? r.get('traefik.backend.healthcheck.path');
  if (path !== undefined) {
    if (path.value.startsWith('/') && !/\s/.test(path.value)) healthCheck.path = path.value;
    else r.error(path, `health check path must start with "/" and hold no spaces, got ${JSON.stringify(path.value)}`);
  }
  const interval = r.duration(
    r.get('baton.health.interval') ?? lb('healthcheck.interval') ?? r.get('traefik.backend.healthcheck.interval'),
    { positive: true },
  );
  if (interval !== undefined) healthCheck.interval = interval;
  const timeout = r.duration(r.get('baton.health.timeout') ?? lb('healthcheck.timeout'), { positive: true });
  if (timeout !== undefined) healthCheck.timeout = timeout;
  const rise = r.int(r.get('baton.health.rise'), 1, 100);
  if (rise !== undefined) healthCheck.rise = rise;
  const fall = r.int(r.get('baton.health.fall'), 1, 100);
  if (fall !== undefined) healthCheck.fall = fall;
  return healthCheck;
}

function loadBalancerOf(r: Reader): Spec['loadBalancer'] {
  const lb = r.get('baton.loadbalancer');
  if (lb === undefined) return undefined;
  const v = lb.value.toLowerCase();
  if (v === 'round-robin' || v === 'least-connections') return v;
  return r.error(lb, `expected round-robin or least-connections, got ${JSON.stringify(lb.value)}`);
}

/**
 * baton.entrypoints, else (under baton.rule or baton.tls*) the routers' entrypoints, the same on each, else (no
 * routers) the v1 traefik.frontend.entryPoints; undefined: every entrypoint, as for a service in the config file.
 */
function entrypointsOf(r: Reader, g: Group, service: string, known: Known): string[] | undefined {
  const label =
    r.get('baton.entrypoints') ?? (g.routers.length === 0 ? r.get('traefik.frontend.entrypoints') : undefined);
  if (label !== undefined || g.routers.length === 0) return r.names(label, 'entrypoint', known.entrypoints);
  const before = r.errors.length;
  const each = g.routers.map((router) => r.names(router.entrypoints, 'entrypoint', known.entrypoints));
  const show = (e: string[] | undefined) => (e === undefined ? 'every entrypoint' : [...e].sort().join(', '));
  if (r.errors.length > before || !agreed(r, g, service, 'entrypoints', each.map(show), 'baton.entrypoints')) {
    return undefined;
  }
  return each[0];
}

/**
 * baton.middlewares, else (under baton.rule, baton.entrypoints or baton.tls*) the routers' middlewares, the same on
 * each: merged, one router's middlewares (an auth, an allow-list) would not guard another's rule.
 */
function middlewaresOf(r: Reader, g: Group, single: boolean, service: string, known: Known): string[] | undefined {
  const label = single ? r.get('baton.middlewares') : undefined;
  if (label !== undefined || g.routers.length === 0) return middlewareRefs(r, label, known);
  const before = r.errors.length;
  const each = g.routers.map((router) => middlewareRefs(r, router.middlewares, known));
  if (
    r.errors.length > before ||
    !agreed(
      r,
      g,
      service,
      'middlewares',
      each.map((refs) => shownRefs(refs, known.provider)),
      'baton.middlewares',
    )
  ) {
    return undefined;
  }
  return each[0];
}

/**
 * The routers' tls* labels (Reader.tls) under baton.rule or baton.entrypoints; undefined: no TLS. The routers must
 * then agree on TLS, resolver and options; their domains add up. (baton.tls* replace the routers' TLS as a whole.)
 */
function tlsOf(r: Reader, g: Group, service: string, known: Known): RouteTls | undefined {
  const before = r.errors.length;
  const each = g.routers.map((router) => r.tls(routerPrefix(router), known.certResolvers) || undefined);
  const show = (t: TlsLabels | undefined) =>
    t === undefined
      ? 'no TLS'
      : ['TLS', t.certResolver && `certresolver ${t.certResolver}`, t.options && `options ${t.options}`]
          .filter((p) => p)
          .join(', ');
  if (r.errors.length > before || !agreed(r, g, service, 'TLS', each.map(show), 'baton.tls')) return undefined;
  return mergedTls(each);
}

/** Agreeing routers' TLS as one: the first one's, with every router's domains. */
function mergedTls(each: Array<TlsLabels | undefined>): RouteTls | undefined {
  const on = each.filter((t) => t !== undefined);
  if (on.length === 0) return undefined;
  const domains = [...new Map(on.flatMap((t) => t.domains).map((d) => [JSON.stringify(d), d])).values()];
  return { ...on[0], domains };
}

/**
 * Whether a service's routers agree on a field (shown: each router's value, as text) under a baton label that asks
 * for one route; a problem if not: merged, one router's entrypoint or TLS would open up another's rule.
 */
function agreed(r: Reader, g: Group, service: string, what: string, shown: string[], override: string): boolean {
  if (shown.every((s) => s === shown[0])) return true;
  const each = g.routers.map((router, i) => `${router.name}: ${shown[i]}`).join('; ');
  r.errors.push(
    `routers of service ${service} differ in ${what} (${each}); ` +
      `set ${override}, or give each router its own service (traefik.http.routers.<r>.service)`,
  );
  return false;
}
