// The desired state a provider hands the registry: a whole snapshot of services and their upstreams. The
// registry reconciles against it and swaps the route table whole. Providers depend on these types, never the
// reverse.
import type { RouteTls } from '../config/tls-schema.ts';
import type { MiddlewareDef } from '../middleware/definitions.ts';
import type { ServiceOptions } from './service.ts';

export interface DesiredUpstream {
  /** Stable id used by the admin API; defaults to `<service>@<host:port>`. */
  id: string;
  url: string;
  containerId?: string;
  /** the deploy generation of its container (the `baton.generation` label) */
  generation?: string;
}

/** One of a service's routes, when it has several (Traefik routers that differ in entrypoints or TLS). */
export interface DesiredRoute {
  /** unique within the service (the router's name) */
  name: string;
  rule: string;
  priority?: number;
  entrypoints?: string[];
  tls?: RouteTls;
  /** middleware references, in order ("auth", "auth@docker", "strip@file"), in the provider's namespace */
  middlewares?: string[];
}

export interface DesiredService extends ServiceOptions {
  name: string;
  upstreams: DesiredUpstream[];
  /** several routes to this service; when set, they replace rule / priority / entrypoints / tls */
  routes?: DesiredRoute[];
  /** middleware references of the service's route (or of each route without its own) */
  middlewares?: string[];
}

export interface Snapshot {
  services: DesiredService[];
  /** the middlewares this provider defines, by name (qualified as `name@<provider>` by the registry) */
  middlewares?: Record<string, MiddlewareDef>;
}
