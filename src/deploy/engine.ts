// The container engine as the deployer sees it: the handful of operations a deploy needs (a port). DockerEngine
// implements it with dockerode; the deployer's orchestration tests drive it through an in-memory fake.
import type Docker from 'dockerode';
import { mapLimit } from '../async.ts';
import { BadRequestError } from '../errors.ts';
import { containerView, type DockerProvider } from '../providers/docker.ts';
import { serviceNamesOf, type ContainerView, type DockerProviderOptions } from '../providers/labels.ts';
import { cloneSpec, type CloneSpec } from './clone.ts';
import { composeNaming, recreateStopped } from './compose-engine.ts';
import type { ComposeNaming } from './compose.ts';

/** Labels the deployer puts on the containers it creates. */
export const GENERATION_LABEL = 'baton.generation';
export const DEPLOY_LABEL = 'baton.deploy';
/** Docker's own default grace period between SIGTERM and SIGKILL, when a container sets none. */
const DEFAULT_STOP_TIMEOUT_S = 10;
/** parallel inspects when listing a service */
const INSPECT_CONCURRENCY = 8;

/** What a deploy knows of a container. */
export interface DeployContainer {
  id: string;
  /** without the leading '/' */
  name: string;
  /** the image reference it was created from (e.g. `app:v1`) */
  image: string;
  /** ISO creation time */
  created: string;
  /** the `baton.generation` label (0 for containers baton did not create) */
  generation: number;
  running: boolean;
  /** Docker's state: created | running | paused | restarting | removing | exited | dead */
  status: string;
  exitCode: number;
  /** its labels (the image's merged in, as Docker reports them) */
  labels: Record<string, string>;
}

/** A container (and its image's defaults) to clone from, read once per deploy. */
export interface CloneSource {
  readonly id: string;
  /** the name of the next clone, when the source names its own (a compose service: <project>_<service>_<n>) */
  nextName?(): string;
}

/** How a deploy's clones differ from their source besides the image. */
export interface CloneOptions {
  /** a compose service's new com.docker.compose.config-hash (compose.ts); null drops it; undefined keeps the
   *  source's (a scale: same config) */
  configHash?: string | null;
}

/** A service's containers: running, and stopped ones (exited or created) kept as earlier generations. */
export interface ServiceContainers {
  running: DeployContainer[];
  stopped: DeployContainer[];
}

export interface Engine {
  /** Every container of `service`, by the same label rules discovery routes by. */
  listService(service: string): Promise<ServiceContainers>;
  /** The container now, or null when it no longer exists. */
  inspect(id: string): Promise<DeployContainer | null>;
  /** Resolves when `ref` is present (pulled first when `pull`); a BadRequestError otherwise. */
  ensureImage(ref: string, pull: boolean): Promise<void>;
  cloneSource(template: DeployContainer, options?: CloneOptions): Promise<CloneSource>;
  /** Creates (does not start) a clone of `source` running `image`, with extra labels; returns its id. */
  create(source: CloneSource, image: string, name: string, labels: Record<string, string>): Promise<string>;
  /** Re-creates a stopped container as `name` with labels changed (null: removed); returns the new id. */
  relabel?(id: string, name: string, labels: Record<string, string | null>): Promise<string>;
  /** Attaches a created clone to the networks of its source (with their aliases). */
  connect(source: CloneSource, id: string): Promise<void>;
  /** Starts a container (already running is fine); resolves once discovery has seen it. */
  start(id: string): Promise<void>;
  /** Stops a running container with its own grace period (SIGTERM, SIGKILL after it); false if it is gone. */
  stop(id: string): Promise<boolean>;
  /** Removes a container (not its named volumes); a missing one is fine. */
  remove(id: string): Promise<void>;
  /** The containers carrying deploy `deployId`'s label, in any state. */
  listDeploy(deployId: string): Promise<Array<{ id: string; name: string; image: string }>>;
}

type Inspect = Docker.ContainerInspectInfo;

interface DockerCloneSource extends CloneSource {
  container: Inspect;
  oldImage: Docker.ImageInspectInfo | null;
  /** the networks (and aliases) every clone joins after creation */
  connect: CloneSpec['connect'];
  /** a compose service's naming and labels */
  compose: ComposeNaming | null;
}

export interface DockerEngineInit {
  docker: Docker;
  /** discovery: a started container is inspected and routed at once, not on its `start` event */
  provider: DockerProvider;
  providerOptions: DockerProviderOptions;
}

function statusCodeOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

function generationOf(labels: Record<string, string> | undefined): number {
  const n = Number(labels?.[GENERATION_LABEL] ?? 0);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

function deployContainer(c: Inspect): DeployContainer {
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    created: c.Created,
    generation: generationOf(c.Config?.Labels),
    running: c.State.Running,
    status: c.State.Status,
    exitCode: c.State.ExitCode,
    labels: c.Config?.Labels ?? {},
  };
}

/** A listing entry seen as discovery would see it. Ports are not known from a listing (a stopped container lists
 *  none): one placeholder port keeps port selection out of the decision, so this view's services are a superset
 *  of the real ones; the exact check runs on the inspect. */
