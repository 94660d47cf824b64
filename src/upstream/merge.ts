// Merging the providers' snapshots into one desired state, pure: services by name (the first provider that
// defines one keeps its options; upstreams are merged), middlewares qualified by provider (`name@provider`).
import type { MiddlewareDef } from '../middleware/definitions.ts';
import type { DesiredService, Snapshot } from './desired.ts';

/** Every provider's middlewares, by qualified name (`name@provider`). */
export function middlewareDefinitions(snapshots: ReadonlyMap<string, Snapshot>): Map<string, MiddlewareDef> {
  const defs = new Map<string, MiddlewareDef>();
  for (const [provider, snap] of snapshots) {
    for (const [name, def] of Object.entries(snap.middlewares ?? {})) defs.set(`${name}@${provider}`, def);
  }
  return defs;
}

/** The merged services; `providers` gets each service's (first) provider, `duplicate` is told of the others. */
export function mergeServices(
  snapshots: ReadonlyMap<string, Snapshot>,
  providers: Map<string, string>,
  duplicate: (service: string, provider: string) => void,
): Map<string, DesiredService> {
  const merged = new Map<string, DesiredService>();
  for (const [provider, snap] of snapshots) {
    for (const s of snap.services) {
      if (!providers.has(s.name)) providers.set(s.name, provider);
      const seen = merged.get(s.name);
      if (seen !== undefined) {
        duplicate(s.name, provider);
        const ids = new Set(seen.upstreams.map((u) => u.id));
        merged.set(s.name, { ...seen, upstreams: [...seen.upstreams, ...s.upstreams.filter((u) => !ids.has(u.id))] });
      } else {
        merged.set(s.name, s);
      }
    }
  }
  return merged;
}

/** Upstream ids that two services claim (each must belong to one). */
export function upstreamConflicts(services: Iterable<DesiredService>): string[] {
  const conflicts: string[] = [];
  const ownerOf = new Map<string, string>();
  for (const d of services) {
    for (const u of d.upstreams) {
      const other = ownerOf.get(u.id);
      if (other !== undefined) conflicts.push(`upstream id ${u.id} used by services ${other} and ${d.name}`);
      ownerOf.set(u.id, d.name);
    }
  }
  return conflicts;
}
