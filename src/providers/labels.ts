// Docker labels → the routes a container asks for: the entry point. Pure: no I/O, no clock, no globals;
// table-tested in test/labels.test.ts.
//
// Three label families are read, per field in this order of precedence:
//   baton.*            baton's own (baton.enable, .service, .rule, .priority, .port, .health.*, .drain.timeout,
//                      .entrypoints, .tls*, .middlewares, ...)
//   traefik.http.*     Traefik v2/v3 routers (rule, priority, entrypoints, tls*, middlewares) and services
//                      (traefik-v2.ts); routers of one service that differ in priority, entrypoints, TLS or
//                      middlewares are one route each; middlewares (middleware-labels.ts)
//   traefik.frontend.* Traefik v1 (docker-compose era): frontend.rule (traefik-v1.ts), .entryPoints, traefik.port,
//                      traefik.backend
// Label keys are case-insensitive (as in Traefik; label-reader.ts). A problem never throws: it is reported with the
// container's name and only that container is left out. A few problems are notes on a container that is still
// routed (e.g. a v1 PathPrefixStrip, which baton routes as PathPrefix without stripping). Each service's fields are
// read by service-spec.ts, its address chosen by address.ts. Middlewares a container uses but does not define are
// checked across containers by resolveMiddlewares (middleware-labels.ts).

import type { Factory } from '../middleware/compile.ts';
import { upstreamUrl } from './address.ts';
import { Reader } from './label-reader.ts';
import { builtinFactories, labelMiddlewares, type LabelMiddlewares, type LabelProvider } from './middleware-labels.ts';
import { batonLabelsOnSeveral, onlyExposedPort, serviceSpec, type Spec } from './service-spec.ts';
import { httpLabels, onlyTcpUdp, serviceGroups } from './traefik-v2.ts';

export { translateV1Rule } from './traefik-v1.ts';
export { normalize } from './traefik-v2.ts';

export interface ContainerView {
  /** full container id */
  id: string;
  /** without leading '/' */
  name: string;
  labels: Record<string, string>;
  running: boolean;
  paused: boolean;
  /** Docker HEALTHCHECK status if the container has one: 'starting' | 'healthy' | 'unhealthy'; null if there is
   *  no healthcheck */
  health: string | null;
  /** network name → IP address ('' if none) */
  networks: Record<string, string>;
  /** exposed container ports, e.g. ['8080/tcp'] (from Config.ExposedPorts) */
  exposedPorts: string[];
  /** "8080/tcp" → host bindings from NetworkSettings.Ports */
  publishedPorts: Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
  /** ISO creation time (for deterministic ordering) */
  created: string;
  /** the Swarm service a task belongs to: names the implicit service instead of the (task) name */
  service?: string;
}

export interface DockerProviderOptions {
  exposedByDefault: boolean;
  network: string;
  publishedPorts: boolean;
  /** the static config's entrypoint names: a label naming another is a problem (undefined: not checked) */
  entrypoints?: readonly string[];
  /** the static config's certificatesResolvers names, likewise */
  certResolvers?: readonly string[];
  /** middleware types by lower-cased name, plugins included (undefined: baton's built-in types) */
  middlewareFactories?: ReadonlyMap<string, Factory>;
  /** the names of the middlewares and plugins the config file defines, for `name@file` references (undefined: not
   *  checked) */
  fileMiddlewares?: readonly string[];
  /** whose labels these are (default docker): a plain middleware or service reference is that provider's; swarm
   *  also reads traefik.swarm.network and wants one network to be clear (address.ts) */
  provider?: LabelProvider;
}

export interface LabelProblem {
  /** the container's name */
  container: string;
  message: string;
}

export interface HealthCheckLabels {
  path?: string;
  interval?: number;
  timeout?: number;
  rise?: number;
  fall?: number;
}

/** One service route of a container: what the labels say (service-spec.ts `Spec`, less the port) and the URL baton
 *  reaches the container at. */
export interface ContainerRoute extends Omit<Spec, 'port'> {
  container: ContainerView;
  /** http://IP:port or http://127.0.0.1:hostPort */
  url: string;
}

// ---------------------------------------------------------------------------------------------------------------
// One container's labels → service specs (no addresses yet)

interface Analysis {
  enabled: boolean;
  specs: Spec[];
  /** the container is left out if there is any */
  errors: string[];
  /** the container is still routed */
  notes: string[];
  reader: Reader | null;
  /** the middlewares its labels define */
  middlewares: LabelMiddlewares;
}

