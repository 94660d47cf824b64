// Live configuration: the config file read again (its folder watched, SIGHUP, POST /api/config/reload, `baton
// reload`), checked in full — schema, rules, middlewares and plugins, certificate files — before anything changes,
// then applied: the file provider's snapshot (services, middlewares; the registry reconciles, health checkers
// restart when their options change), the certificate store, the entrypoints' limits and client timeouts, the log
// level, deploy hooks. Worker threads get the same config first, in order with the snapshot that follows it. What
// needs a restart is reported and kept at its running value (config/reload-plan.ts). A reload that fails changes
// nothing: the error lists every problem.
import type { Logger } from 'pino';
import { loadConfig, type LoadedConfig } from './config/load.ts';
import { liveConfig, planReload, type ReloadPlan } from './config/reload-plan.ts';
import type { HookSettings } from './deploy/hooks.ts';
import { ConfigError } from './errors.ts';
import type { EventBus } from './events.ts';
import type { Factory } from './middleware/compile.ts';
import { middlewareTypes } from './middleware/setup.ts';
import { fileSnapshot } from './providers/file.ts';
import { CertificateStore } from './tls/store.ts';
import { FileWatcher } from './tls/watch.ts';
import type { TrafficPlane } from './traffic.ts';
import type { Registry } from './upstream/registry.ts';

export type ReloadTrigger = 'watch' | 'signal' | 'api';

export type ReloadResult = ReloadPlan;

/** The parts of a thread serving traffic that a reload changes (the main thread's, or a worker thread's). */
export interface PlaneParts {
  /** the registry's middleware types: a plugin the new file adds is added here */
  factories: Map<string, Factory>;
  certificates: CertificateStore;
  /** null: the worker threads serve traffic */
  traffic: TrafficPlane | null;
  /** the owned logger's level (null: a logger given by a test) */
  setLevel: ((level: string) => void) | null;
}

/** A new config, checked and ready to apply (nothing applied yet). */
export interface Staged {
  /** the config to go on with: the new file's live parts, the running values of what needs a restart */
  config: LoadedConfig;
  plan: ReloadPlan;
  factories: Map<string, Factory>;
  /** the certificate store of the new `tls`, when it changed (loaded, unwatched) */
  certificates: CertificateStore | null;
}

