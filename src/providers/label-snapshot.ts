// Label-routed views (Docker containers, Swarm tasks) → the provider's one whole snapshot: dockerSnapshot is the pure
// part; LabelPublisher reads every view's labels (routesForContainer, resolveMiddlewares), logs their problems when
// they change and hands the registry the snapshot when it differs from the last one.
import type { Logger } from 'pino';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HOLD_MAX_BYTES,
  DEFAULT_HOLD_MAX_REQUESTS,
  DEFAULT_HOLD_TIMEOUT_MS,
  DEFAULT_PASSIVE_COOLDOWN_MS,
  DEFAULT_PASSIVE_FAILURES,
  DEFAULT_RETRIES,
  DEFAULT_RETRY_BUDGET_MS,
  DEFAULT_UPSTREAM_MAX_CONNECTIONS,
} from '../config/defaults.ts';
import type { MiddlewareDef } from '../middleware/definitions.ts';
import type { DesiredService, Snapshot } from '../upstream/desired.ts';
import type { Registry } from '../upstream/registry.ts';
import { routesForContainer, type ContainerRoute, type ContainerView, type DockerProviderOptions } from './labels.ts';
import { resolveMiddlewares, type LabelProvider } from './middleware-labels.ts';

/** Health gate for Docker upstreams when labels set none: TCP connect, 2 passes at 500 ms. */
export const DOCKER_HEALTH_DEFAULTS = { interval: 500, timeout: 1000, rise: 2, fall: 2 } as const;

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
      hold: {
        maxRequests: first.hold?.maxRequests ?? DEFAULT_HOLD_MAX_REQUESTS,
        maxBytes: DEFAULT_HOLD_MAX_BYTES,
        timeout: first.hold?.timeout ?? DEFAULT_HOLD_TIMEOUT_MS,
        whenUnavailable: first.hold?.whenUnavailable ?? false,
      },
      maxConnectionsPerUpstream: DEFAULT_UPSTREAM_MAX_CONNECTIONS,
      entrypoints: first.entrypoints,
      tls: first.tls,
      ...(first.middlewares !== undefined && { middlewares: [...first.middlewares] }),
      ...(first.routes !== undefined && { routes: first.routes.map((route) => ({ ...route })) }),
      upstreams: list.map((r) => {
        const generation = r.container.labels['baton.generation']; // deploy/engine.ts GENERATION_LABEL
        const u = { id: `${name}@${r.container.name}`, url: r.url, containerId: r.container.id };
        return generation === undefined ? u : { ...u, generation };
      }),
    });
  }
  return Object.keys(middlewares).length > 0 ? { services, middlewares } : { services };
}

export interface LabelPublisherInit {
  provider: LabelProvider;
  options: DockerProviderOptions;
  registry: Pick<Registry, 'setSnapshot'>;
  log: Logger;
  /** what a problem is logged about: "Container" (the default: by container name) or "Swarm service" (by the
   *  task's service, so its replicas' one problem is one line) */
  subject?: 'Container' | 'Swarm service';
}

/** Publishes one provider's snapshot from the views of its routable containers or tasks. */
export class LabelPublisher {
  readonly #init: LabelPublisherInit;
  #lastProblems = new Map<string, string>();
  #last: string | null = null;

  constructor(init: LabelPublisherInit) {
    this.#init = init;
  }

  /** The views' routes → one snapshot, set on the registry unless it equals the last one set (`changed`: it was). */
  publish(views: readonly ContainerView[]): { changed: boolean; snapshot: Snapshot } {
    const { provider, options, log } = this.#init;
    const subject = this.#init.subject ?? 'Container';
    const key = subject === 'Container' ? 'container' : 'service';
    const subjectOf = new Map(views.map((v) => [v.name, subject === 'Container' ? v.name : (v.service ?? v.name)]));
    const each = views.map((view) => ({ container: view, ...routesForContainer(view, options) }));
    // the middlewares the routes use, against every view's definitions
    const { routes, problems: all, middlewares } = resolveMiddlewares(each, provider);
    const problems = new Map<string, string>();
    // errors win over notes when a container has both
    for (const p of all) {
      const about = subjectOf.get(p.container) ?? p.container;
      if (!problems.has(about) || problems.get(about)!.endsWith('(still routed)')) problems.set(about, p.message);
    }
    for (const [about, message] of problems) {
      if (this.#lastProblems.get(about) === message) continue;
      // notes end in "(still routed)"; anything else left the container out
      if (message.endsWith('(still routed)')) log.info({ [key]: about, note: message }, `${subject} label note`);
      else log.warn({ [key]: about, problem: message }, `${subject} labels ignored`);
    }
    this.#lastProblems = problems;
    const snapshot = dockerSnapshot(routes, middlewares);
    const json = JSON.stringify(snapshot);
    if (json === this.#last) return { changed: false, snapshot };
    try {
      this.#init.registry.setSnapshot(provider, snapshot);
      this.#last = json;
      return { changed: true, snapshot };
    } catch (err) {
      log.error({ err }, `${subject === 'Container' ? 'Docker' : 'Swarm'} snapshot rejected; routing unchanged`);
      return { changed: false, snapshot };
    }
  }
}
