// The Docker provider: list + inspect on start, then the events stream. A container leaves rotation on
// `kill`/`stop` (before its process exits), on `die`/`destroy`/`pause`/`oom` and on Docker `unhealthy`; it joins on
// `start`/`unpause`/`healthy` through baton's own health gate. On stream end or error: reconnect with backoff
// and re-list (never trust a replay). Every change republishes one whole snapshot.
import Docker from 'dockerode';
import type { Logger } from 'pino';
import { mapLimit, sleep } from '../async.ts';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_PASSIVE_COOLDOWN_MS,
  DEFAULT_PASSIVE_FAILURES,
  DEFAULT_RETRIES,
  DEFAULT_RETRY_BUDGET_MS,
  DEFAULT_UPSTREAM_MAX_CONNECTIONS,
} from '../config/defaults.ts';
import type { MiddlewareDef } from '../middleware/definitions.ts';
import type { Registry } from '../upstream/registry.ts';
import { routesForContainer, type ContainerRoute, type ContainerView, type DockerProviderOptions } from './labels.ts';
import { resolveMiddlewares } from './middleware-labels.ts';
import type { DesiredService, Snapshot } from '../upstream/desired.ts';

/** Health gate for Docker upstreams when labels set none: TCP connect, 2 passes at 500 ms. */
export const DOCKER_HEALTH_DEFAULTS = { interval: 500, timeout: 1000, rise: 2, fall: 2 } as const;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Signals whose `kill` event means the container is going away (TERM, KILL, INT, QUIT). */
const STOPPING_SIGNALS = new Set([
  '15',
  '9',
  '2',
  '3',
  'SIGTERM',
  'SIGKILL',
  'SIGINT',
  'SIGQUIT',
  'TERM',
  'KILL',
  'INT',
  'QUIT',
]);

export interface DockerProviderInit {
  endpoint: string;
  options: DockerProviderOptions;
  registry: Registry;
  log: Logger;
  /** called after each (re)connection's first full listing */
  onConnect?: () => void;
}

/** dockerode client for an endpoint like unix:///var/run/docker.sock or tcp://127.0.0.1:2375. */
export function dockerClient(endpoint: string): Docker {
  if (endpoint.startsWith('unix://')) return new Docker({ socketPath: endpoint.slice('unix://'.length) });
  const u = new URL(endpoint.replace(/^tcp:/, 'http:'));
  return new Docker({
    host: u.hostname,
    port: Number(u.port || 2375),
    protocol: u.protocol === 'https:' ? 'https' : 'http',
  });
}

/** Docker's inspect answer → what label parsing needs. */
export function containerView(info: Docker.ContainerInspectInfo): ContainerView {
  const networks: Record<string, string> = {};
  for (const [name, n] of Object.entries(info.NetworkSettings?.Networks ?? {})) networks[name] = n.IPAddress ?? '';
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    labels: info.Config?.Labels ?? {},
    running: info.State?.Running === true,
    paused: info.State?.Paused === true,
    health: (info.State as { Health?: { Status?: string } } | undefined)?.Health?.Status ?? null,
    networks,
    exposedPorts: Object.keys(info.Config?.ExposedPorts ?? {}),
    publishedPorts: (info.NetworkSettings?.Ports ?? {}) as ContainerView['publishedPorts'],
    created: info.Created,
  };
}

/** Routes of all routable containers → one snapshot (pure), with the middlewares their labels define (name →
 *  definition; resolveMiddlewares). Several containers of a service form one service. */
