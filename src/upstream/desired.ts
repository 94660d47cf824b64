// The desired state a provider hands the registry: a whole snapshot of services and their upstreams. The
// registry reconciles against it and swaps the route table whole. Providers depend on these types, never the
// reverse.
import type { ServiceOptions } from './service.ts';

export interface DesiredUpstream {
  /** Stable id used by the admin API; defaults to `<service>@<host:port>`. */
  id: string;
  url: string;
  containerId?: string;
}

export interface DesiredService extends ServiceOptions {
  name: string;
  upstreams: DesiredUpstream[];
}

export interface Snapshot {
  services: DesiredService[];
}
