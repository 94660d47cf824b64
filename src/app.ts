// The composition root: builds every component from a validated config, starts them in order, and closes
// them in the reverse order. Nothing here is a module-level singleton: tests run several Apps side by side.
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { AdminServer } from './admin/server.ts';
import { ensureToken } from './admin/token.ts';
import type { LoadedConfig } from './config/load.ts';
import { ConfigError } from './errors.ts';
import { createLogger } from './log.ts';
import { Deployer } from './deploy/deployer.ts';
import { DockerEngine } from './deploy/engine.ts';
import { hookSettingsOf } from './deploy/hooks.ts';
import { Journal } from './deploy/journal.ts';
import { Progress } from './deploy/progress.ts';
import { SwarmDeployer } from './deploy/swarm-deployer.ts';
import { SwarmPeers } from './deploy/swarm-peers.ts';
import { Deployments } from './admin/deployments.ts';
import { EventBus } from './events.ts';
import type { Redirection } from './proxy/redirect.ts';
import { createAcme, type AcmeResolvers } from './tls/acme.ts';
import { CertificateStore } from './tls/store.ts';
import { TlsTerminator } from './tls/terminator.ts';
import { DockerProvider } from './providers/docker.ts';
import { SwarmProvider } from './providers/swarm.ts';
import { fileSnapshot } from './providers/file.ts';
import { Entrypoint } from './proxy/entrypoint.ts';
import { Registry } from './upstream/registry.ts';
import { MiddlewareSet, type Factory } from './middleware/compile.ts';
import { middlewareTypes } from './middleware/setup.ts';

export interface AppOptions {
  /** a logger to use instead of one built from config.log (tests pass a silent or captured one) */
  log?: Logger;
}

/** What App.start works out before building the components (it needs I/O). */
interface Prepared {
  /** every middleware type: built-ins and the config's plugins */
  factories: ReadonlyMap<string, Factory>;
}

export class App {
  readonly config: LoadedConfig;
  readonly log: Logger;
  readonly registry: Registry;
  /** upstream state changes and deploy progress, for the admin API's event stream */
  readonly events = new EventBus();
  readonly entrypoints = new Map<string, Entrypoint>();
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
  #closeLog: () => void = () => {};

  private constructor(config: LoadedConfig, opts: AppOptions, prepared: Prepared) {
    this.config = config;
    let access: Logger;
    if (opts.log !== undefined) {
      this.log = opts.log;
      access = opts.log.child({ component: 'access' }, { level: 'info' });
    } else {
      const owned = createLogger(config.log.level);
      this.log = owned.log;
      access = owned.access;
      this.#closeLog = owned.close;
    }
    const t = ensureToken(config.admin.token, config.tokenFilePath);
    this.token = t.token;
    if (t.generated)
      this.log.info({ tokenFile: t.source }, 'Generated an admin token; the CLI reads it from this file');
    else if (t.source !== 'config') this.log.info({ tokenFile: t.source }, 'Using the admin token from its file');

    const registryLog = this.log.child({ component: 'registry' });
    const entrypoints = Object.fromEntries(
      Object.entries(config.entrypoints).map(([n, e]) => [n, { tls: e.http.tls, middlewares: e.http.middlewares }]),
    );
    const middlewares = new MiddlewareSet({
      factories: prepared.factories,
      log: this.log.child({ component: 'middleware' }),
      resolvePath: (p) => resolve(config.baseDir, p),
    });
    this.registry = new Registry({
      timeouts: config.timeouts,
      log: registryLog,
      events: this.events,
      entrypoints,
      middlewares,
    });
    this.certificates = CertificateStore.load({ tls: config.tls, log: this.log.child({ component: 'tls' }) });
    try {
      const acmeLog = this.log.child({ component: 'acme' });
      this.acme = createAcme({
        certificatesResolvers: config.certificatesResolvers,
        store: this.certificates,
        log: acmeLog,
      });
    } catch (err) {
      this.certificates.close(); // its file watcher
      throw err;
    }
    const terminator = new TlsTerminator({
      certificates: this.certificates,
      challenges: this.acme?.tlsChallenges ?? null,
      timeoutMs: config.timeouts.header,
      h2: true,
      optionsFor: (serverName) => (serverName === null ? undefined : this.registry.tlsOptionsFor(serverName)),
    });
    // The access log is on or off by itself, whatever log.level says (its lines are info records).
    const accessLog = config.log.accessLog ? access : null;
    for (const [name, ep] of Object.entries(config.entrypoints)) {
      this.entrypoints.set(
        name,
        new Entrypoint({
          name,
          config: ep,
          timeouts: config.timeouts,
          limits: config.limits,
          registry: this.registry,
          log: this.log.child({ component: 'entrypoint', entrypoint: name }),
          accessLog,
          terminator,
          redirect: this.#redirection(name),
          httpChallenges: this.acme?.httpChallengesFor(name) ?? null,
        }),
      );
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
        hooks: hookSettingsOf(config),
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
      entrypoints: () => this.entrypoints.values(),
      certificates: this.acme?.certificateList() ?? this.certificates,
      log: this.log.child({ component: 'admin' }),
    });
  }

  /** An entrypoint's `http.redirections.entryPoint`, its port read from the target when a request comes (a port
   *  0 in the config is known once listening). */
  #redirection(name: string): Redirection | null {
    const r = this.config.entrypoints[name].http.redirections?.entryPoint;
    if (r === undefined) return null;
    const fixed = /^:(\d+)$/.exec(r.to);
    const entrypoints = this.entrypoints;
    return {
      scheme: r.scheme,
      permanent: r.permanent,
      get port(): number {
        return fixed !== null ? Number(fixed[1]) : entrypoints.get(r.to)!.address().port;
      },
    };
  }

  /** Builds and starts baton. On any failure, whatever started is closed again and the error is thrown. */
  static async start(config: LoadedConfig, opts: AppOptions = {}): Promise<App> {
    const factories = await middlewareTypes(config); // plugins imported; the file's middlewares checked
    const app = new App(config, opts, { factories });
    try {
      app.registry.setSnapshot('file', fileSnapshot(config));
      // a file route refused for its middlewares (e.g. a usersFile that cannot be read) is a config problem
      const refused = app.registry.problems();
      if (refused.length > 0) throw new ConfigError(refused);
      app.docker?.start();
      app.swarm?.start();
      const admin = await app.admin.listen();
      app.log.info({ address: `${admin.address}:${admin.port}` }, 'Admin API listening');
      for (const [name, ep] of app.entrypoints) {
        const a = await ep.listen();
        app.log.info({ entrypoint: name, address: `${a.address}:${a.port}` }, 'Entrypoint listening');
      }
      // certificates are ordered once the challenge entrypoints answer, and again whenever the routes change
      app.acme?.follow(app.registry);
    } catch (err) {
      await app.close(0);
      throw err;
    }
    return app;
  }

  entrypointAddress(name = 'web'): AddressInfo {
    const ep = this.entrypoints.get(name);
    if (ep === undefined) throw new Error(`no entrypoint ${name}`);
    return ep.address();
  }

  adminAddress(): AddressInfo {
    return this.admin.address();
  }

  /** Graceful stop: entrypoints stop accepting and finish in-flight requests (bounded), then the rest closes. */
  close(timeoutMs = this.config.timeouts.shutdown): Promise<void> {
    this.#closing ??= (async () => {
      await this.acme?.close();
      await Promise.allSettled([...this.entrypoints.values()].map((e) => e.close(timeoutMs)));
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