export function dockerSnapshot(routes: ContainerRoute[], middlewares: Record<string, MiddlewareDef> = {}): Snapshot {
  const byService = new Map<string, ContainerRoute[]>();
  for (const r of routes) {
    const list = byService.get(r.service);
    if (list === undefined) byService.set(r.service, [r]);
    else list.push(r);
  }
  const services: DesiredService[] = [];
  for (const [name, list] of byService) {
    // settings come from the oldest container, so a rolling deploy changes them only once it is done
    list.sort(
      (a, b) =>
        a.container.created.localeCompare(b.container.created) || a.container.name.localeCompare(b.container.name),
    );
    const first = list[0];
    const hc = first.healthCheck;
    services.push({
      name,
      rule: first.rule,
      priority: first.priority,
      loadBalancer: first.loadBalancer ?? 'round-robin',
      passHostHeader: first.passHostHeader ?? true,
      healthCheck: {
        path: hc.path,
        interval: hc.interval ?? DOCKER_HEALTH_DEFAULTS.interval,
        timeout: hc.timeout ?? DOCKER_HEALTH_DEFAULTS.timeout,
        rise: hc.rise ?? DOCKER_HEALTH_DEFAULTS.rise,
        fall: hc.fall ?? DOCKER_HEALTH_DEFAULTS.fall,
      },
      passive: { failures: DEFAULT_PASSIVE_FAILURES, cooldown: DEFAULT_PASSIVE_COOLDOWN_MS },
      retries: DEFAULT_RETRIES,
      retryBudget: DEFAULT_RETRY_BUDGET_MS,
      drainTimeout: first.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT_MS,
      maxConnectionsPerUpstream: DEFAULT_UPSTREAM_MAX_CONNECTIONS,
      entrypoints: first.entrypoints,
      tls: first.tls,
      ...(first.middlewares !== undefined && { middlewares: [...first.middlewares] }),
      ...(first.routes !== undefined && { routes: first.routes.map((route) => ({ ...route })) }),
      upstreams: list.map((r) => ({ id: `${name}@${r.container.name}`, url: r.url, containerId: r.container.id })),
    });
  }
  return Object.keys(middlewares).length > 0 ? { services, middlewares } : { services };
}

interface Known {
  view: ContainerView;
  /** when this view was inspected (ms, monotonic-ish) */
  at: number;
}

export class DockerProvider {
  readonly docker: Docker;
  readonly #init: DockerProviderInit;
  readonly #log: Logger;
  readonly #known = new Map<string, Known>();
  /** containers that got a stopping `kill`/`stop`/`die`: out of rotation until a new `start` */
  readonly #leaving = new Set<string>();
  readonly #abort = new AbortController();
  #stream: NodeJS.ReadableStream | null = null;
  #connected = false;
  #warnedDown = false;
  #lastProblems = new Map<string, string>();

  constructor(init: DockerProviderInit) {
    this.#init = init;
    this.#log = init.log;
    this.docker = dockerClient(init.endpoint);
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    void this.#run();
  }

