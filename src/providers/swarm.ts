// The Swarm provider: Swarm services and their tasks, routed to each task's own IP by the service's labels (the
// Docker provider's label logic, `name@swarm` middlewares). The engine has no task events (moby#37403), so tasks
// are reconciled every refreshSeconds, every FAST_POLL_MS while a service updates, a task is held or shortly after
// a service / node / task container event; a task's container stopping on this node takes it out of rotation at
// the event, with no round trip. Which tasks are in rotation is swarm-view.ts's (pure) decision. Each reconcile
// publishes one whole snapshot, only when it changed. On stream end or error: reconnect with backoff and re-list
// (engine-follow.ts); on a node that is not a manager: one clear warning, retried with backoff.
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { mapLimit, Notifier } from '../async.ts';
import type { Registry } from '../upstream/registry.ts';
import { stoppingReason } from './docker.ts';
import { dockerClient, eachLine, EngineLoop, engineEvents, parseEvent } from './engine-follow.ts';
import { LabelPublisher } from './label-snapshot.ts';
import type { DockerProviderOptions } from './labels.ts';
import { SWARM_PROVIDER } from './middleware-labels.ts';
import {
  HOLD_MAX_MS,
  imageRefs,
  rotation,
  routable,
  taskName,
  taskView,
  updating,
  type Rotation,
  type SwarmService,
  type SwarmTask,
} from './swarm-view.ts';

/** How often tasks are reconciled while things move (a service updating, a task held, just after an event). */
export const FAST_POLL_MS = 250;
/** How long "just after an event" is. */
const FAST_WINDOW_MS = 5_000;
/** How long an image's exposed ports (or its absence on this node) are remembered. */
const IMAGE_CACHE_MS = 60_000;
const NOT_MANAGER = 'not a swarm manager: run baton on a manager node or point providers.swarm.endpoint at one';

export interface SwarmProviderInit {
  endpoint: string;
  /** label options (publishedPorts is never used: tasks are reached on their own IPs) */
  options: Omit<DockerProviderOptions, 'provider' | 'publishedPorts'>;
  /** the slow reconcile period (ms) */
  refreshMs: number;
  registry: Pick<Registry, 'setSnapshot'>;
  log: Logger;
  /** whether baton's health gate passed a task's upstream (undefined: a published task counts as ready) */
  ready?: (taskId: string) => boolean;
}

interface Listing {
  services: SwarmService[];
  tasks: SwarmTask[];
}

export class SwarmProvider {
  readonly docker: Docker;
  readonly #init: SwarmProviderInit;
  readonly #log: Logger;
  readonly #loop: EngineLoop;
  readonly #publisher: LabelPublisher;
  readonly #wake = new Notifier();
  #kicked = false;
  #fastUntil = 0;
  #listing: Listing = { services: [], tasks: [] };
  /** task id → why its container is stopping (container events) */
  readonly #stopping = new Map<string, string>();
  /** the tasks that left rotation (swarm-view.ts: never held back in) */
  readonly #left = new Set<string>();
  /** task id → when it was first held for a desired state */
  readonly #heldSince = new Map<string, number>();
  #held = new Map<string, string>();
  readonly #images = new Map<string, { ports: string[] | null; at: number }>();
  /** task id → its task name, for the tasks in the published snapshot */
  #published = new Map<string, { task: string; service: string }>();

