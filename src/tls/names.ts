// The SNI lookup, run per handshake: two Map reads. Exact names first, then wildcard parents (`*.example.com` is
// kept under `example.com` and covers one label only, never the apex). When two items cover a name, the one that
// expires later wins (a renewed certificate takes over from the old one as soon as it is added); on a tie the one
// given first. An exact name always beats a wildcard.

export interface Named {
  /** lower-case DNS names, maybe `*.parent` */
  domains: readonly string[];
  /** ms since the epoch */
  expires: number;
}

export class NameIndex<T extends Named> {
  readonly #exact = new Map<string, T>();
  readonly #wildcard = new Map<string, T>();

  constructor(items: Iterable<T>) {
    for (const item of items) {
      for (const d of item.domains) {
        if (d.startsWith('*.')) this.#add(this.#wildcard, d.slice(2), item);
        else this.#add(this.#exact, d, item);
      }
    }
  }

  /** `host` normalized (lower-case, no trailing dot) */
  match(host: string): T | undefined {
    const e = this.#exact.get(host);
    if (e !== undefined) return e;
    const dot = host.indexOf('.');
    return dot > 0 ? this.#wildcard.get(host.slice(dot + 1)) : undefined;
  }

  #add(map: Map<string, T>, key: string, item: T): void {
    const cur = map.get(key);
    if (cur === undefined || item.expires > cur.expires) map.set(key, item);
  }
}
