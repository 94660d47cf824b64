// The desired state a provider hands the registry: a whole snapshot of services and their upstreams. The
// registry reconciles against it and swaps the route table whole. Providers depend on these types, never the
// reverse.
import type { RouteTls } from '../config/tls-schema.ts';
import type { ServiceOptions } from './service.ts';

export interface DesiredUpstream {
  /** Stable id used by the admin API; defaults to `<service>@<host:port>`. */
  id: string;
  url: string;
  containerId?: string;
}

/** One of a service's routes, when it has several (Traefik routers that differ in entrypoints or TLS). */
export interface DesiredRoute {
  /** unique within the service (the router's name) */
  name: string;
  rule: string;
  priority?: number;
  entrypoints?: string[];
  tls?: RouteTls;
}

export interface DesiredService extends ServiceOptions {
  name: string;
  upstreams: DesiredUpstream[];
  /** several routes to this service; when set, they replace rule / priority / entrypoints / tls */
  routes?: DesiredRoute[];
}

export interface Snapshot {
  services: DesiredService[];
}
