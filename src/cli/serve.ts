// `baton serve`: loads the config (every problem printed, exit 2, nothing listens), starts the App, and stops it
// gracefully on SIGTERM/SIGINT (exit 0 once the requests in flight are done). SIGHUP reloads the config file
// (src/reload.ts) and the certificate and key files (Node's default for SIGHUP would be to exit); SIGUSR1 reopens
// the access log file (logrotate's `postrotate`; with the listener installed Node no longer starts its inspector).
import { App } from '../app.ts';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import { problemLines } from './output.ts';

export async function serve(configPath: string, io: Io): Promise<number> {
  let config: LoadedConfig;
  try {
    config = loadConfig(configPath, io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`baton: ${configPath}: invalid configuration\n${problemLines(err.problems)}`);
      return EXIT_USAGE;
    }
    throw err;
  }
  let app: App;
  try {
    app = await App.start(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      // files the config names (certificates, keys) that cannot be loaded
      io.err(`baton: ${configPath}: invalid configuration\n${problemLines(err.problems)}`);
      return EXIT_USAGE;
    }
    io.err(`baton: cannot start: ${startFailure(err as NodeJS.ErrnoException)}\n`);
    return EXIT_FAILURE;
  }
  return untilStopped(app);
}

/** Why the App did not start; a taken port is named with its address. */
function startFailure(err: NodeJS.ErrnoException & { address?: string; port?: number }): string {
  return err.code === 'EADDRINUSE' ? `address in use (${err.address}:${err.port})` : err.message;
}

/** Resolves with the exit code once a signal has stopped the App. */
function untilStopped(app: App): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    // `on`, not `once`: a second SIGTERM/SIGINT during the drain must not fall through to Node's default action,
    // which kills the process and every request still in flight. The drain is bounded by timeouts.shutdown.
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        app.log.warn({ signal }, 'Already shutting down; still finishing in-flight requests');
        return;
      }
      stopping = true;
      app.log.info({ signal }, 'Shutting down: finishing in-flight requests');
      const done = (code: number) => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        process.off('SIGHUP', reload);
        process.off('SIGUSR1', reopen);
        resolve(code);
      };
      app.close().then(
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
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', reload);
    process.on('SIGUSR1', reopen);
  });
}
