// The Docker provider: list + inspect on start, then the events stream. A container leaves rotation on
// `kill`/`stop` (before its process exits), on `die`/`destroy`/`pause`/`oom` and on Docker `unhealthy`; it joins on
// `start`/`unpause`/`healthy` through baton's own health gate. On stream end or error: reconnect with backoff
// and re-list (never trust a replay; engine-follow.ts). Every change republishes one whole snapshot
// (label-snapshot.ts).
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { mapLimit } from '../async.ts';
import type { Registry } from '../upstream/registry.ts';
import { dockerClient, eachLine, EngineLoop, engineEvents, parseEvent, type EngineEvent } from './engine-follow.ts';
import { LabelPublisher } from './label-snapshot.ts';
import type { ContainerView, DockerProviderOptions } from './labels.ts';
import { DOCKER_PROVIDER } from './middleware-labels.ts';

export { dockerClient } from './engine-follow.ts';
export { DOCKER_HEALTH_DEFAULTS, dockerSnapshot } from './label-snapshot.ts';

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

/** Why a container event takes it out of rotation (`kill (signal 15)`, `stop`, `die`, ...), or null. */
export function stoppingReason(e: EngineEvent): string | null {
  switch (e.action) {
    case 'kill': {
      const sig = e.attributes.signal ?? '';
      return STOPPING_SIGNALS.has(sig.toUpperCase()) ? `kill (signal ${sig})` : null;
    }
    case 'stop':
    case 'die':
    case 'oom':
    case 'pause':
    case 'destroy':
      return e.action;
    default:
      return null;
  }
}

export interface DockerProviderInit {
  endpoint: string;
  options: DockerProviderOptions;
  registry: Registry;
  log: Logger;
  /** called after each (re)connection's first full listing */
  onConnect?: () => void;
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
  readonly #loop: EngineLoop;
  readonly #publisher: LabelPublisher;

  constructor(init: DockerProviderInit) {
    this.#init = init;
    this.#log = init.log;
    this.docker = dockerClient(init.endpoint);
    const { registry, log, options } = init;
    this.#publisher = new LabelPublisher({ provider: DOCKER_PROVIDER, options, registry, log });
    const session = (signal: AbortSignal, up: (fields?: Record<string, unknown>) => void) => this.#session(signal, up);
    this.#loop = new EngineLoop({ name: 'Docker', endpoint: init.endpoint, log, session });
  }

  get connected(): boolean {
    return this.#loop.connected;
  }

  start(): void {
    this.#loop.start();
  }

  /** One connected session: subscribe to events, list + inspect everything, then follow events until the stream
   *  ends. */
  async #session(signal: AbortSignal, up: (fields?: Record<string, unknown>) => void): Promise<void> {
    const stream = await engineEvents(this.docker, ['container'], signal);
    const ended = eachLine(stream, (line) => this.#onEventLine(line));
    await this.resync();
    up({ containers: this.#known.size });
    this.#init.onConnect?.();
    await ended;
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
    const e = parseEvent(line);
    if (e === null) return;
    const { id, action } = e;
    const stopping = stoppingReason(e);
    if (stopping !== null) {
      this.#leave(id, stopping);
      if (action === 'destroy') this.#leaving.delete(id);
    } else if (action === 'start' || action === 'unpause' || action === 'rename') {
      this.#leaving.delete(id);
      void this.sync(id);
    } else if (action.startsWith('health_status')) {
      void this.sync(id);
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
    this.#publisher.publish([...this.#known.values()].map((k) => k.view));
  }

  close(): void {
    this.#loop.close();
  }
}
