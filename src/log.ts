// pino, one root logger per App; components take `log.child({ component })`. Secrets are redacted.
import { pino, type DestinationStream, type Logger } from 'pino';

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

/** pino's isoTime, the string made once per millisecond (an access log writes many lines in each). */
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

/** How often buffered log lines are written out at the latest. */
export const LOG_FLUSH_INTERVAL_MS = 250;

export interface OwnedLogger {
  log: Logger;
  /** the access logger: same destination and format, always at info, and without the redaction pass (access
   *  lines carry method, host, path without query, status, timings: nothing to redact) */
  access: Logger;
  /** writes out whatever is buffered and stops the flush timer */
  close(): void;
}

/** Lines are written out in batches of this many bytes (or every LOG_FLUSH_INTERVAL_MS). */
const LOG_BUFFER_BYTES = 8 * 1024;

/** A logger writing JSON lines to `destination`, or to stdout through an 8 KiB buffer flushed every 250 ms
 *  (one write per batch instead of one per access-log line). With `sharedStdout` (worker threads writing to the
 *  same stdout) each line is one write of its own: a write of up to PIPE_BUF (4 KiB) bytes is never split by
 *  another thread's, where a batch could be, when a full pipe (docker logs) takes it in pieces. */
export function createLogger(level: string, destination?: DestinationStream, sharedStdout = false): OwnedLogger {
  const options = {
    level,
    base: { name: 'baton' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: isoTimeCached(),
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const accessOptions = { ...options, level: 'info', redact: undefined, base: { name: 'baton', component: 'access' } };
  if (destination !== undefined)
    return { log: pino(options, destination), access: pino(accessOptions, destination), close: () => {} };
  if (sharedStdout) {
    const lines = pino.destination({ dest: 1, sync: true });
    return { log: pino(options, lines), access: pino(accessOptions, lines), close: () => {} };
  }
  const dest = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  const timer = setInterval(() => {
    try {
      dest.flush();
    } catch {}
  }, LOG_FLUSH_INTERVAL_MS);
  timer.unref();
  return {
    log: pino(options, dest),
    access: pino(accessOptions, dest),
    close: () => {
      clearInterval(timer);
      try {
        dest.flushSync();
      } catch {}
    },
  };
}
