// `baton events [--json]`: follows the admin API's event stream (GET /api/events) and prints one line per event —
// its time, its type and a short summary (upstream state changes, deploy steps and states, the traffic every
// second as rates between two `stats` events) — or, with --json, each event as one JSON line. A stream that drops
// is reconnected with a growing delay (said on stderr); Ctrl-C ends it with exit 0. An admin API that cannot be
// reached at first, or that refuses the token, ends it with exit 1.
import { AdminCallError } from '../errors.ts';
import type { AdminTarget } from './admin-client.ts';
import { EXIT_FAILURE, EXIT_OK, type Io } from './io.ts';
import { formatDuration, percent, stateText } from './output.ts';
import { entryTitle, liveText } from './progress.ts';
import { sseEvents, type SseEvent } from './sse.ts';
import { catchInterrupt, pause } from './term.ts';

/** The first reconnect waits this long, each next one twice as long, up to the maximum. */
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 10_000;
/** baton sends `stats` every second: this long without any data means the connection is gone. */
const STATS_IDLE_MS = 10_000;
/** How much of an event of a type it does not know the line quotes. */
const UNKNOWN_MAX_CHARS = 160;

/** The delay before reconnect attempt `n` (0 first). */
export function reconnectDelayMs(n: number): number {
  return Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** Math.min(n, 10));
}

export async function followEvents(target: AdminTarget, opts: { json: boolean }, io: Io): Promise<number> {
  const interrupt = catchInterrupt();
  const { signal } = interrupt;
  const printer = new EventPrinter();
  let everOpen = false;
  let attempt = 0;
  try {
    for (;;) {
      let reason = 'the admin API closed the stream';
      const onOpen = () => {
        if (attempt > 0) io.err(`baton events: reconnected to ${target.url}\n`);
        everOpen = true;
        attempt = 0;
      };
      try {
        const heartbeat = { type: 'stats', idleMs: STATS_IDLE_MS };
        for await (const event of sseEvents(target, '/api/events', { signal, onOpen, heartbeat })) {
          io.out(opts.json ? jsonLine(event) : printer.line(event, Date.now()));
        }
      } catch (err) {
        if (signal.aborted) return EXIT_OK;
        // never connected (a wrong address, baton not running), or the token refused: nothing to wait for
        if (!everOpen || (err instanceof AdminCallError && err.status >= 400)) {
          io.err(`baton events: ${(err as Error).message}\n`);
          return EXIT_FAILURE;
        }
        reason = (err as Error).message;
      }
      const delay = reconnectDelayMs(attempt++);
      io.err(`baton events: stream lost (${reason}); reconnecting in ${formatDuration(delay)}…\n`);
      await pause(delay, signal);
      if (signal.aborted) return EXIT_OK;
    }
  } finally {
    interrupt.dispose();
  }
}

/** `--json`: `{"event": type, "data": the event's JSON}`, one line each. */
export function jsonLine(event: SseEvent): string {
  return JSON.stringify({ event: event.type, data: parseData(event.data) }) + '\n';
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

interface StatsService {
  requests: number;
  responses: number[];
  p50: number | null;
  p99: number | null;
}

/** Lines for people; keeps the previous `stats` event to turn running totals into rates. */
export class EventPrinter {
  #stats: { at: number; services: Record<string, StatsService> } | null = null;

  /** `<ISO time> <type> <summary>`: the event's own time when it has one, else `nowMs`. */
  line(event: SseEvent, nowMs: number): string {
    const data = parseData(event.data) as Record<string, any> | null;
    const d = data !== null && typeof data === 'object' ? data : {};
    const at = typeof d.at === 'string' && !Number.isNaN(Date.parse(d.at)) ? Date.parse(d.at) : d.at;
    const time = new Date(typeof at === 'number' && Number.isFinite(at) ? at : nowMs).toISOString();
    return `${time} ${event.type.padEnd(8)} ${this.summary(event.type, d, event.data)}\n`;
  }

  summary(type: string, d: Record<string, any>, raw: string): string {
    switch (type) {
      case 'hello': {
        const services: Array<{ upstreams?: unknown[] }> = Array.isArray(d.services) ? d.services : [];
        const upstreams = services.reduce((n, s) => n + (s.upstreams?.length ?? 0), 0);
        return `connected: ${services.length} service(s), ${upstreams} upstream(s)`;
      }
      case 'upstream': {
        const from = d.from ?? d.previous;
        const to = d.to ?? d.state;
        return `${d.id} ${from !== undefined ? `${from} → ` : ''}${to}${d.reason ? ` (${d.reason})` : ''}`;
      }
      case 'deploy':
        return deploySummary(d);
      case 'stats':
        return this.#statsSummary(d);
      default:
        return raw.length > UNKNOWN_MAX_CHARS ? `${raw.slice(0, UNKNOWN_MAX_CHARS - 1)}…` : raw;
    }
  }

  /** Per service: requests per second, the share of 5xx answers and p50/p99 since the previous stats event
   *  (totals on the first one). */
  #statsSummary(d: Record<string, any>): string {
    const services: Record<string, StatsService> = d.services ?? {};
    const before = this.#stats;
    const at = typeof d.at === 'number' ? d.at : Date.now();
    this.#stats = { at, services };
    const parts = Object.entries(services).map(([name, s]) => {
      const prev = before?.services[name];
      const secs = before !== null ? (at - before.at) / 1000 : 0;
      let traffic = `${s.requests} requests`;
      if (prev !== undefined && secs > 0 && s.requests >= prev.requests) {
        const answered = sum(s.responses) - sum(prev.responses);
        const errors = (s.responses[5] ?? 0) - (prev.responses[5] ?? 0);
        const ratio = answered > 0 ? `, ${percent(errors / answered)} 5xx` : '';
        traffic = `${((s.requests - prev.requests) / secs).toFixed(1)} req/s${ratio}`;
      }
      const latency = s.p50 !== null && s.p99 !== null ? `, p50 ${seconds(s.p50)} p99 ${seconds(s.p99)}` : '';
      return `${name} ${traffic}${latency}`;
    });
    return parts.length > 0 ? parts.join('; ') : 'no services';
  }
}

/** A deploy event: which deploy of which service, its state, then the step it took or what its phase says. */
export function deploySummary(d: Record<string, any>): string {
  const head = `${d.id} ${d.kind ?? 'deploy'} of ${d.service}: ${stateText(String(d.state))}`;
  if (d.step) {
    const s = d.step;
    const mark = s.status === 'done' ? 'ok' : s.status === 'failed' ? 'FAILED' : 'started';
    const entry = { action: s.action, containers: s.containers ?? [], batch: null, detail: s.detail };
    return `${head} — ${mark} ${entryTitle(entry)}`;
  }
  if (d.live) {
    const live = liveText(d.live, Date.now());
    const batch = d.live.batch && d.live.batch.of > 1 ? ` (batch ${d.live.batch.n}/${d.live.batch.of})` : '';
    return `${head} — ${d.live.phase}${batch}${live ? ` · ${live}` : ''}`;
  }
  return d.error ? `${head} — ${d.error}` : head;
}

function sum(xs: number[] | undefined): number {
  return (xs ?? []).reduce((a, b) => a + b, 0);
}

/** Latency in seconds for people: `850 µs`, `12 ms`, `1.20 s`. */
function seconds(s: number): string {
  if (s < 0.001) return `${Math.round(s * 1_000_000)} µs`;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  return `${s.toFixed(2)} s`;
}