function analyse(c: ContainerView, opts: DockerProviderOptions): Analysis {
  const r = new Reader(c.labels);
  const on = enabled(r, opts.exposedByDefault);
  if (on === undefined) return failed(r);
  if (!on) return notRouted();
  const http = httpLabels(r); // traefik.http.routers.*, traefik.http.services.*
  if (onlyTcpUdp(r, http)) return notRouted();
  // traefik.http.middlewares.*, baton.middlewares.*: checked here, used by any container's routes
  const mw = labelMiddlewares(r, opts.middlewareFactories ?? builtinFactories(), opts);
  const groups = serviceGroups(r, c, http, opts.provider); // routers → services, or the implicit service
  if (r.errors.length > 0) return failed(r, mw);
  const single = groups.length === 1;
  if (!single) batonLabelsOnSeveral(r, groups);
  if (r.errors.length > 0) return failed(r, mw);
  const exposedPort = onlyExposedPort(r, c, single);
  const specs: Spec[] = [];
  for (const g of groups) {
    const spec = serviceSpec(r, g, single, exposedPort, opts); // name, rule, port, health check, entrypoints, TLS, ...
    if (spec !== undefined) specs.push(spec);
  }
  if (r.errors.length > 0) return failed(r, mw);
  specs.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
  return { enabled: true, specs, errors: [], notes: unique(r.notes), reader: r, middlewares: mw };
}

/** baton.enable, else traefik.enable, else the exposedByDefault option; undefined if the label is not a boolean. */
function enabled(r: Reader, byDefault: boolean): boolean | undefined {
  const label = r.first('baton.enable', 'traefik.enable');
  return label === undefined ? byDefault : r.bool(label);
}

function noMiddlewares(): LabelMiddlewares {
  return { defined: {}, invalid: [] };
}

function notRouted(): Analysis {
  return { enabled: false, specs: [], errors: [], notes: [], reader: null, middlewares: noMiddlewares() };
}

/** A container left out; the middlewares its labels define validly still count (for other containers). */
function failed(r: Reader, middlewares = noMiddlewares()): Analysis {
  return { enabled: true, specs: [], errors: unique(r.errors), notes: unique(r.notes), reader: r, middlewares };
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

// ---------------------------------------------------------------------------------------------------------------
// API

/** What one container's labels give: its routes, its problems and the middlewares it defines. */
export interface ContainerResult {
  routes: ContainerRoute[];
  problems: LabelProblem[];
  middlewares: LabelMiddlewares;
}

/**
 * One container's labels → its routes (usually 0 or 1; a container with Traefik routers for several services gives
 * several) and the middlewares it defines. The middlewares its routes use are checked against every container's
 * definitions by resolveMiddlewares (middleware-labels.ts).
 */
export function routesForContainer(c: ContainerView, opts: DockerProviderOptions): ContainerResult {
  // not (yet) able to take traffic: silently out, its middlewares too (as in Traefik); it joins once running and,
  // if it has a HEALTHCHECK, healthy
  if (!c.running || c.paused) return { routes: [], problems: [], middlewares: noMiddlewares() };
  if (c.health !== null && c.health !== undefined && c.health !== '' && c.health !== 'none' && c.health !== 'healthy') {
    return { routes: [], problems: [], middlewares: noMiddlewares() };
  }
  const problem = (message: string): LabelProblem => ({ container: c.name, message });
  let a: Analysis;
  try {
    a = analyse(c, opts);
  } catch (err) {
    // a bug here must not take the other containers down
    const why = err instanceof Error ? err.message : String(err);
    return { routes: [], problems: [problem(`labels could not be read: ${why}`)], middlewares: noMiddlewares() };
  }
  const { middlewares } = a;
  if (!a.enabled) return { routes: [], problems: [], middlewares };
  if (a.errors.length > 0 || a.reader === null) {
    return { routes: [], problems: [...a.notes, ...a.errors].map(problem), middlewares };
  }
  const routes: ContainerRoute[] = [];
  const errors: string[] = [];
  for (const s of a.specs) {
    const url = upstreamUrl(c, s.port, a.reader, opts);
    if (typeof url !== 'string') {
      if (!errors.includes(url.error)) errors.push(url.error);
      continue;
    }
    const { port: _port, ...rest } = s;
    routes.push({ container: c, ...rest, healthCheck: { ...s.healthCheck }, url });
  }
  if (errors.length > 0) return { routes: [], problems: [...a.notes, ...errors].map(problem), middlewares };
  return { routes, problems: a.notes.map(problem), middlewares };
}

/**
 * Every service a container belongs to, for grouping (same label logic as routesForContainer; sorted; [] if it is
 * not routed or its labels have a problem). Stopped, paused and unhealthy containers count too, and addresses are
 * not looked at.
 */
export function serviceNamesOf(c: ContainerView, opts: DockerProviderOptions): string[] {
  try {
    const a = analyse(c, opts);
    return a.enabled && a.errors.length === 0 ? a.specs.map((s) => s.service) : [];
  } catch {
    return [];
  }
}
