// Where baton reaches a container's port (pure): a host port Docker publishes (publishedPorts on), else the
// container's IP on the labelled, configured or first network that has one. A Swarm task's IP is on the labelled,
// configured or only network it has an address on (never Swarm's ingress network, which the task's view leaves out;
// never the service's virtual IP). Used by labels.ts.

import { dialHost, urlHost } from '../net.ts';
import type { Reader } from './label-reader.ts';
import type { ContainerView, DockerProviderOptions } from './labels.ts';

const COMPOSE_PROJECT = 'com.docker.compose.project';
const STACK_NAMESPACE = 'com.docker.stack.namespace';
/** The network labels, by provider: Traefik's Swarm provider reads traefik.swarm.network (v3) and, in v2's swarm
 *  mode, traefik.docker.network; its Docker provider only the latter. */
const NETWORK_LABELS = {
  docker: ['baton.network', 'traefik.docker.network'],
  swarm: ['baton.network', 'traefik.swarm.network', 'traefik.docker.network'],
} as const;

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
 *  default network, else the first (sorted) network with an address. A Swarm task's: traefik.swarm.network too,
 *  else its only network with an address. */
function networkUrl(
  c: ContainerView,
  port: number,
  r: Reader,
  opts: DockerProviderOptions,
): string | { error: string } {
  const networks = c.networks ?? {};
  const swarm = opts.provider === 'swarm';
  const label = r.first(...NETWORK_LABELS[swarm ? 'swarm' : 'docker']);
  const wanted = label?.value ?? opts.network;
  if (wanted !== '') {
    if (!Object.hasOwn(networks, wanted)) {
      const stack = swarm ? r.get(STACK_NAMESPACE)?.value : undefined;
      const named = stack !== undefined && Object.hasOwn(networks, `${stack}_${wanted}`) ? `${stack}_${wanted}` : '';
      const hint = named !== '' ? ` (a stack's networks are named <stack>_<name>: ${named}?)` : '';
      const why = `not attached to network ${wanted}${hint}`;
      return { error: label === undefined ? why : `${label.key}: ${why}` };
    }
    if (!networks[wanted]) return { error: `no IP address on network ${wanted}` };
    return `http://${urlHost(networks[wanted])}:${port}`;
  }
  if (swarm) return onlyNetworkUrl(networks, port);
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

/** A Swarm task's IP on its only network with an address (ingress is not in the view); several are a problem. */
function onlyNetworkUrl(networks: Record<string, string>, port: number): string | { error: string } {
  const names = Object.keys(networks)
    .filter((n) => networks[n])
    .sort();
  if (names.length === 1) return `http://${urlHost(networks[names[0]])}:${port}`;
  if (names.length === 0) {
    const why = "no IP address on a network other than Swarm's ingress (its routing mesh, which baton never uses)";
    return { error: `${why}; attach the service to an overlay network baton is on` };
  }
  const fix = 'set traefik.swarm.network (or providers.swarm.network) to the one baton reaches it on';
  return { error: `on several networks (${names.join(', ')}); ${fix}` };
}
