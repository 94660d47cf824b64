// What a config reload changes (pure): the running config against the new file's, key by key. Each change is either
// applied live or needs a restart. Live: services (routes, upstreams, health checks, options), the file's middlewares
// and plugins' options (a new plugin too), TLS certificates / options / stores, deploy hooks, limits.maxBodySize,
// the client timeouts (header, request, idle, socket, shutdown), log.level and `watch`. Restart: what a listener,
// a worker thread or a provider was built with — entrypoints (addresses, added/removed, http, forwardedHeaders,
// http2), admin, workers, stateDir, providers, certificatesResolvers, metrics, the access log, limits.maxHeaderSize
// and maxConnections, the upstream timeouts (each upstream's pool is built with them) and a plugin's module.
import type { LoadedConfig } from './load.ts';

export interface ReloadPlan {
  /** the config paths whose change is applied live, e.g. "services.app", "limits.maxBodySize" */
  applied: string[];
  /** the config paths that changed but only take effect after a restart (the running value is kept) */
  restartRequired: string[];
}

/** Timeouts read live by the entrypoints' servers (and the shutdown); the others are the upstream pools'. */
const LIVE_TIMEOUTS = new Set(['header', 'request', 'idle', 'socket', 'shutdown']);
const LIVE_LIMITS = new Set(['maxBodySize']);
/** top-level keys changed live as a whole */
const LIVE_WHOLE = ['tls', 'deploy', 'watch'] as const;
/** top-level keys a change of which needs a restart, compared one level down (entrypoints.web, providers.docker) */
const RESTART_BY_ENTRY = ['entrypoints', 'admin', 'providers', 'certificatesResolvers', 'metrics'] as const;
/** (stateDir's resolved paths follow it; admin.tokenFile is one of admin's entries) */
const RESTART_WHOLE = ['workers', 'stateDir'] as const;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The keys of two records whose values differ (added and removed ones too), sorted. */
function changedKeys(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !same(a[k], b[k])).sort();
}

/** Compares the running config with the new one. Equal configs give two empty lists. */
export function planReload(current: LoadedConfig, next: LoadedConfig): ReloadPlan {
  const applied: string[] = [];
  const restartRequired: string[] = [];
  const under = (prefix: string, keys: string[], to: string[]) => to.push(...keys.map((k) => `${prefix}.${k}`));

  under('services', changedKeys(current.services, next.services), applied);
  under('middlewares', changedKeys(current.middlewares, next.middlewares), applied);
  for (const name of changedKeys(current.plugins, next.plugins)) {
    const a = current.plugins[name];
    const b = next.plugins[name];
    // a module is imported once (ESM caches it): another module under the same name needs a restart
    if (a !== undefined && b !== undefined && a.module !== b.module) restartRequired.push(`plugins.${name}.module`);
    if (a === undefined || b === undefined || !same(a.options, b.options)) applied.push(`plugins.${name}`);
  }
  for (const key of LIVE_WHOLE) if (!same(current[key], next[key])) applied.push(key);
  for (const key of changedKeys(current.timeouts, next.timeouts))
    (LIVE_TIMEOUTS.has(key) ? applied : restartRequired).push(`timeouts.${key}`);
  for (const key of changedKeys(current.limits, next.limits))
    (LIVE_LIMITS.has(key) ? applied : restartRequired).push(`limits.${key}`);
  for (const key of changedKeys(current.log, next.log))
    (key === 'level' ? applied : restartRequired).push(`log.${key}`);
  for (const key of RESTART_BY_ENTRY) {
    const a = current[key] as Record<string, unknown>;
    const b = next[key] as Record<string, unknown>;
    under(key, changedKeys(a, b), restartRequired);
  }
  for (const key of RESTART_WHOLE) if (!same(current[key], next[key])) restartRequired.push(key);
  return { applied, restartRequired };
}

/**
 * The config the running baton goes on with: the new file's live parts, the running values of what needs a
 * restart (so the next reload reports them again, until a restart takes them).
 */
export function liveConfig(current: LoadedConfig, next: LoadedConfig): LoadedConfig {
  const plugins: LoadedConfig['plugins'] = {};
  for (const [name, p] of Object.entries(next.plugins))
    plugins[name] = { ...p, module: current.plugins[name]?.module ?? p.module };
  const pick = <T extends Record<string, unknown>>(a: T, b: T, live: Set<string>): T => {
    const out = { ...a };
    for (const k of live) (out as Record<string, unknown>)[k] = b[k];
    return out;
  };
  return {
    ...next,
    plugins,
    timeouts: pick(current.timeouts, next.timeouts, LIVE_TIMEOUTS),
    limits: pick(current.limits, next.limits, LIVE_LIMITS),
    log: { ...current.log, level: next.log.level },
    entrypoints: current.entrypoints,
    admin: current.admin,
    providers: current.providers,
    certificatesResolvers: current.certificatesResolvers,
    metrics: current.metrics,
    workers: current.workers,
    stateDir: current.stateDir,
    stateDirPath: current.stateDirPath,
    tokenFilePath: current.tokenFilePath,
  };
}
