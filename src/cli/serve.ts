// `baton serve`: loads the config (every problem printed, exit 2, nothing listens), starts the App, and stops it
// gracefully on SIGTERM/SIGINT (exit 0 once the requests in flight are done). SIGHUP reloads the config file
// (src/reload.ts) and the certificate and key files (Node's default for SIGHUP would be to exit); SIGUSR1 reopens
// the access log file (logrotate's `postrotate`; with the listener installed Node no longer starts its inspector).
// SIGUSR2 (or `baton upgrade`) starts the next baton on these listeners and steps down once it is ready
// (src/upgrade.ts); a baton started that way takes the listeners over and reports to the old one whether it started.
import { App } from '../app.ts';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { ConfigError, ConflictError } from '../errors.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import { problemLines } from './output.ts';
import { inheritedListeners, removePidFile, reportFailure, reportReady, Upgrader, writePidFile } from '../upgrade.ts';
import type { Listeners } from '../upgrade.ts';

export async function serve(configPath: string, io: Io, opts: { pidFile?: string } = {}): Promise<number> {
  let inherited: Listeners | null;
  try {
    inherited = inheritedListeners(io.env);
  } catch (err) {
    return failed(io, `baton: cannot start: ${(err as Error).message}\n`, EXIT_FAILURE);
  }
  let config: LoadedConfig;
  try {
    config = loadConfig(configPath, io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      return failed(io, `baton: ${configPath}: invalid configuration\n${problemLines(err.problems)}`, EXIT_USAGE);
    }
    reportFailure((err as Error).message);
    throw err;
  }
  let app: App;
  let stop: (signal: NodeJS.Signals | 'upgrade') => void = () => {};
  const upgrader = new Upgrader({ retire: () => stop('upgrade'), env: withoutListeners(io.env) });
  try {
    app = await App.start(config, { inherited, upgrade: upgrader });
  } catch (err) {
    if (err instanceof ConfigError) {
      // files the config names (certificates, keys) that cannot be loaded
      return failed(io, `baton: ${configPath}: invalid configuration\n${problemLines(err.problems)}`, EXIT_USAGE);
    }
    return failed(io, `baton: cannot start: ${startFailure(err as NodeJS.ErrnoException)}\n`, EXIT_FAILURE);
  }
  const stopAccepting = () => app.admin.stopAccepting();
  upgrader.attach({ listeners: () => app.listeners(), deploys: () => deploysOf(app), stopAccepting, log: app.log });
  // the pid file names the new baton before the old one exits (systemd's PIDFile= then follows the main pid)
  try {
    if (opts.pidFile !== undefined) writePidFile(opts.pidFile);
  } catch (err) {
    await app.close(0);
    return failed(io, `baton: cannot write the pid file: ${(err as Error).message}\n`, EXIT_FAILURE);
  }
  if (inherited !== null) {
    reportReady(inherited, app.listeners());
    app.log.info({ pid: process.pid }, 'Upgrade: took over the listeners; serving');
  }
  const code = await untilStopped(app, upgrader, (s) => (stop = s));
  if (opts.pidFile !== undefined) removePidFile(opts.pidFile);
  return code;
}

/** Prints why baton did not start (and tells the baton that started this one, on an upgrade). */
function failed(io: Io, text: string, code: number): number {
  io.err(text);
  reportFailure(text.trim());
  return code;
}

/** The environment for the next baton: this one's, without the listeners this one inherited. */
function withoutListeners(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { BATON_UPGRADE_LISTENERS: _, ...rest } = env;
  return rest;
}

function deploysOf(app: App) {
  return [...(app.deployer?.list() ?? []), ...(app.swarmDeployer?.list() ?? [])];
}

/** Why the App did not start; a taken port is named with its address. */
function startFailure(err: NodeJS.ErrnoException & { address?: string; port?: number }): string {
  return err.code === 'EADDRINUSE' ? `address in use (${err.address}:${err.port})` : err.message;
}

/** Resolves with the exit code once a signal (or a finished upgrade) has stopped the App. */
function untilStopped(
  app: App,
  upgrader: Upgrader,
  setStop: (stop: (signal: NodeJS.Signals | 'upgrade') => void) => void,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    // `on`, not `once`: a second SIGTERM/SIGINT during the drain must not fall through to Node's default action,
    // which kills the process and every request still in flight. The drain is bounded by timeouts.shutdown.
    const stop = (signal: NodeJS.Signals | 'upgrade') => {
      if (stopping) {
        app.log.warn({ signal }, 'Already shutting down; still finishing in-flight requests');
        return;
      }
      stopping = true;
      if (signal !== 'upgrade') upgrader.close(); // no upgrade from a baton that is stopping
      app.log.info({ signal }, 'Shutting down: finishing in-flight requests');
      const done = (code: number) => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        process.off('SIGHUP', reload);
        process.off('SIGUSR1', reopen);
        process.off('SIGUSR2', upgrade);
        resolve(code);
      };
      app.close(undefined, { handOver: signal === 'upgrade' }).then(
        () => done(EXIT_OK),
        (err) => {
          app.log.error({ err }, 'Shutdown failed');
          done(EXIT_FAILURE);
        },
      );
    };
    const reload = () => {
      app.log.info({ signal: 'SIGHUP' }, 'Reloading the configuration and certificate files');
      app.reloadCertificates();
      app.reload('signal').catch(() => {}); // its problems are logged; the running configuration stays
    };
    const reopen = () => app.reopenLogs();
    // SIGUSR2: the upgrade `baton upgrade` asks for, without its answer (the log says how it went)
    const upgrade = () => {
      app.log.info({ signal: 'SIGUSR2' }, 'Upgrade requested');
      upgrader.upgrade().then(
        () => upgrader.handOver(),
        (err) => {
          // a failed start is logged by the upgrader; a refusal (409) here
          if (err instanceof ConflictError) app.log.warn({ err }, 'Upgrade refused');
        },
      );
    };
    setStop(stop);
    process.on('SIGUSR2', upgrade);
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', reload);
    process.on('SIGUSR1', reopen);
  });
}
