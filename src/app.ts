// The composition root: builds every component from a validated config, starts them in order, and closes
// them in the reverse order. Nothing here is a module-level singleton: tests run several Apps side by side.
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AdminServer } from './admin/server.ts';
import { ensureToken } from './admin/token.ts';
import type { LoadedConfig } from './config/load.ts';
import { ConfigError } from './errors.ts';
import { createAccessLog, createLogger, streamOf, type OwnedAccessLog } from './log.ts';
import type { LineSink } from './proxy/access-log.ts';
import { Deployer } from './deploy/deployer.ts';
import { DockerEngine } from './deploy/engine.ts';
import { hookSettingsOf } from './deploy/hooks.ts';
import { ConfigReloader, liveHooks, type ReloadResult, type ReloadTrigger } from './reload.ts';
import { Journal } from './deploy/journal.ts';
import { Progress } from './deploy/progress.ts';
import { SwarmDeployer } from './deploy/swarm-deployer.ts';
import { SwarmPeers } from './deploy/swarm-peers.ts';
import { Deployments } from './admin/deployments.ts';
import { EventBus } from './events.ts';
import type { AcmeResolvers, createAcme } from './tls/acme.ts';
import { CertificateStore } from './tls/store.ts';
import { DockerProvider } from './providers/docker.ts';
import { SwarmProvider } from './providers/swarm.ts';
import { fileSnapshot } from './providers/file.ts';
import type { Entrypoint } from './proxy/entrypoint.ts';
import type { Registry } from './upstream/registry.ts';
import { Splits } from './upstream/splits.ts';
import type { Factory } from './middleware/compile.ts';
import { middlewareTypes } from './middleware/setup.ts';
import { registryFor, terminatorFor, TrafficPlane, type TrafficStats } from './traffic.ts';
import { TallyBoard } from './upstream/tally.ts';
import { WorkerPool } from './workers/pool.ts';
import { SharedTallies } from './workers/tallies.ts';
import type { Listeners, UpgradeControl } from './upgrade.ts';

export interface AppOptions {
  /** a logger to use instead of one built from config.log (tests pass a silent or captured one) */
  log?: Logger;
  /** listening sockets a previous baton handed down (`baton upgrade`): taken over instead of binding */
  inherited?: Listeners | null;
  /** `baton upgrade`, for the admin API (`baton serve` makes it) */
  upgrade?: UpgradeControl | null;
}

/** What App.start works out before building the components (it needs I/O). */
interface Prepared {
  /** every middleware type: built-ins and the config's plugins */
  factories: Map<string, Factory>;
  /** the ACME client, imported only when the config has certificatesResolvers (it weighs ~35 MB of memory) */
  createAcme: typeof createAcme | null;
}

export class App {
  #config: LoadedConfig;
  readonly log: Logger;
  readonly registry: Registry;
  /** upstream state changes and deploy progress, for the admin API's event stream */
  readonly events = new EventBus();
  /** the entrypoints, when this thread serves traffic (no workers) */
  readonly traffic: TrafficPlane | null = null;
  /** the worker threads serving traffic (`workers` above 1) */
  readonly workers: WorkerPool | null = null;
  /** every certificate baton serves: files, the default, and ACME's */
  readonly certificates: CertificateStore;
  /** the ACME resolvers (certificatesResolvers), when there are any */
  readonly acme: AcmeResolvers | null;
  readonly admin: AdminServer;
  readonly token: string;
  /** the Docker provider and the deployer, when providers.docker.enabled */
  readonly docker: DockerProvider | null = null;
  readonly deployer: Deployer | null = null;
  /** the Swarm provider and the Swarm deployer, when providers.swarm.enabled */
  readonly swarm: SwarmProvider | null = null;
  readonly swarmDeployer: SwarmDeployer | null = null;
  #closing: Promise<void> | null = null;
  readonly #startedAt = new Date().toISOString();
  readonly #closeLog: () => void;
  readonly #accessLog: OwnedAccessLog | null;
  /** reloads of the config file (watch, SIGHUP, the admin API) */
  readonly reloader: ConfigReloader;