  constructor(init: SwarmProviderInit) {
    this.#init = init;
    this.#log = init.log;
    this.docker = dockerClient(init.endpoint);
    const options: DockerProviderOptions = { ...init.options, publishedPorts: false, provider: SWARM_PROVIDER };
    const { registry, log } = init;
    this.#publisher = new LabelPublisher({
      provider: SWARM_PROVIDER,
      options,
      registry,
      log,
      subject: 'Swarm service',
    });
    this.#loop = new EngineLoop({
      name: 'Swarm',
      endpoint: init.endpoint,
      log,
      session: (signal, up) => this.#session(signal, up),
      explain: (err) => (/not a swarm manager/i.test(String((err as Error)?.message)) ? NOT_MANAGER : undefined),
    });
  }

  get connected(): boolean {
    return this.#loop.connected;
  }

  start(): void {
    this.#loop.start();
  }

  close(): void {
    this.#loop.close();
  }

  /** One connected session: events first, then a full reconcile, then reconciles until the stream ends or one
   *  fails (which ends the session: the loop reconnects and re-lists). */
  async #session(signal: AbortSignal, up: (fields?: Record<string, unknown>) => void): Promise<void> {
    const stream = await engineEvents(this.docker, ['service', 'node', 'container'], signal);
    const ended = eachLine(stream, (line) => this.#onEventLine(line));
    await this.#reconcile();
    up({ services: this.#listing.services.length, tasks: this.#published.size });
    await Promise.race([ended, this.#poll(signal)]); // the loop aborts `signal` then: the poll stops, the stream goes
  }

  async #poll(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!this.#kicked) await this.#wake.wait(this.#delay(), signal);
      if (signal.aborted) return;
      this.#kicked = false;
      await this.#reconcile();
    }
  }

  /** Fast while tasks come and go, else refreshMs. */
  #delay(): number {
    const fast = Date.now() < this.#fastUntil || this.#held.size > 0 || updating(this.#listing.services);
    return fast ? Math.min(FAST_POLL_MS, this.#init.refreshMs) : this.#init.refreshMs;
  }

  /** Reconcile now, and fast for a while. */
  #kick(): void {
    this.#fastUntil = Date.now() + FAST_WINDOW_MS;
    this.#kicked = true;
    this.#wake.notify();
  }

  #onEventLine(line: string): void {
    const e = parseEvent(line);
    if (e === null) return;
    if (e.type === 'service' || e.type === 'node') return this.#kick();
    const taskId = e.attributes['com.docker.swarm.task.id'];
    if (e.type !== 'container' || taskId === undefined || taskId === '') return;
    const stopping = stoppingReason(e);
    if (stopping !== null) {
      if (this.#stopping.has(taskId)) return;
      this.#stopping.set(taskId, stopping);
      this.#publish(); // out of rotation now, from what is known
      this.#kick();
    } else if (e.action === 'start' || e.action.startsWith('health_status')) {
      this.#kick(); // Swarm reports the task running a moment later
    } // exec_* (HEALTHCHECKs), attach, ...: nothing to do
  }

  /** Lists services and tasks, looks up the images' exposed ports and publishes. */
  async #reconcile(): Promise<void> {
    const services = (await this.docker.listServices()) as SwarmService[];
    const tasks = (await this.docker.listTasks()) as SwarmTask[];
    this.#listing = { services, tasks };
    const running = new Set(tasks.filter((t) => t.Status?.State === 'running').map((t) => t.ID));
    for (const id of this.#stopping.keys()) if (!running.has(id)) this.#stopping.delete(id);
    for (const id of this.#left) if (!running.has(id)) this.#left.delete(id);
    const byDefault = this.#init.options.exposedByDefault;
    const labelled = new Set(services.filter((s) => routable(s, byDefault)).map((s) => s.ID));
    await this.#lookUpImages(tasks.filter((t) => running.has(t.ID) && labelled.has(t.ServiceID)));
    this.#publish();
  }

  /** The exposed ports of the images of these tasks, as far as they are on this node (cached). */
  async #lookUpImages(tasks: SwarmTask[]): Promise<void> {
    const now = Date.now();
    const wanted = new Set(tasks.map((t) => t.Spec?.ContainerSpec?.Image ?? '').filter((i) => i !== ''));
    const missing = [...wanted].filter((i) => now - (this.#images.get(i)?.at ?? -Infinity) >= IMAGE_CACHE_MS);
    await mapLimit(missing, 4, async (image) => {
      let ports: string[] | null = null;
      for (const ref of imageRefs(image)) {
        try {
          const info = await this.docker.getImage(ref).inspect();
          ports = Object.keys(info.Config?.ExposedPorts ?? {});
          break;
        } catch {
          // not on this node under this ref
        }
      }
      if (ports === null && this.#images.get(image)?.ports !== null) {
        this.#log.info({ image }, 'Image not on this node: its exposed ports are unknown (label the port)');
      }
      this.#images.set(image, { ports, at: now });
    });
  }

  /** Which tasks are in rotation → their views → one snapshot (published when it changed); logs who left and
   *  joined, and why. */
  #publish(): void {
    const now = Date.now();
    const expired = new Set([...this.#heldSince].filter(([, at]) => now - at >= HOLD_MAX_MS).map(([id]) => id));
    const input = { ...this.#listing, stopping: this.#stopping, left: this.#left, ready: this.#init.ready, expired };
    const r = rotation(input);
    this.#holds(r, now);
    const views = r.tasks.map(({ service, task }) => {
      const image = task.Spec?.ContainerSpec?.Image ?? '';
      return taskView(service, task, this.#images.get(image)?.ports ?? []);
    });
    const { snapshot } = this.#publisher.publish(views);
    const published = new Map<string, { task: string; service: string }>();
    const names = new Map(r.tasks.map(({ service, task }) => [task.ID, taskName(service, task)]));
    for (const s of snapshot.services) {
      for (const u of s.upstreams) {
        if (u.containerId !== undefined)
          published.set(u.containerId, { task: names.get(u.containerId)!, service: s.name });
      }
    }
    for (const [id, p] of this.#published) {
      if (published.has(id)) continue;
      const reason = r.out.get(id) ?? 'no longer running or listed';
      this.#log.info({ task: p.task, service: p.service, reason }, 'Swarm task leaves rotation');
    }
    for (const [id, p] of published) {
      if (!this.#published.has(id)) this.#log.info({ task: p.task, service: p.service }, 'Swarm task joins rotation');
    }
    this.#published = published;
    for (const id of r.out.keys()) this.#left.add(id);
    for (const { task } of r.tasks) this.#left.delete(task.ID);
  }

  /** Remembers since when tasks are held for a desired state (HOLD_MAX_MS), and logs each hold once. */
  #holds(r: Rotation, now: number): void {
    const held = new Map<string, string>();
    for (const [id, h] of r.held) {
      held.set(id, h.reason);
      if (h.desired && !this.#heldSince.has(id)) this.#heldSince.set(id, now);
      if (!this.#held.has(id)) {
        const task = r.tasks.find((x) => x.task.ID === id);
        const name = task !== undefined ? taskName(task.service, task.task) : id;
        this.#log.info(
          { task: name, reason: h.reason },
          'Swarm task kept in rotation: its service has no other ready task',
        );
      }
    }
    for (const id of this.#heldSince.keys()) if (!r.held.has(id) && !r.out.has(id)) this.#heldSince.delete(id);
    this.#held = held;
  }
}
