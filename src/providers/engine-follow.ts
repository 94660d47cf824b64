// Following a Docker engine, shared by the Docker and Swarm providers: the dockerode client for an endpoint, the
// events stream read line by line, and the loop that runs one session after another — reconnect with backoff and
// re-list on stream end or error (never trust a replay), warn once while the engine is away.
import Docker from 'dockerode';
import type { Logger } from 'pino';
import { sleep } from '../async.ts';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

/** dockerode client for an endpoint like unix:///var/run/docker.sock or tcp://127.0.0.1:2375. */
export function dockerClient(endpoint: string): Docker {
  if (endpoint.startsWith('unix://')) return new Docker({ socketPath: endpoint.slice('unix://'.length) });
  const u = new URL(endpoint.replace(/^tcp:/, 'http:'));
  return new Docker({
    host: u.hostname,
    port: Number(u.port || 2375),
    protocol: u.protocol === 'https:' ? 'https' : 'http',
  });
}

/** The engine's events of these types, from now on, until the stream ends or `signal` aborts (which destroys it). */
export async function engineEvents(
  docker: Docker,
  types: string[],
  signal: AbortSignal,
): Promise<NodeJS.ReadableStream> {
  const options = { filters: { type: types }, abortSignal: signal } as Docker.GetEventsOptions;
  const stream = (await docker.getEvents(options)) as NodeJS.ReadableStream & { destroy?: () => void };
  const destroy = () => stream.destroy?.();
  if (signal.aborted) destroy();
  signal.addEventListener('abort', destroy, { once: true });
  stream.on('close', () => signal.removeEventListener('abort', destroy));
  return stream;
}

/** An engine event, as much of it as the providers read. */
export interface EngineEvent {
  /** container, service, node, ... */
  type: string;
  action: string;
  /** the container's (service's, node's) id */
  id: string;
  attributes: Record<string, string>;
  /** when the engine saw it (ms since the epoch) */
  time: number;
}

/** One line of the events stream → the event, or null (not JSON, no id). */
export function parseEvent(line: string): EngineEvent | null {
  let e: {
    Type?: string;
    Action?: string;
    status?: string;
    id?: string;
    timeNano?: number;
    Actor?: { ID?: string; Attributes?: Record<string, string> };
  };
  try {
    e = JSON.parse(line);
  } catch {
    return null;
  }
  const id = e?.Actor?.ID ?? e?.id;
  if (typeof id !== 'string') return null;
  const time = typeof e.timeNano === 'number' ? Math.round(e.timeNano / 1e6) : Date.now();
  return { type: e.Type ?? '', action: e.Action ?? e.status ?? '', id, attributes: e.Actor?.Attributes ?? {}, time };
}

/** Calls `onLine` for each non-empty line of `stream`; resolves when it ends, rejects when it fails. */
export function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let buf = '';
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl = buf.indexOf('\n');
      while (nl !== -1) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line !== '') onLine(line);
        nl = buf.indexOf('\n');
      }
    });
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', (err: Error) => reject(err));
  });
}

export interface EngineLoopInit {
  /** starts the log lines: "Docker", "Swarm" */
  name: string;
  endpoint: string;
  log: Logger;
  /** One connected session: resolves when the events stream ends, rejects when it (or a listing) fails. Calls `up`
   *  once it has listed everything. Its signal aborts when it is over (or the loop closes): its stream goes. */
  session: (signal: AbortSignal, up: (fields?: Record<string, unknown>) => void) => Promise<void>;
  /** a clearer warning than "not reachable" for a failure (e.g. "not a swarm manager: ..."), or undefined */
  explain?: (err: unknown) => string | undefined;
}

/** Runs sessions one after another until closed, with backoff between failed ones. */
export class EngineLoop {
  readonly #init: EngineLoopInit;
  readonly #abort = new AbortController();
  #connected = false;
  /** the warning last logged while the engine is away (logged again only when it changes) */
  #warned: string | null = null;

  constructor(init: EngineLoopInit) {
    this.#init = init;
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    void this.#run();
  }

  close(): void {
    this.#abort.abort();
  }

  async #run(): Promise<void> {
    const { name, log } = this.#init;
    let backoff = BACKOFF_MIN_MS;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const over = new AbortController();
      try {
        await this.#init.session(AbortSignal.any([signal, over.signal]), (fields) => this.#up(fields));
        backoff = BACKOFF_MIN_MS; // the stream ran and ended: reconnect soon
        if (!signal.aborted) log.warn(`${name} events stream ended; reconnecting and re-listing`);
      } catch (err) {
        if (signal.aborted) break;
        this.#down(err);
      } finally {
        over.abort();
      }
      if (signal.aborted) break;
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
  }

  #up(fields: Record<string, unknown> = {}): void {
    if (this.#connected) return;
    this.#connected = true;
    const { name, endpoint, log } = this.#init;
    log.info(
      { endpoint, ...fields },
      this.#warned !== null ? `${name} engine reachable again` : `${name} provider connected`,
    );
    this.#warned = null;
  }

  #down(err: unknown): void {
    const { name, endpoint, log } = this.#init;
    const explained = this.#init.explain?.(err);
    if (this.#connected && explained === undefined) {
      log.warn({ err }, `${name} events stream failed; reconnecting and re-listing`);
    } else {
      const warning = explained ?? `${name} engine not reachable`;
      if (warning !== this.#warned) {
        this.#warned = warning;
        log.warn({ endpoint, err }, `${warning}; static routes keep serving, retrying with backoff`);
      } else {
        log.debug({ err }, `${name} engine still not reachable`);
      }
    }
    this.#connected = false;
  }
}