  async #run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        await this.#session(signal);
        backoff = BACKOFF_MIN_MS; // the stream ran and ended: reconnect soon
        if (!signal.aborted) this.#log.warn('Docker events stream ended; reconnecting and re-listing');
      } catch (err) {
        if (signal.aborted) break;
        if (this.#connected) {
          this.#log.warn({ err }, 'Docker events stream failed; reconnecting and re-listing');
        } else if (!this.#warnedDown) {
          this.#warnedDown = true;
          this.#log.warn(
            { endpoint: this.#init.endpoint, err },
            'Docker engine not reachable; static routes keep serving, retrying with backoff',
          );
        } else {
          this.#log.debug({ err }, 'Docker engine still not reachable');
        }
        this.#connected = false;
      }
      if (signal.aborted) break;
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
  }

  /** One connected session: subscribe to events, list + inspect everything, then follow events until the stream
   *  ends. */
  async #session(signal: AbortSignal): Promise<void> {
    const stream = (await this.docker.getEvents({
      filters: { type: ['container'] },
      abortSignal: signal,
    } as Docker.GetEventsOptions)) as NodeJS.ReadableStream;
    this.#stream = stream;
    const ended = new Promise<void>((resolve, reject) => {
      let buf = '';
      stream.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        let nl = buf.indexOf('\n');
        while (nl !== -1) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line !== '') this.#onEventLine(line);
          nl = buf.indexOf('\n');
        }
      });
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
      stream.on('error', (err: Error) => reject(err));
    });
    await this.resync();
    if (!this.#connected) {
      this.#connected = true;
      this.#log.info(
        { endpoint: this.#init.endpoint, containers: this.#known.size },
        this.#warnedDown ? 'Docker engine reachable again' : 'Docker provider connected',
      );
      this.#warnedDown = false;
    }
    this.#init.onConnect?.();
    await ended;
    this.#stream = null;
  }

  /** Lists running containers, inspects them and replaces what is known (keeping views inspected since). */
  async resync(): Promise<void> {
    const started = Date.now();
    const list = await this.docker.listContainers({ all: false });
    const views = await mapLimit(list, 8, async (c) => {
      try {
        return containerView(await this.docker.getContainer(c.Id).inspect());
      } catch {
        return null; // gone meanwhile
      }
    });
    const listed = new Set<string>();
    for (const v of views) {
      if (v === null) continue;
      listed.add(v.id);
      const prev = this.#known.get(v.id);
      if (prev === undefined || prev.at <= started) this.#known.set(v.id, { view: v, at: started });
    }
    for (const [id, k] of this.#known) if (!listed.has(id) && k.at <= started) this.#known.delete(id);
    this.#publish();
  }

  #onEventLine(line: string): void {
    let e: {
      Action?: string;
      status?: string;
      id?: string;
      Actor?: { ID?: string; Attributes?: Record<string, string> };
    };
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    const id = e.Actor?.ID ?? e.id;
    const action = e.Action ?? e.status ?? '';
    if (id === undefined) return;
    switch (action) {
      case 'kill': {
        const sig = e.Actor?.Attributes?.signal ?? '';
        if (STOPPING_SIGNALS.has(sig.toUpperCase())) this.#leave(id, `kill (signal ${sig})`);
        return;
      }
      case 'stop':
      case 'die':
      case 'oom':
      case 'pause':
      case 'destroy':
        this.#leave(id, action);
        if (action === 'destroy') this.#leaving.delete(id);
        return;
      case 'start':
      case 'unpause':
      case 'rename':
        this.#leaving.delete(id);
        void this.sync(id);
        return;
      default:
        if (action.startsWith('health_status')) void this.sync(id);
    }
  }

  /** Out of rotation now (no inspect round trip: the container is on its way out). */
  #leave(id: string, why: string): void {
    this.#leaving.add(id);
    const k = this.#known.get(id);
    if (k === undefined) return;
    this.#known.delete(id);
    this.#log.info({ container: k.view.name, event: why }, 'Container leaves rotation');
    this.#publish();
  }

  /** Inspects one container now and republishes (used for events and by the deployer right after a start). */
  async sync(id: string): Promise<ContainerView | null> {
    const at = Date.now();
    let view: ContainerView | null = null;
    try {
      view = containerView(await this.docker.getContainer(id).inspect());
    } catch {
      view = null;
    }
    if (view === null || !view.running || this.#leaving.has(id)) {
      if (this.#known.delete(id)) this.#publish();
      return view;
    }
    const prev = this.#known.get(id);
    if (prev !== undefined && prev.at > at) return view;
    this.#known.set(id, { view, at });
    this.#publish();
    return view;
  }

  #publish(): void {
    const each = [...this.#known.values()].map(({ view }) => ({
      container: view,
      ...routesForContainer(view, this.#init.options),
    }));
    // the middlewares the containers' routes use, against every container's definitions
    const { routes, problems: all, middlewares } = resolveMiddlewares(each);
    const problems = new Map<string, string>();
    // errors win over notes when a container has both
    for (const p of all) {
      if (!problems.has(p.container) || problems.get(p.container)!.endsWith('(still routed)')) {
        problems.set(p.container, p.message);
      }
    }
    for (const [container, message] of problems) {
      if (this.#lastProblems.get(container) === message) continue;
      // notes end in "(still routed)"; anything else left the container out
      if (message.endsWith('(still routed)')) this.#log.info({ container, note: message }, 'Container label note');
      else this.#log.warn({ container, problem: message }, 'Container labels ignored');
    }
    this.#lastProblems = problems;
    try {
      this.#init.registry.setSnapshot('docker', dockerSnapshot(routes, middlewares));
    } catch (err) {
      this.#log.error({ err }, 'Docker snapshot rejected; routing unchanged');
    }
  }

  close(): void {
    this.#abort.abort();
    const s = this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    s?.destroy?.();
  }
}
