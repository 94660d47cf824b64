// The admin API's views of services and upstreams (GET /api/services, /api/upstreams/{id}, the events' hello).
import type { Registry } from '../upstream/registry.ts';
import { modeOf } from './service-modes.ts';

/** Every service: its route, options, mode, upstreams, and a weighted service's children or a canary's split. */
export function servicesView(registry: Registry, entrypoints: readonly string[]): unknown[] {
  const out: unknown[] = [];
  for (const s of registry.services.values()) {
    out.push({
      name: s.name,
      rule: s.options.rule,
      entrypoints: s.options.entrypoints ?? entrypoints,
      tls: s.options.tls !== undefined,
      middlewares: s.options.middlewares ?? [],
      loadBalancer: s.options.loadBalancer,
      ...modeOf(registry, s.name),
      upstreams: s.upstreams.map((u) => upstreamView(registry, u.id)),
      ...(s.options.weighted !== undefined ? { weighted: s.options.weighted } : {}),
      ...(s.split !== null ? { split: s.split } : {}), // a canary / version-sticky deploy's (deploy/canary.ts)
    });
  }
  return out;
}

/** One upstream: state, in-flight and counters, its container, its last health check error. */
export function upstreamView(registry: Registry, id: string): Record<string, unknown> | null {
  const u = registry.upstreams.get(id);
  if (u === undefined) return null;
  const svc = registry.serviceOf(u);
  const { url, state, inflight, requests, failures } = u;
  const out: Record<string, unknown> = { id: u.id, url, state, inflight, requests, failures };
  if (u.containerId !== undefined) out.containerId = u.containerId;
  const lastError = svc?.lastHealthError(u) ?? null;
  if (lastError !== null) out.lastHealthError = lastError;
  return out;
}