  private constructor(config: LoadedConfig, opts: AppOptions, prepared: Prepared) {
    this.#config = config;
    let setLevel: ((level: string) => void) | null = null;
    const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
    let lines: LineSink;
    let closeLog = () => {};
    if (opts.log !== undefined) {
      this.log = opts.log;
      lines = streamOf(opts.log);
    } else {
      const owned = createLogger(config.log.level, undefined, workers > 1); // worker threads share stdout
      this.log = owned.log;
      lines = owned.lines;
      closeLog = owned.close;
      setLevel = owned.setLevel;
    }
    const t = ensureToken(config.admin.token, config.tokenFilePath);
    this.token = t.token;
    if (t.generated)
      this.log.info({ tokenFile: t.source }, 'Generated an admin token; the CLI reads it from this file');
    else if (t.source !== 'config') this.log.info({ tokenFile: t.source }, 'Using the admin token from its file');
    // the access log, when this thread serves traffic (worker threads make their own)
    const access = workers > 1 ? null : createAccessLog(config.log, lines, this.log);
    this.#accessLog = access;
    this.#closeLog = () => {
      access?.close();
      closeLog();
    };

    let tallies: SharedTallies | undefined;
    let board: TallyBoard | undefined;
    if (workers > 1) {
      board = new TallyBoard({ writers: workers + 1 });
      tallies = new SharedTallies(board, () => this.workers?.live() ?? []);
    }
    this.registry = registryFor(config, { factories: prepared.factories, log: this.log, events: this.events, tallies });
    this.certificates = CertificateStore.load({ tls: config.tls, log: this.log.child({ component: 'tls' }) });
    if (board !== undefined && tallies !== undefined) {
      const log = this.log.child({ component: 'workers' });
      const inherited = new Map(opts.inherited?.entrypoints.map((fds, i) => [i + 1, fds]));
      const registry = this.registry;
      this.workers = new WorkerPool({ config, count: workers, registry, board, tallies, inherited, log });
      this.registry.setMirror(this.workers);
      const pool = this.workers;
      this.certificates.observe((c) => pool.certificate(c)); // before ACME reads its stored certificates
    }
    try {
      const acmeLog = this.log.child({ component: 'acme' });
      this.acme =
        prepared.createAcme?.({
          certificatesResolvers: config.certificatesResolvers,
          store: this.certificates,
          log: acmeLog,
        }) ?? null;
    } catch (err) {
      this.certificates.close(); // its file watcher
      access?.close(); // its file, when it has one
      throw err;
    }
    if (this.workers !== null) {
      const pool = this.workers;
      this.acme?.observeChallenges((c) => pool.challenge(c));
    } else {
      this.traffic = new TrafficPlane({
        config,
        registry: this.registry,
        terminator: terminatorFor(config, this.registry, this.certificates, this.acme?.tlsChallenges ?? null),
        httpChallengesFor: (name) => this.acme?.httpChallengesFor(name) ?? null,
        log: this.log,
        accessLog: access?.access ?? null,
      });
    }
    const labelNames = {
      // labels naming an entrypoint or a resolver the config does not have leave the container unrouted
      entrypoints: Object.keys(config.entrypoints),
      certResolvers: Object.keys(config.certificatesResolvers),
      // labels' middlewares are checked with the types the registry makes them with; `@file` ones must exist
      middlewareFactories: prepared.factories,
      fileMiddlewares: [...Object.keys(config.middlewares), ...Object.keys(config.plugins)],
    };
    const dockerConfig = config.providers.docker;
    if (dockerConfig.enabled) {
      const options = {
        exposedByDefault: dockerConfig.exposedByDefault,
        network: dockerConfig.network,
        publishedPorts: dockerConfig.publishedPorts,
        ...labelNames,
      };
      let recovered = false;
      this.docker = new DockerProvider({
        endpoint: dockerConfig.endpoint,
        options,
        registry: this.registry,
        log: this.log.child({ component: 'docker' }),
        // Deploys a previous baton left unfinished are rolled back once the engine has been listed, in the
        // background: an unreachable engine never holds up the static routes.
        onConnect: () => {
          if (recovered || this.deployer === null) return;
          recovered = true;
          this.deployer.recover().catch((err) => this.log.error({ err }, 'Deploy recovery failed'));
        },
      });
      this.deployer = new Deployer({
        engine: new DockerEngine({ docker: this.docker.docker, provider: this.docker, providerOptions: options }),
        registry: this.registry,
        journal: new Journal(config.stateDirPath),
        hooks: liveHooks(() => this.config, hookSettingsOf),
        splits: new Splits(this.registry, this.workers),
        events: this.events,
        log: this.log.child({ component: 'deployer' }),
      });
    }
    const swarmConfig = config.providers.swarm;
    if (swarmConfig.enabled) {
      const { exposedByDefault, network } = swarmConfig;
      this.swarm = new SwarmProvider({
        endpoint: swarmConfig.endpoint,
        options: { exposedByDefault, network, ...labelNames },
        refreshMs: swarmConfig.refreshSeconds * 1000,
        registry: this.registry,
        // a task Swarm replaces leaves early only while another task of its service has passed the health gate
        ready: (taskId) => this.registry.upstreamOfContainer(taskId)?.state === 'healthy',
        log: this.log.child({ component: 'swarm' }),
      });
      const swarmLog = this.log.child({ component: 'swarm-deployer' });
      const journal = new Journal(join(config.stateDirPath, 'swarm'));
      const peers = new SwarmPeers({
        docker: this.swarm.docker,
        adminPort: () => this.admin.address().port,
        token: this.token,
        log: swarmLog,
      });
      this.swarmDeployer = new SwarmDeployer({
        docker: this.swarm.docker,
        peers,
        registry: this.registry,
        journal,
        progress: new Progress(journal, this.events, swarmLog),
        log: swarmLog,
      });
    }
    this.admin = new AdminServer({
      address: config.admin.address,
      token: this.token,
      registry: this.registry,
      events: this.events,
      deployments: new Deployments(this.deployer, this.swarmDeployer),
      traffic: () => this.trafficStats(),
      workers: () => this.#workerList(),
      certificates: this.acme?.certificateList() ?? this.certificates,
      entrypoints: Object.keys(config.entrypoints),
      metrics: config.metrics,
      reload: () => this.reload('api'),
      upgrade: opts.upgrade ?? null,
      log: this.log.child({ component: 'admin' }),
    });
    this.reloader = new ConfigReloader({
      parts: { factories: prepared.factories, certificates: this.certificates, traffic: this.traffic, setLevel },
      registry: this.registry,
      workers: this.workers,
      events: this.events,
      log: this.log.child({ component: 'config' }),
      env: process.env,
      current: () => this.#config,
      adopt: (c) => {
        this.#config = c;
        // the file's middleware names the providers' labels may name `@file` (read at a container's next event)
        labelNames.fileMiddlewares.splice(0, Infinity, ...Object.keys(c.middlewares), ...Object.keys(c.plugins));
      },
    });
  }

  /** The configuration running now (a reload replaces it with the new file's live parts). */
  get config(): LoadedConfig {
    return this.#config;
  }

  /** Reads the config file again and applies what can change live (reload.ts). Throws ConfigError, changing
   *  nothing, when the new file has problems. */
  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    return this.reloader.reload(trigger);
  }

  /** The entrypoints this thread serves (none with workers: they are the worker threads'). */
  get entrypoints(): ReadonlyMap<string, Entrypoint> {
    return this.traffic?.entrypoints ?? new Map();
  }

  /** The traffic counters: this thread's, or summed over the worker threads. */
  trafficStats(): Promise<TrafficStats> {
    return this.workers?.stats() ?? Promise.resolve(this.traffic!.stats());
  }

  /** Each event loop serving traffic: the worker threads, or this one (worker 0). */
  async #workerList(): Promise<unknown[]> {
    const started = this.#startedAt;
    const all = (await this.workers?.statsByWorker()) ?? [
      { worker: 0, since: started, restarts: 0, stats: this.traffic!.stats() },
    ];
    return all.map(({ stats, ...w }) => {
      const eps = Object.values(stats.entrypoints);
      const services = Object.values(stats.services);
      return {
        ...w,
        connections: eps.reduce((n, e) => n + e.connections, 0),
        requests: services.reduce((n, s) => n + s.responses.reduce((a, b) => a + b, 0), 0),
      };
    });
  }

  /** Reopens the access log file at its path (SIGUSR1, once logrotate moved it), here or in every worker thread. */
  reopenLogs(): void {
    if (!this.config.log.accessLog || this.config.log.accessLogFile === undefined) {
      this.log.info('No access log file to reopen: the access log goes to stdout');
      return;
    }
    this.#accessLog?.reopen();
    this.workers?.reopenLogs();
  }

  /** Re-reads the certificate and key files (SIGHUP), here and in every worker thread. */
  reloadCertificates(): void {
    this.certificates.reload();
    this.workers?.reloadCertificates();
  }

  /** Builds and starts baton. On any failure, whatever started is closed again and the error is thrown. */
  static async start(config: LoadedConfig, opts: AppOptions = {}): Promise<App> {
    const inherited = opts.inherited ?? null;
    const factories = await middlewareTypes(config); // plugins imported; the file's middlewares checked
    const acme = Object.keys(config.certificatesResolvers).length > 0 ? await import('./tls/acme.ts') : null;
    const app = new App(config, opts, { factories, createAcme: acme?.createAcme ?? null });
    try {
      app.registry.setSnapshot('file', fileSnapshot(config));
      // a file route refused for its middlewares (e.g. a usersFile that cannot be read) is a config problem
      const refused = app.registry.problems();
      if (refused.length > 0) throw new ConfigError(refused);
      app.docker?.start();
      app.swarm?.start();
      await app.workers?.start(); // the worker threads listen before the admin API answers /healthz
      const admin = await app.admin.listen(inherited?.admin ?? undefined);
      app.log.info({ address: `${admin.address}:${admin.port}` }, 'Admin API listening');
      const fds = inherited?.entrypoints[0];
      const addresses = app.workers?.addresses() ?? (await app.traffic!.listen({ fds }));
      for (const [name, a] of Object.entries(addresses)) {
        const workers = app.workers?.count;
        app.log.info({ entrypoint: name, address: `${a.address}:${a.port}`, workers }, 'Entrypoint listening');
      }
      // certificates are ordered once the challenge entrypoints answer, and again whenever the routes change
      app.acme?.follow(app.registry);
      app.reloader.watch();
    } catch (err) {
      await app.close(0);
      throw err;
    }
    return app;
  }

  entrypointAddress(name = 'web'): AddressInfo {
    const a = this.workers?.addresses()[name] ?? this.traffic?.entrypoints.get(name)?.address();
    if (a === undefined) throw new Error(`no entrypoint ${name}`);
    return a;
  }

  adminAddress(): AddressInfo {
    return this.admin.address();
  }

  /** The listening sockets' file descriptors, for the next baton (`baton upgrade`). */
  listeners(): Listeners {
    const workers = this.workers?.fds();
    const entrypoints =
      workers === undefined
        ? [this.traffic!.fds()]
        : [...workers.keys()].sort((a, b) => a - b).map((w) => workers.get(w)!);
    return { admin: this.admin.fd(), entrypoints };
  }

  /** Graceful stop: entrypoints stop accepting and finish in-flight requests (bounded), then the rest closes.
   *  `handOver` (`baton upgrade`: the next baton accepts now): kept-alive connections end by themselves first. */
  close(timeoutMs = this.config.timeouts.shutdown, opts: { handOver?: boolean } = {}): Promise<void> {
    // an idle connection closes after timeouts.idle; a second more lets the last ones go
    const lingerMs = opts.handOver ? this.config.timeouts.idle + 1000 : 0;
    this.#closing ??= (async () => {
      this.reloader.close();
      await this.acme?.close();
      await this.traffic?.close(timeoutMs, lingerMs);
      await this.workers?.close(timeoutMs, lingerMs);
      await this.deployer?.close();
      await this.swarmDeployer?.close();
      this.docker?.close();
      this.swarm?.close();
      await this.admin.close().catch(() => {});
      await this.registry.close();
      this.certificates.close();
      this.log.info('Stopped');
      this.#closeLog();
    })();
    return this.#closing;
  }
}
