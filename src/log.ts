// pino, one root logger per App; components take `log.child({ component })`. Secrets are redacted. The access log
// is not a pino logger: its lines are built by hand (src/proxy/access-line.ts) and go to the log's stream or its file.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config/schema.ts';
import { LineWriter } from './log-file.ts';
import { AccessLog, type LineSink } from './proxy/access-log.ts';

export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'admin.token',
];

/** pino's isoTime, the string made once per millisecond (a busy log writes many lines in each). */
function isoTimeCached(): () => string {
  let lastMs = 0;
  let lastTime = '';
  return () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = `,"time":"${new Date(now).toISOString()}"`;
    }
    return lastTime;
  };
}

export interface OwnedLogger {
  log: Logger;
  /** changes the level of this logger and of every child made from it (a config reload's log.level) */
  setLevel(level: string): void;
  /** the log's own stream, for whole lines written as they are (the access log's, when it goes to stdout) */
  lines: LineSink;
  /** writes out whatever is buffered and stops the flush timer */
  close(): void;
}

/** A logger writing JSON lines to `destination`, or to stdout through an 8 KiB buffer flushed every 250 ms
 *  (one write per batch instead of one per access-log line; log-file.ts). With `sharedStdout` (worker threads
 *  writing to the same stdout) each line is one write of its own: a write of up to PIPE_BUF (4 KiB) bytes is never
 *  split by another thread's, where a batch could be, when a full pipe (docker logs) takes it in pieces. */
export function createLogger(level: string, destination?: DestinationStream, sharedStdout = false): OwnedLogger {
  // pino's children copy their parent's level when made; a later change of the root's reaches none of them. So the
  // root logs everything and one gate, which every child shares through the logMethod hook, drops what is below.
  let threshold = levelValue(level);
  const setLevel = (l: string) => void (threshold = levelValue(l));
  const options = {
    level: 'trace',
    hooks: {
      logMethod(this: Logger, args: Parameters<Logger['info']>, method: Logger['info'], num: number) {
        if (num >= threshold) method.apply(this, args);
      },
    },
    base: { name: 'baton' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: isoTimeCached(),
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (destination !== undefined) {
    return { log: pino(options, destination), setLevel, lines: destination, close: () => {} };
  }
  const out = new LineWriter(sharedStdout ? { fd: 1, perLine: true } : { fd: 1, async: true });
  return { log: pino(options, out), setLevel, lines: out, close: () => out.close() };
}

/** pino's number for a level name ('silent': nothing passes). */
function levelValue(level: string): number {
  return level === 'silent' ? Infinity : (pino.levels.values[level] ?? pino.levels.values.info);
}

/** The stream a pino logger writes to (a logger given to the App: its access lines go where its lines go). */
export function streamOf(log: Logger): LineSink {
  return (log as unknown as Record<symbol, LineSink>)[pino.symbols.streamSym];
}

export interface OwnedAccessLog {
  access: AccessLog;
  /** reopens the access log file at its path (logrotate), and says so in the log; nothing on stdout */
  reopen(): void;
  /** writes out the file's buffer and closes it */
  close(): void;
}

/** The access log as `log.*` configures it: its format, to `lines` (the log's stdout stream) or to its own file.
 *  null when `log.accessLog` is off (on or off by itself, whatever log.level says). Throws when the file cannot
 *  be opened. `worker`: the worker thread's number, in each JSON line. */
export function createAccessLog(
  config: Config['log'],
  lines: LineSink,
  log: Logger,
  worker: number | null = null,
): OwnedAccessLog | null {
  if (!config.accessLog) return null;
  if (config.accessLogFile === undefined)
    return { access: new AccessLog(lines, config.accessLogFormat, worker), reopen: () => {}, close: () => {} };
  const path = config.accessLogFile;
  const file = new LineWriter({
    path,
    onError: (err) => log.error({ err, file: path }, 'Cannot write the access log'),
  });
  return {
    access: new AccessLog(file, config.accessLogFormat, worker),
    reopen: () => {
      try {
        if (file.reopen()) log.info({ file: path }, 'Reopened the access log file');
      } catch (err) {
        log.error({ err, file: path }, 'Cannot reopen the access log file; kept the old one');
      }
    },
    close: () => file.close(),
  };
}