/** Checks `next` against the running `current` in full. Throws ConfigError with every problem. */
export async function stage(current: LoadedConfig, next: LoadedConfig, log: Logger): Promise<Staged> {
  const problems: string[] = [];
  const plan = planReload(current, next);
  const config = liveConfig(current, next);
  let factories = new Map<string, Factory>();
  try {
    factories = await middlewareTypes(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  let certificates: CertificateStore | null = null;
  if (plan.applied.includes('tls')) {
    try {
      certificates = CertificateStore.load({ tls: config.tls, log: log.child({ component: 'tls' }), watch: false });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config, plan, factories, certificates };
}

/** Applies what stage() checked to one thread's parts (the snapshot is the registry's, applied apart). */
export function applyStaged(parts: PlaneParts, s: Staged): void {
  for (const [type, f] of s.factories) if (!parts.factories.has(type)) parts.factories.set(type, f);
  if (s.certificates !== null) parts.certificates.adopt(s.certificates);
  for (const ep of parts.traffic?.entrypoints.values() ?? []) ep.retune(s.config.timeouts, s.config.limits);
  parts.setLevel?.(s.config.log.level);
}

/** The deploy hooks of whatever config is running now (a reload changes them for the deploys that start next). */
export function liveHooks(config: () => LoadedConfig, settingsOf: (c: LoadedConfig) => HookSettings): HookSettings {
  return {
    get global() {
      return settingsOf(config()).global;
    },
    service: (s) => settingsOf(config()).service?.(s),
    get baseDir() {
      return settingsOf(config()).baseDir;
    },
  };
}

/** The event published on /api/events for every reload (applied or refused). */
export interface ConfigEventRecord {
  type: 'config';
  trigger: ReloadTrigger;
  ok: boolean;
  applied: string[];
  restartRequired: string[];
  problems: string[];
  at: string;
}

/** What a reload needs from the App (the worker pool's side is one call). */
export interface ReloaderOptions {
  parts: PlaneParts;
  registry: Registry;
  /** sends the config to every worker thread (and to replacements), before the snapshot */
  workers: { reconfigure(config: LoadedConfig): void } | null;
  events: EventBus;
  log: Logger;
  env: NodeJS.ProcessEnv;
  current(): LoadedConfig;
  adopt(config: LoadedConfig): void;
}

export class ConfigReloader {
  readonly #o: ReloaderOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #watcher: FileWatcher | null = null;
  #closed = false;

  constructor(opts: ReloaderOptions) {
    this.#o = opts;
  }

  /** Reads the file again and applies it; one reload at a time, in the order asked. Throws ConfigError (the
   *  running configuration unchanged) with every problem. */
  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    const run = this.#queue.then(() => this.#run(trigger));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Watches the config file's folder while `watch` is on (editors replace the file by renaming over it). */
  watch(): void {
    const config = this.#o.current();
    const wanted = !this.#closed && config.watch && config.file !== null;
    if (!wanted) {
      this.#watcher?.close();
      this.#watcher = null;
    } else if (this.#watcher === null) {
      const log = this.#o.log;
      this.#watcher = new FileWatcher([config.file!], () => void this.reload('watch').catch(() => {}), log);
    }
  }

  /** folders watched (0 or 1) */
  get watching(): number {
    return this.#watcher?.watching ?? 0;
  }

  close(): void {
    this.#closed = true;
    this.watch();
  }

  async #run(trigger: ReloadTrigger): Promise<ReloadResult> {
    const log = this.#o.log;
    const current = this.#o.current();
    try {
      if (current.file === null) throw new ConfigError(['the configuration was not read from a file']);
      const staged = await stage(current, loadConfig(current.file, this.#o.env), log);
      const { applied, restartRequired } = staged.plan;
      if (applied.length > 0) this.#apply(current, staged);
      const fields = { trigger, applied, restartRequired };
      if (restartRequired.length > 0) log.warn(fields, 'Configuration reloaded; some changes need a restart');
      else log.info(fields, applied.length > 0 ? 'Configuration reloaded' : 'Configuration reloaded: no change');
      this.#publish(trigger, true, applied, restartRequired, []);
      return { applied, restartRequired };
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        log.error({ err, trigger }, 'Configuration reload failed; the running configuration stays');
        throw err;
      }
      for (const problem of err.problems) log.error({ problem, file: current.file }, 'Configuration problem');
      log.error({ trigger, problems: err.problems }, 'Configuration reload refused; the running configuration stays');
      this.#publish(trigger, false, [], [], err.problems);
      throw err;
    }
  }

  /** The snapshot first (the one step that can still refuse, undone then), then the rest, which cannot fail. */
  #apply(current: LoadedConfig, s: Staged): void {
    const { registry, workers, parts } = this.#o;
    const before = new Set(registry.problems());
    const previous = registry.snapshots().find(([p]) => p === 'file')?.[1];
    // worker threads take the config (new plugin types, certificates, limits) before the snapshot that uses it
    workers?.reconfigure(s.config);
    for (const [type, f] of s.factories) if (!parts.factories.has(type)) parts.factories.set(type, f);
    let refused: string[];
    try {
      registry.setSnapshot('file', fileSnapshot(s.config));
      refused = registry.problems().filter((p) => !before.has(p));
    } catch (err) {
      workers?.reconfigure(current);
      throw err;
    }
    if (refused.length > 0) {
      if (previous !== undefined) registry.setSnapshot('file', previous);
      workers?.reconfigure(current);
      throw new ConfigError(refused);
    }
    applyStaged(parts, s);
    this.#o.adopt(s.config);
    this.watch();
  }

  #publish(trigger: ReloadTrigger, ok: boolean, applied: string[], restart: string[], problems: string[]): void {
    const at = new Date().toISOString();
    const event: ConfigEventRecord = { type: 'config', trigger, ok, applied, restartRequired: restart, problems, at };
    this.#o.events.publish('config', event);
  }
}
