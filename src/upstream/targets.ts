// What a route leads to on one listener: its service and the middlewares it runs there — the entrypoint's own
// (`entrypoints.<e>.http.middlewares`, first) then the route's. A route whose middlewares cannot all be had (an
// unknown or invalid middleware, a chain that loops) is never routed without them, since a dropped auth or
// allow-list would expose the service: it answers 503 (route_refused), so that its requests do not fall through to
// a less specific route either (an /admin refused would otherwise reach the site's route, without its auth).
import { MAX_LINKS, type Link, type MiddlewareSet } from '../middleware/compile.ts';
import { FILE_PROVIDER } from '../middleware/definitions.ts';
import type { ListenerRoute } from './listeners.ts';
import type { Service } from './service.ts';

/** What a route table entry leads to. */
export interface Target {
  service: Service;
  /** the middlewares, in order ([] for none: the request takes the plain path) */
  links: readonly Link[];
}

/** A route as the registry builds it, before its middlewares are resolved. */
export interface RouteRef {
  service: Service;
  /** the route's middleware references */
  middlewares: readonly string[];
  /** the provider whose namespace the references are in */
  provider: string;
}

const NONE: readonly Link[] = Object.freeze([]);

/** The one middleware of a refused route: a 503 saying so, without internals. */
function refusedLink(): Link {
  const headers = {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-baton-error': 'route_refused',
  };
  const body = '503 Service Unavailable\nThis route is not served: its middlewares could not be set up.\n';
  return {
    name: 'route_refused',
    handler: { onRequest: (ctx) => ctx.respond(503, headers, body) },
    failures: 0,
    loggedAt: 0,
  };
}

/**
 * Resolves every listener's routes to targets. `entrypointMiddlewares`: each entrypoint's references (in the file
 * provider's namespace). Returns the routes per listener and the problems (one per refused route).
 */
export function resolveTargets(
  byListener: ReadonlyMap<string, ListenerRoute<RouteRef>[]>,
  entrypointOf: (listener: string) => string,
  entrypointMiddlewares: (entrypoint: string) => readonly string[],
  set: MiddlewareSet | null,
): { lists: Map<string, ListenerRoute<Target>[]>; problems: string[] } {
  const lists = new Map<string, ListenerRoute<Target>[]>();
  const problems: string[] = [];
  const cache = new Map<string, Target | string>();
  const refused = [refusedLink()];
  for (const [key, routes] of byListener) {
    const entrypoint = entrypointOf(key);
    const own = entrypointMiddlewares(entrypoint);
    const out: ListenerRoute<Target>[] = [];
    for (const route of routes) {
      const ref = route.service;
      let target: Target | string | undefined;
      if (own.length === 0 && ref.middlewares.length === 0) target = { service: ref.service, links: NONE };
      else if (set === null) target = 'middlewares are not available here';
      else {
        // the same route on the plain and TLS listeners of one entrypoint shares its instances
        const id = `${route.name}@${entrypoint}`;
        target = cache.get(id);
        if (target === undefined) {
          const a = set.chain(id, own, FILE_PROVIDER);
          const b = 'error' in a ? a : set.chain(id, ref.middlewares, ref.provider);
          target = 'error' in a ? a.error : 'error' in b ? b.error : { service: ref.service, links: [...a, ...b] };
          if (typeof target !== 'string' && target.links.length > MAX_LINKS) {
            target = `more than ${MAX_LINKS} middlewares (the entrypoint's and the route's, chains included)`;
          }
          cache.set(id, target);
          if (typeof target === 'string') problems.push(`route ${route.name} on entrypoint ${entrypoint}: ${target}`);
        }
      }
      out.push({ ...route, service: typeof target === 'string' ? { service: ref.service, links: refused } : target });
    }
    lists.set(key, out);
  }
  return { lists, problems };
}
