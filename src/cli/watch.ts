// `baton status --watch [--interval 2s]`: the status table every interval, with each upstream's requests per
// second since the last refresh. On a terminal it is redrawn in place (cursor home, each line cleared to its end,
// the rest of the screen cleared: no flicker, no new dependency); otherwise each refresh is printed after a
// timestamped header (logs), and with --json as one JSON line. Ctrl-C ends it with exit 0; an admin API that stops
// answering, with its reason and exit 1.
import { call, type AdminTarget } from './admin-client.ts';
import { EXIT_FAILURE, EXIT_OK } from './io.ts';
import { formatDuration, statusTable, type ServiceView } from './output.ts';
import { catchInterrupt, pause, stdoutIsTTY, type TermIo } from './term.ts';

const HOME = '\x1b[H';
const CLEAR_SCREEN = '\x1b[2J';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
/** How long one refresh waits for the admin API before it counts as gone. */
const REFRESH_TIMEOUT_MS = 10_000;

export interface WatchOptions {
  intervalMs: number;
  json: boolean;
}

/** Requests per second of each upstream between two samples of their running totals. */
export class RateMeter {
  #last = new Map<string, { requests: number; atMs: number }>();

  /** The rates since the previous sample (none for an upstream seen the first time, or whose total went down: a
   *  restarted baton), and this sample kept for the next. */
  sample(services: ServiceView[], atMs: number): Map<string, number> {
    const rates = new Map<string, number>();
    const next = new Map<string, { requests: number; atMs: number }>();
    for (const u of services.flatMap((s) => s.upstreams)) {
      if (typeof u.requests !== 'number') continue;
      next.set(u.id, { requests: u.requests, atMs });
      const before = this.#last.get(u.id);
      if (before !== undefined && atMs > before.atMs && u.requests >= before.requests) {
        rates.set(u.id, ((u.requests - before.requests) * 1000) / (atMs - before.atMs));
      }
    }
    this.#last = next;
    return rates;
  }
}

/** One refresh: a header with the interval and the time, then the table. */
export function watchFrame(services: ServiceView[], rates: Map<string, number>, intervalMs: number, atMs: number) {
  const every =
    intervalMs < 1000
      ? `${intervalMs} ms`
      : intervalMs < 60_000
        ? `${intervalMs / 1000} s`
        : formatDuration(intervalMs);
  const header = `Every ${every}: baton status — ${new Date(atMs).toISOString()}`;
  return `${header}\n\n${statusTable(services, rates)}`;
}

/** A frame drawn over the previous one: from the top left, each line cleared past its end, the rest cleared. */
export function inPlace(frame: string): string {
  return HOME + frame.split('\n').join(`${CLEAR_LINE_END}\n`) + CLEAR_LINE_END + CLEAR_BELOW;
}

export async function watchStatus(target: AdminTarget, opts: WatchOptions, io: TermIo): Promise<number> {
  const tty = stdoutIsTTY(io) && !opts.json;
  const interrupt = catchInterrupt();
  const { signal } = interrupt;
  const meter = new RateMeter();
  if (tty) io.out(HIDE_CURSOR + CLEAR_SCREEN);
  let frames = 0;
  try {
    for (;;) {
      let services: ServiceView[];
      try {
        const answer = await call<{ services: ServiceView[] }>(target, 'GET', '/api/services', undefined, {
          signal,
          timeoutMs: REFRESH_TIMEOUT_MS,
        });
        services = answer.json.services;
      } catch (err) {
        if (signal.aborted) return EXIT_OK;
        const when = frames > 0 ? ' (stopped watching)' : '';
        io.err(`baton status --watch: ${(err as Error).message}${when}\n`);
        return EXIT_FAILURE;
      }
      const now = Date.now();
      const rates = meter.sample(services, now);
      if (opts.json) io.out(JSON.stringify({ at: new Date(now).toISOString(), services }) + '\n');
      else {
        const frame = watchFrame(services, rates, opts.intervalMs, now);
        io.out(tty ? inPlace(frame) : `${frames > 0 ? '\n' : ''}${frame}`);
      }
      frames++;
      await pause(opts.intervalMs, signal);
      if (signal.aborted) return EXIT_OK;
    }
  } finally {
    interrupt.dispose();
    if (tty) io.out(SHOW_CURSOR);
  }
}
