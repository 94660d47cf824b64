// Sets a service's traffic split (split.ts) in the control plane's registry and, with workers, in every worker
// thread's (through the registry mirror). A worker started later gets the splits in its sync (workers/pool.ts).
import type { RegistryMirror } from './mirror.ts';
import type { Registry } from './registry.ts';
import type { TrafficSplit } from './split.ts';

export class Splits {
  readonly #registry: Registry;
  readonly #mirror: RegistryMirror | null;

  constructor(registry: Registry, mirror: RegistryMirror | null = null) {
    this.#registry = registry;
    this.#mirror = mirror;
  }

  /** Sets (or with null removes) the split of `service`. False if there is no such service. */
  set(service: string, split: TrafficSplit | null): boolean {
    const s = this.#registry.services.get(service);
    if (s === undefined) return false;
    s.split = split;
    this.#mirror?.split(service, split);
    return true;
  }

  get(service: string): TrafficSplit | null {
    return this.#registry.services.get(service)?.split ?? null;
  }
}
