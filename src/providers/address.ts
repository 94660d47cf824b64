// Where baton reaches a container's port (pure): a host port Docker publishes (publishedPorts on), else the
// container's IP on the labelled, configured or first network that has one. Used by labels.ts.

import { dialHost, urlHost } from '../net.ts';
import type { Reader } from './label-reader.ts';
import type { ContainerView, DockerProviderOptions } from './labels.ts';

const COMPOSE_PROJECT = 'com.docker.compose.project';

/** The URL baton reaches `port` of the container at, or a problem. */
export function upstreamUrl(
  c: ContainerView,
  port: number,
  r: Reader,
  opts: DockerProviderOptions,
): string | { error: string } {
  return opts.publishedPorts ? publishedUrl(c, port) : networkUrl(c, port, r, opts);
}

/** The host binding of `port`/tcp, an IPv4 one first; a wildcard bind is reached on loopback. */
function publishedUrl(c: ContainerView, port: number): string | { error: string } {
  const bindings = (c.publishedPorts?.[`${port}/tcp`] ?? []).filter((b) => /^\d+$/.test(b.HostPort ?? ''));
  // an IPv4 binding first: Docker lists 0.0.0.0 and :: for the same port
  const b = bindings.find((b) => !(b.HostIp ?? '').includes(':')) ?? bindings[0];
  if (b === undefined) return { error: `port ${port}/tcp is not published on the host (publishedPorts is on)` };
  return `http://${dialHost(b.HostIp ?? '')}:${b.HostPort}`;
}

/** The container's IP on baton.network / traefik.docker.network / the network option, else the compose project's
 *  default network, else the first (sorted) network with an address. */
function networkUrl(
  c: ContainerView,
  port: number,
  r: Reader,
  opts: DockerProviderOptions,
): string | { error: string } {
  const networks = c.networks ?? {};
  const label = r.first('baton.network', 'traefik.docker.network');
  const wanted = label?.value ?? opts.network;
  if (wanted !== '') {
    if (!Object.hasOwn(networks, wanted)) {
      const why = `not attached to network ${wanted}`;
      return { error: label === undefined ? why : `${label.key}: ${why}` };
    }
    if (!networks[wanted]) return { error: `no IP address on network ${wanted}` };
    return `http://${urlHost(networks[wanted])}:${port}`;
  }
  const names = Object.keys(networks).sort();
  const project = r.get(COMPOSE_PROJECT)?.value;
  const preferred = project !== undefined ? `${project}_default` : undefined;
  const name = preferred !== undefined && networks[preferred] ? preferred : names.find((n) => networks[n]);
  if (name === undefined) {
    const where = names.length === 0 ? 'no network' : `networks ${names.join(', ')}`;
    const fix = 'attach it to a network or turn publishedPorts on';
    return { error: `no IP address (${where}; network_mode host or none?); ${fix}` };
  }
  return `http://${urlHost(networks[name])}:${port}`;
}
