// Immutable, host-indexed route table. Routers never mutate a table: they build a new one and swap it in.

import { ConfigError } from '../errors.ts';
import { parseRule, type Matcher, type RequestView } from './rule.ts';

export interface Route<S> {
  name: string;
  rule: string;
  /** Explicit priority (any finite number, 0 included); defaults to the rule's length like Traefik. */
  priority?: number;
  service: S;
}

interface Compiled<S> {
  route: Route<S>;
  matcher: Matcher;
  priority: number;
}

const byPriority = (a: Compiled<unknown>, b: Compiled<unknown>): number =>
  b.priority - a.priority || (a.route.name < b.route.name ? -1 : a.route.name > b.route.name ? 1 : 0);

export class RouteTable<S> {
  /** Number of routes in the table (including any whose Host() constraints can never be satisfied). */
  readonly size: number;
  /** Per known host: routes indexed on that host plus host-agnostic routes, highest priority first. */
  readonly #byHost: Map<string, Compiled<S>[]>;
  /** Host-agnostic routes, highest priority first: what an unknown host is matched against. */
  readonly #anyHost: Compiled<S>[];

  private constructor(size: number, byHost: Map<string, Compiled<S>[]>, anyHost: Compiled<S>[]) {
    this.size = size;
    this.#byHost = byHost;
    this.#anyHost = anyHost;
    Object.freeze(this);
  }

  /**
   * Parses every rule. All problems (bad rules, bad priorities, duplicate names) are collected and thrown as one
   * ConfigError, one problem per line, e.g. `routes.web.rule: unknown matcher 'Hots' (...) at position 0`.
   */
  static build<S>(routes: Route<S>[]): RouteTable<S> {
    const problems: string[] = [];
    const seen = new Set<string>();
    const anyHost: Compiled<S>[] = [];
    const indexed: { c: Compiled<S>; hosts: string[] }[] = [];

    for (const route of routes) {
      const at = `routes.${route.name}`;
      if (seen.has(route.name)) problems.push(`${at}: duplicate route name`);
      seen.add(route.name);
      if (route.priority !== undefined && !Number.isFinite(route.priority)) {
        problems.push(`${at}.priority: must be a finite number`);
      }
      let parsed;
      try {
        parsed = parseRule(route.rule);
      } catch (err) {
        problems.push(`${at}.rule: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const c: Compiled<S> = { route, matcher: parsed.matcher, priority: route.priority ?? parsed.priority };
      if (parsed.hosts === null) anyHost.push(c);
      else if (parsed.hosts.length > 0) indexed.push({ c, hosts: parsed.hosts });
      // hosts === []: contradictory Host() constraints, can never match; counted but not indexed.
    }
    if (problems.length > 0) throw new ConfigError(problems);

    anyHost.sort(byPriority);
    const byHost = new Map<string, Compiled<S>[]>();
    for (const { c, hosts } of indexed) {
      for (const h of hosts) {
        let list = byHost.get(h);
        if (!list) byHost.set(h, (list = []));
        list.push(c);
      }
    }
    for (const [h, list] of byHost) {
      list.push(...anyHost);
      list.sort(byPriority);
      byHost.set(h, list);
    }
    return new RouteTable(routes.length, byHost, anyHost);
  }

  /** The highest-priority route whose rule matches, or undefined. */
  matchRoute(r: RequestView): Route<S> | undefined {
    const list = this.#byHost.get(r.host) ?? this.#anyHost;
    for (let i = 0; i < list.length; i++) {
      if (list[i].matcher(r)) return list[i].route;
    }
    return undefined;
  }

  /** The service of the highest-priority matching route, or undefined. */
  match(r: RequestView): S | undefined {
    return this.matchRoute(r)?.service;
  }
}
