// docker-compose's labels on the containers baton deploys, pure. docker-compose 1.29 finds a service's containers
// by three labels (com.docker.compose.project, .service, .oneoff=False), names them <project>_<service>_<n> from
// .container-number (the next one is the highest in use + 1), and `docker-compose up -d` recreates every one of
// them, stopped ones included, whose .config-hash differs from the hash of the service's config in the file
// (`docker-compose config --hash=<service>`: the service's options and its image's id).
//
// So a clone baton starts for a compose service gets the project/service labels of the container it is cloned
// from, oneoff=False, a fresh container-number, the compose name, and the config hash the deploy request carries
// (the CLI computes it with `docker-compose config --hash`; without one the label is dropped, so the next
// `docker-compose up -d` recreates the service from its file). A container baton retires and keeps stopped for
// rollback is re-created (same image, config and volumes, by name) as oneoff=True under another name: compose's
// `ps` and `up` no longer see it (`ps -a` shows it; `down` removes it), baton's discovery still does (it reads
// project/service, not oneoff). A rollback turns it back into a numbered service container the same way.

export const COMPOSE_PROJECT = 'com.docker.compose.project';
export const COMPOSE_SERVICE = 'com.docker.compose.service';
export const COMPOSE_ONEOFF = 'com.docker.compose.oneoff';
export const COMPOSE_NUMBER = 'com.docker.compose.container-number';
export const COMPOSE_CONFIG_HASH = 'com.docker.compose.config-hash';
/** on a retired container baton hid from compose: the name it had */
export const RETIRED_LABEL = 'baton.compose.retired';

/** `docker-compose config --hash` prints sha256 hex digests */
export const CONFIG_HASH = /^[a-f0-9]{64}$/;

/** Which compose service a container belongs to. */
export interface ComposeIdentity {
  project: string;
  service: string;
  /** whether it is a retired container baton hid from compose (oneoff=True, RETIRED_LABEL) */
  retired: boolean;
}

/** The container's compose service, or null when compose did not create it (or it is a `docker-compose run`). */
export function composeIdentity(labels: Record<string, string> | undefined): ComposeIdentity | null {
  const project = labels?.[COMPOSE_PROJECT];
  const service = labels?.[COMPOSE_SERVICE];
  if (!project || !service) return null;
  const retired = labels[RETIRED_LABEL] !== undefined;
  if (labels[COMPOSE_ONEOFF] === 'True' && !retired) return null;
  return { project, service, retired };
}

/** compose's build_container_name(): `<project without leading - or _>_<service>_<n>` */
export function composeName(id: Pick<ComposeIdentity, 'project' | 'service'>, n: number): string {
  return `${id.project.replace(/^[-_]+/, '')}_${id.service}_${n}`;
}

/** The next container-number: the highest any container of the service carries (retired ones too) + 1. */
export function nextNumber(labelSets: Iterable<Record<string, string> | undefined>): number {
  let max = 0;
  for (const labels of labelSets) {
    const n = Number(labels?.[COMPOSE_NUMBER]);
    if (Number.isSafeInteger(n) && n > max) max = n;
  }
  return max + 1;
}

/** A service's compose naming, as a clone source carries it: hands out names and numbers in order. */
export class ComposeNaming {
  readonly identity: ComposeIdentity;
  readonly configHash: string | null;
  #next: number;
  readonly #numbers = new Map<string, number>();

  constructor(identity: ComposeIdentity, next: number, configHash: string | null) {
    this.identity = identity;
    this.#next = next;
    this.configHash = configHash;
  }

  /** The next compose name (and remembers its number for labelsFor). */
  nextName(): string {
    const n = this.#next++;
    const name = composeName(this.identity, n);
    this.#numbers.set(name, n);
    return name;
  }

  /** The compose labels of a new service container named `name` (null: a label to drop). */
  labelsFor(name: string): Record<string, string | null> {
    const n = this.#numbers.get(name) ?? this.#next++;
    return {
      [COMPOSE_ONEOFF]: 'False',
      [COMPOSE_NUMBER]: String(n),
      [COMPOSE_CONFIG_HASH]: this.configHash,
      [RETIRED_LABEL]: null,
    };
  }
}

/** How a retired container is hidden from compose: its new name and labels. */
export function hiddenSpec(name: string, generation: number): { name: string; labels: Record<string, string> } {
  return { name: `${name}_retired-g${generation}`, labels: { [COMPOSE_ONEOFF]: 'True', [RETIRED_LABEL]: name } };
}

/** How a retired container comes back as service container number `n` (rollback). */
export function restoredSpec(
  id: Pick<ComposeIdentity, 'project' | 'service'>,
  n: number,
): { name: string; labels: Record<string, string | null> } {
  return {
    name: composeName(id, n),
    labels: { [COMPOSE_ONEOFF]: 'False', [COMPOSE_NUMBER]: String(n), [RETIRED_LABEL]: null },
  };
}
