// The file provider: the static services of the config file, as one desired-state snapshot.
import type { LoadedConfig } from '../config/load.ts';
import { fileDefinitions } from '../middleware/setup.ts';
import type { DesiredService, Snapshot } from '../upstream/desired.ts';

export function upstreamId(service: string, url: string): string {
  return `${service}@${new URL(url).host}`;
}

export function fileSnapshot(config: LoadedConfig): Snapshot {
  const services: DesiredService[] = [];
  for (const [name, s] of Object.entries(config.services)) {
    const { upstreams, ...options } = s;
    const wanted = upstreams.map((url) => ({ id: upstreamId(name, url), url: new URL(url).origin }));
    services.push({ ...options, name, upstreams: wanted });
  }
  return { services, middlewares: fileDefinitions(config) };
}
