// The other baton replicas of a swarm, asked by a deploying replica whether an old task has drained on them too. They
// are found through the engine, nothing to configure: this replica's own task (its container, looked up by this
// host's name — Swarm names a task's container host after the container's id), then every running task of the Swarm
// services carrying the same `baton.peers` label as this one's service (without the label: this service's other
// tasks). Each is reached at its task IP on a network it shares with this replica, at this replica's admin port, with
// this replica's admin token (the same config and Swarm secret): GET /api/containers?ids=… answers how many requests
// each is still sending to those tasks. A replica that does not answer is counted as such, never as drained.
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { urlHost } from '../net.ts';
import type { SwarmTask } from '../providers/swarm-view.ts';

/** How long the list of peers is reused. */
const PEERS_TTL_MS = 5_000;
/** How long one peer may take to answer. */
const PEER_TIMEOUT_MS = 1_000;
export const PEERS_LABEL = 'baton.peers';

export interface SwarmPeersInit {
  docker: Docker;
  /** this replica's admin port (the peers listen on the same one) */
  adminPort: () => number;
  token: string;
  log: Logger;
  /** this container's host name (default: the machine's) */
  host?: string;
}

export interface PeerInflight {
  /** replicas found, this one left out */
  peers: number;
  answered: number;
  /** requests the answering peers still have in flight to the asked tasks */
  inflight: number;
  /** why the others did not answer */
  errors: string[];
}

interface Self {
  taskId: string;
  serviceId: string;
  networks: Set<string>;
}

export class SwarmPeers {
  readonly #init: SwarmPeersInit;
  #self: Self | null | undefined;
  #cache: { at: number; urls: string[] } | null = null;

  constructor(init: SwarmPeersInit) {
    this.#init = init;
  }

  /** The admin URLs of the other replicas ([] when this baton is not a Swarm task). */
  async list(): Promise<string[]> {
    if (this.#cache !== null && Date.now() - this.#cache.at < PEERS_TTL_MS) return this.#cache.urls;
    const self = await this.#whoAmI();
    if (self === null) return [];
    const docker = this.#init.docker;
    const own = (await docker.getService(self.serviceId).inspect()) as { Spec?: { Labels?: Record<string, string> } };
    const group = own.Spec?.Labels?.[PEERS_LABEL];
    let serviceIds = [self.serviceId];
    if (group !== undefined && group !== '') {
      const all = (await docker.listServices({ filters: { label: [`${PEERS_LABEL}=${group}`] } })) as Array<{
        ID: string;
      }>;
      serviceIds = all.map((s) => s.ID);
    }
    const tasks = (await docker.listTasks({
      filters: { service: serviceIds, 'desired-state': ['running'] },
    })) as SwarmTask[];
    const urls: string[] = [];
    for (const t of tasks) {
      if (t.ID === self.taskId || t.Status?.State !== 'running') continue;
      const shared = (t.NetworksAttachments ?? []).find((a) => self.networks.has(a.Network?.Spec?.Name ?? ''));
      const ip = shared?.Addresses?.[0]?.split('/')[0];
      if (ip !== undefined) urls.push(`http://${urlHost(ip)}:${this.#init.adminPort()}`);
    }
    this.#cache = { at: Date.now(), urls };
    return urls;
  }

  /** What every other replica still has in flight to these containers (tasks). */
  async inflight(ids: readonly string[]): Promise<PeerInflight> {
    let urls: string[];
    try {
      urls = await this.list();
    } catch (err) {
      return { peers: 0, answered: 0, inflight: 0, errors: [`peers not found: ${(err as Error).message}`] };
    }
    const out: PeerInflight = { peers: urls.length, answered: 0, inflight: 0, errors: [] };
    const query = encodeURIComponent(ids.join(','));
    await Promise.all(
      urls.map(async (url) => {
        try {
          const res = await fetch(`${url}/api/containers?ids=${query}`, {
            headers: { authorization: `Bearer ${this.#init.token}` },
            signal: AbortSignal.timeout(PEER_TIMEOUT_MS),
          });
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          const body = (await res.json()) as { containers: Record<string, { inflight: number }> };
          out.answered++;
          for (const id of ids) out.inflight += body.containers[id]?.inflight ?? 0;
        } catch (err) {
          out.errors.push(`${url}: ${(err as Error).message}`);
        }
      }),
    );
    if (out.errors.length > 0) this.#init.log.warn({ errors: out.errors }, 'baton replicas that did not answer');
    return out;
  }

  /** This baton's own Swarm task, or null when it is not one (not in a container, or a plain container). */
  async #whoAmI(): Promise<Self | null> {
    if (this.#self !== undefined) return this.#self;
    try {
      const c = await this.#init.docker.getContainer(this.#init.host ?? hostname()).inspect();
      const labels = c.Config?.Labels ?? {};
      const taskId = labels['com.docker.swarm.task.id'];
      const serviceId = labels['com.docker.swarm.service.id'];
      const networks = new Set(Object.keys(c.NetworkSettings?.Networks ?? {}).filter((n) => n !== 'ingress'));
      this.#self = taskId && serviceId ? { taskId, serviceId, networks } : null;
    } catch {
      return null; // not a container this engine knows (asked again next time: the engine may have been away)
    }
    return this.#self;
  }
}
