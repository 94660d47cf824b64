// What a provider produces: a whole desired-state snapshot. The registry reconciles against it and swaps the
// route table whole.
import type { LoadedConfig } from '../config/load.ts';
import type { ServiceOptions } from '../upstream/service.ts';

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

export function upstreamId(service: string, url: string): string {
  return `${service}@${new URL(url).host}`;
}

/** The file provider: static services from the config file. */
export function fileSnapshot(config: LoadedConfig): Snapshot {
  const services: DesiredService[] = [];
  for (const [name, s] of Object.entries(config.services)) {
    const { upstreams, ...options } = s;
    services.push({ ...options, name, upstreams: upstreams.map((url) => ({ id: upstreamId(name, url), url: new URL(url).origin })) });
  }
  return { services };
}
