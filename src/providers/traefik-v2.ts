// Traefik v2/v3 HTTP routers and services in labels (traefik.http.routers.<name>.*, traefik.http.services.<name>.*)
// and the container's services with their routers, assigned as Traefik does (pure). Used by labels.ts.

import type { Label, Reader } from './label-reader.ts';
import type { ContainerView } from './labels.ts';

const COMPOSE_SERVICE = 'com.docker.compose.service';
/** Traefik router / service names in label keys. */
const LABEL_NAME = /^[A-Za-z0-9_-]+$/;
const V2_ROUTER = /^traefik\.http\.routers\.([^.]*)\.(.+)$/;
const V2_SERVICE = /^traefik\.http\.services\.([^.]*)\.(.+)$/;
/** Router fields kept on the Router; its tls.* labels are read by Reader.tls with routerPrefix. */
const V2_ROUTER_FIELDS = new Set(['rule', 'service', 'priority', 'middlewares', 'entrypoints']);
type RouterField = 'rule' | 'service' | 'priority' | 'middlewares' | 'entrypoints';

export interface Router {
  name: string;
  rule?: Label;
  service?: Label;
  priority?: Label;
  middlewares?: Label;
  /** comma-separated entrypoint names */
  entrypoints?: Label;
}

export interface Group {
  /** service name as the labels spell it */
  name: string;
  /** lower-cased name, to find `traefik.http.services.<name>.*` */
  lower: string;
  routers: Router[];
}

/** What a container declares under traefik.http.*. */
export interface HttpLabels {
  /** lower-cased router name → router */
  routers: Map<string, Router>;
  /** lower-cased service name → the name as first written */
  services: Map<string, string>;
  /** it has traefik.tcp.* or traefik.udp.* labels */
  tcpOrUdp: boolean;
  /** it defines middlewares (traefik.http.middlewares.*) */
  middlewares: boolean;
}

/** Traefik's `normalize`: every run of characters other than ASCII letters and digits becomes one '-', trimmed. */
export function normalize(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p !== '')
    .join('-');
}

/** The routers and services a container's labels declare; a bad router or service name is a problem. */
export function httpLabels(r: Reader): HttpLabels {
  const routers = new Map<string, Router>();
  const services = new Map<string, string>();
  let tcpOrUdp = false;
  let middlewares = false;
  for (const [lower, label] of r.entries()) {
    if (lower.startsWith('traefik.tcp.') || lower.startsWith('traefik.udp.')) tcpOrUdp = true;
    if (lower.startsWith('traefik.http.middlewares.')) middlewares = true;
    const rm = V2_ROUTER.exec(lower);
    const sm = rm === null ? V2_SERVICE.exec(lower) : null;
    const m = rm ?? sm;
    if (m === null) continue;
    const name = label.key.split('.')[3];
    if (!LABEL_NAME.test(name)) {
      r.error(label, `${rm ? 'router' : 'service'} names are letters, digits, '-' and '_'`);
      continue;
    }
    if (sm !== null) {
      if (!services.has(m[1])) services.set(m[1], name);
      continue;
    }
    let router = routers.get(m[1]);
    if (router === undefined) routers.set(m[1], (router = { name }));
    const field = m[2];
    if (V2_ROUTER_FIELDS.has(field)) router[field as RouterField] = label;
  }
  return { routers, services, tcpOrUdp, middlewares };
}

/** The lower-cased key prefix of a router's labels, `traefik.http.routers.<name>.`. */
export function routerPrefix(router: Router): string {
  return `traefik.http.routers.${router.name.toLowerCase()}.`;
}

/** Traefik creates no HTTP router for a container that only has TCP/UDP ones (and no HTTP middleware, baton or v1
 *  routing label). */
export function onlyTcpUdp(r: Reader, http: HttpLabels): boolean {
  return (
    http.tcpOrUdp &&
    http.routers.size === 0 &&
    http.services.size === 0 &&
    !http.middlewares &&
    r.first('baton.rule', 'baton.service', 'baton.port', 'traefik.frontend.rule') === undefined
  );
}

/** The service name Traefik gives a container's implicit service: v1 backend, compose service, Swarm service,
 *  container name. */
function implicitName(r: Reader, c: ContainerView): string {
  const label = r.first('traefik.backend', COMPOSE_SERVICE);
  const name = normalize(label?.value ?? c.service ?? c.name);
  if (name === '') {
    if (label !== undefined) r.error(label, 'no letters or digits to name a service with');
    else r.errors.push(`container name ${JSON.stringify(c.name)} has no letters or digits to name a service with`);
  }
  return name;
}

/** A router's `.service` label → the service name on this container, or undefined (and a problem). */
function routerTarget(r: Reader, service: Label, provider: string): string | undefined {
  let target = service.value;
  if (target.toLowerCase().endsWith(`@${provider}`)) target = target.slice(0, -`@${provider}`.length);
  if (target.includes('@')) {
    const why = "is another provider's; baton routes a container to its own services only";
    return r.error(service, `service ${JSON.stringify(service.value)} ${why}`);
  }
  if (!LABEL_NAME.test(target)) {
    return r.error(service, `service names are letters, digits, '-' and '_', got ${JSON.stringify(service.value)}`);
  }
  return target;
}

/**
 * The container's services, sorted by lower-cased name, each with its routers, as Traefik assigns them: a router
 * goes to its `.service`, else to the container's only service, else to the implicit one. A container without
 * traefik.http.* labels has just the implicit service.
 */
export function serviceGroups(r: Reader, c: ContainerView, http: HttpLabels, provider = 'docker'): Group[] {
  const groups = new Map<string, Group>();
  const group = (name: string): Group => {
    const lower = name.toLowerCase();
    let g = groups.get(lower);
    if (g === undefined) groups.set(lower, (g = { name, lower, routers: [] }));
    return g;
  };
  for (const [lower, name] of http.services) groups.set(lower, { name, lower, routers: [] });
  const serviceNames = [...http.services.values()];
  for (const router of http.routers.values()) {
    if (router.service !== undefined) {
      const target = routerTarget(r, router.service, provider);
      if (target !== undefined) group(http.services.get(target.toLowerCase()) ?? target).routers.push(router);
    } else if (serviceNames.length === 1) {
      group(serviceNames[0]).routers.push(router);
    } else if (serviceNames.length === 0) {
      group(implicitName(r, c)).routers.push(router);
    } else {
      r.errors.push(
        `router ${router.name} has no service and the container defines several (${serviceNames.join(', ')}); ` +
          `set traefik.http.routers.${router.name}.service`,
      );
    }
  }
  if (http.routers.size === 0 && http.services.size === 0) group(implicitName(r, c));
  return [...groups.values()].sort((a, b) => (a.lower < b.lower ? -1 : a.lower > b.lower ? 1 : 0));
}