function listedView(c: Docker.ContainerInfo): ContainerView {
  return {
    id: c.Id,
    name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''),
    labels: c.Labels ?? {},
    running: c.State === 'running',
    paused: c.State === 'paused',
    health: null,
    networks: {},
    exposedPorts: ['1/tcp'],
    publishedPorts: {},
    created: new Date(c.Created * 1000).toISOString(),
  };
}

export class DockerEngine implements Engine {
  readonly #docker: Docker;
  readonly #provider: DockerProvider;
  readonly #options: DockerProviderOptions;

  constructor(init: DockerEngineInit) {
    this.#docker = init.docker;
    this.#provider = init.provider;
    this.#options = init.providerOptions;
  }

  async listService(service: string): Promise<ServiceContainers> {
    const list = await this.#docker.listContainers({ all: true });
    const candidates = list.filter((c) => serviceNamesOf(listedView(c), this.#options).includes(service));
    const infos = await mapLimit(candidates, INSPECT_CONCURRENCY, (c) => this.#inspect(c.Id).catch(() => null));
    const out: ServiceContainers = { running: [], stopped: [] };
    for (const info of infos) {
      if (info === null) continue;
      if (!serviceNamesOf(containerView(info), this.#options).includes(service)) continue;
      if (info.State.Running) out.running.push(deployContainer(info));
      else if (info.State.Status === 'exited' || info.State.Status === 'created')
        out.stopped.push(deployContainer(info));
    }
    return out;
  }

  async inspect(id: string): Promise<DeployContainer | null> {
    try {
      return deployContainer(await this.#inspect(id));
    } catch (err) {
      if (statusCodeOf(err) === 404) return null;
      throw err;
    }
  }

  async ensureImage(ref: string, pull: boolean): Promise<void> {
    try {
      await this.#docker.getImage(ref).inspect();
      return;
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err;
    }
    if (!pull) {
      throw new BadRequestError(
        `image ${ref} is not present on this Docker host (build or pull it first, or set "pull": true)`,
      );
    }
    try {
      const stream = await this.#docker.pull(ref);
      await new Promise<void>((resolve, reject) => {
        this.#docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve()));
      });
      await this.#docker.getImage(ref).inspect();
    } catch (err) {
      throw new BadRequestError(`image ${ref} could not be pulled: ${(err as Error).message}`);
    }
  }

  async cloneSource(template: DeployContainer, options: CloneOptions = {}): Promise<CloneSource> {
    const container = await this.#inspect(template.id);
    const oldImage = await this.#docker
      .getImage(container.Image)
      .inspect()
      .catch(() => null);
    const own = { container, oldImage, image: container.Config.Image, name: template.name, labels: {} };
    const connect = cloneSpec(own).connect;
    const compose = await composeNaming(this.#docker, container, options.configHash);
    const source: DockerCloneSource = { id: template.id, container, oldImage, connect, compose };
    if (compose !== null) source.nextName = () => compose.nextName();
    return source;
  }

  async create(source: CloneSource, image: string, name: string, labels: Record<string, string>): Promise<string> {
    const { container, oldImage, compose } = source as DockerCloneSource;
    const all = compose === null ? labels : { ...labels, ...compose.labelsFor(name) };
    const spec = cloneSpec({ container, oldImage, image, name, labels: all });
    const c = await this.#docker.createContainer(spec.create);
    return c.id;
  }

  relabel(id: string, name: string, labels: Record<string, string | null>): Promise<string> {
    return recreateStopped(this.#docker, id, name, labels);
  }

  async connect(source: CloneSource, id: string): Promise<void> {
    for (const n of (source as DockerCloneSource).connect) {
      await this.#docker.getNetwork(n.network).connect({ Container: id, EndpointConfig: n.config });
    }
  }

  async start(id: string): Promise<void> {
    await this.#docker
      .getContainer(id)
      .start()
      .catch((err: unknown) => {
        if (statusCodeOf(err) !== 304) throw err; // 304: already running
      });
    await this.#provider.sync(id);
  }

  async stop(id: string): Promise<boolean> {
    const c = this.#docker.getContainer(id);
    const info = await c.inspect().catch(() => null);
    if (info === null) return false;
    if (info.State.Running) {
      const t = (info.Config as { StopTimeout?: number }).StopTimeout ?? DEFAULT_STOP_TIMEOUT_S;
      await c.stop({ t }).catch((err: unknown) => {
        if (statusCodeOf(err) !== 304) throw err; // 304: already stopped
      });
    }
    return true;
  }

  async remove(id: string): Promise<void> {
    await this.#docker
      .getContainer(id)
      .remove({ force: true, v: false })
      .catch(() => {});
  }

  async listDeploy(deployId: string): Promise<Array<{ id: string; name: string; image: string }>> {
    const list = await this.#docker.listContainers({ all: true, filters: { label: [`${DEPLOY_LABEL}=${deployId}`] } });
    return list.map((c) => ({ id: c.Id, name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''), image: c.Image }));
  }

  #inspect(id: string): Promise<Inspect> {
    return this.#docker.getContainer(id).inspect();
  }
}
