// `workers: n`: n worker threads serve traffic on the same listeners (SO_REUSEPORT: the kernel spreads new
// connections over them), while the main thread stays the one control plane — providers, health checks,
// deploys, the admin API. The pool is the control plane registry's mirror: every change is sent to every worker,
// in order. A worker that dies is forgotten (its in-flight counts zeroed, so drains are not held up) and replaced
// by a fresh one that syncs and joins the listeners; the others' connections are not touched.
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.ts';
import { WorkerError } from '../errors.ts';
import { urlHost } from '../net.ts';
import { sumStats, type TrafficStats } from '../traffic.ts';
import type { ChallengeChange } from '../tls/acme-challenges.ts';
import type { ManagedChange } from '../tls/store.ts';
import type { Snapshot } from '../upstream/desired.ts';
import type { ModeState } from '../upstream/modes.ts';
import type { RegistryMirror } from '../upstream/mirror.ts';
import type { Registry } from '../upstream/registry.ts';
import type { TrafficSplit } from '../upstream/split.ts';
import type { TallyBoard } from '../upstream/tally.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { ErrorInfo, FromWorker, ToWorker, WorkerInit } from './protocol.ts';
import type { SharedTallies } from './tallies.ts';

const THREAD = new URL('./thread.ts', import.meta.url);
/** a replacement that dies again within this long waits longer before the next try (up to the maximum) */
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
const STABLE_MS = 10_000;
const STATS_TIMEOUT_MS = 1000;
/** how long a closing worker gets beyond the shutdown timeout before it is terminated */
const CLOSE_GRACE_MS = 5000;

export interface WorkerPoolOptions {
  config: LoadedConfig;
  count: number;
  registry: Registry;
  board: TallyBoard;
  tallies: SharedTallies;
  /** per writer (1..count), the inherited sockets its first thread takes over (`baton upgrade`) */
  inherited?: ReadonlyMap<number, Record<string, number>>;
  log: Logger;
}

export interface WorkerStats {
  worker: number;
  /** when this thread started (a replacement: when it replaced the one that stopped) */
  since: string;
  /** replacements started for this worker number */
  restarts: number;
  stats: TrafficStats;
}

interface Member {
  writer: number;
  worker: Worker;
  /** sent the control plane's state: receives every change from now on */
  synced: boolean;
  listening: boolean;
  /** its listeners' file descriptors, once listening */
  fds: Record<string, number>;
  startedAt: number;
}

export class WorkerPool implements RegistryMirror {
  readonly count: number;
  readonly #o: WorkerPoolOptions;
  readonly #members = new Map<number, Member>();
  readonly #log: Logger;
  /** the addresses the first worker bound (a port 0 in the config resolved), joined by the others */
  #addresses: Record<string, AddressInfo> | null = null;
  readonly #asks = new Map<number, { waiting: Set<number>; got: WorkerStats[]; done: (s: WorkerStats[]) => void }>();
  /** replacements started per writer (shown by the admin API) */
  readonly #restarts = new Map<number, number>();
  #nextAsk = 1;
  readonly #restartDelay = new Map<number, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #closing = false;
  /** the ACME certificates and pending challenges now: a new worker gets them before it listens */
  readonly #certificates = new Map<string, ManagedChange>();
  readonly #challenges = new Map<number, ChallengeChange>();
  readonly #inherited: Map<number, Record<string, number>>;

  constructor(opts: WorkerPoolOptions) {
    this.#o = opts;
    this.count = opts.count;
    this.#log = opts.log;
    this.#inherited = new Map(opts.inherited);
  }

  /** Starts every worker; resolves once all listen (rejects, with the pool closed, when one cannot start). */
  async start(): Promise<void> {
    try {
      await this.#spawn(1);
      await Promise.all(Array.from({ length: this.count - 1 }, (_, i) => this.#spawn(i + 2)));
    } catch (err) {
      await this.close(0);
      throw err;
    }
  }

  addresses(): Record<string, AddressInfo> {
    if (this.#addresses === null) throw new WorkerError('the workers are not listening');
    return this.#addresses;
  }

  /** The writers that receive every change now (SharedTallies counts them as holders of new slots). */
  *live(): Iterable<number> {
    for (const m of this.#members.values()) if (m.synced) yield m.writer;
  }

  #spawn(writer: number): Promise<void> {
    const init: WorkerInit = { config: this.#o.config, writer, buffers: this.#o.board.buffers() };
    const worker = new Worker(THREAD, { workerData: init, name: `baton-worker-${writer}` });
    const member: Member = { writer, worker, synced: false, listening: false, fds: {}, startedAt: Date.now() };
    this.#members.set(writer, member);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        if (err === null) resolve();
        else reject(err);
      };
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') this.#sync(member);
        else if (m.type === 'listening') {
          member.listening = true;
          member.fds = m.fds;
          this.#addresses ??= m.addresses;
          settle(null);
        } else if (m.type === 'failed') {
          settle(startError(writer, m.error));
          void worker.terminate();
        } else this.#onMessage(member, m);
      });
      worker.on('error', (err: Error) => {
        this.#log.error({ err, worker: writer }, 'Worker thread failed');
        settle(new WorkerError(`worker ${writer} failed: ${err.message}`, { cause: err }));
      });
      worker.on('exit', (code) => {
        settle(new WorkerError(`worker ${writer} exited (code ${code}) before listening`));
        this.#exited(member, code);
      });
    });
  }

  /** The control plane's state, then every change: the messages are handled in order, so nothing is missed. */
  #sync(m: Member): void {
    const registry = this.#o.registry;
    for (const containerId of registry.heldContainers()) this.#post(m, { type: 'hold', containerId });
    for (const [service, state] of registry.modes.all()) this.#post(m, { type: 'mode', service, state });
    const slots = this.#slots();
    for (const [provider, snapshot] of registry.snapshots())
      this.#post(m, { type: 'snapshot', provider, snapshot, slots });
    for (const u of registry.upstreams.values())
      this.#post(m, { type: 'state', id: u.id, state: u.state, held: u.held });
    for (const s of registry.services.values())
      if (s.split !== null) this.#post(m, { type: 'split', service: s.name, split: s.split });
    this.#o.tallies.holding(
      m.writer,
      slots.map(([, slot]) => slot),
    );
    for (const change of this.#certificates.values()) this.#post(m, { type: 'certificate', change });
    for (const change of this.#challenges.values()) this.#post(m, { type: 'challenge', change });
    m.synced = true;
    const addresses =
      this.#addresses === null
        ? null
        : Object.fromEntries(Object.entries(this.#addresses).map(([n, a]) => [n, `${urlHost(a.address)}:${a.port}`]));
    // an inherited socket is taken over once: a replacement thread binds (its predecessor closed that socket)
    const fds = this.#inherited.get(m.writer) ?? null;
    this.#inherited.delete(m.writer);
    this.#post(m, { type: 'listen', addresses, fds });
  }

  /** Each listening worker's listeners' file descriptors (entrypoint → fd), by writer. */
  fds(): Map<number, Record<string, number>> {
    const out = new Map<number, Record<string, number>>();
    for (const m of this.#members.values()) if (m.listening) out.set(m.writer, m.fds);
    return out;
  }

  #onMessage(m: Member, msg: FromWorker): void {
    switch (msg.type) {
      case 'eject':
        return this.#o.registry.eject(msg.id, msg.failures);
      case 'released':
        return this.#o.tallies.workerReleased(m.writer, msg.slot);
      case 'stats': {
        const ask = this.#asks.get(msg.ask);
        if (ask === undefined || !ask.waiting.delete(m.writer)) return;
        ask.got.push({
          worker: m.writer,
          since: new Date(m.startedAt).toISOString(),
          restarts: this.#restarts.get(m.writer) ?? 0,
          stats: msg.stats,
        });
        if (ask.waiting.size === 0) ask.done(ask.got);
        return;
      }
    }
  }

  #exited(m: Member, code: number): void {
    if (this.#members.get(m.writer) !== m) return;
    this.#members.delete(m.writer);
    this.#o.tallies.workerGone(m.writer);
    for (const ask of this.#asks.values())
      if (ask.waiting.delete(m.writer) && ask.waiting.size === 0) ask.done(ask.got);
    if (this.#closing) return;
    const stable = Date.now() - m.startedAt > STABLE_MS;
    const delay = stable
      ? RESTART_MIN_MS
      : Math.min((this.#restartDelay.get(m.writer) ?? 0) * 2 || RESTART_MIN_MS, RESTART_MAX_MS);
    this.#restartDelay.set(m.writer, delay);
    this.#restarts.set(m.writer, (this.#restarts.get(m.writer) ?? 0) + 1);
    this.#log.error({ worker: m.writer, code, restartInMs: delay }, 'Worker thread stopped; starting a replacement');
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closing) return;
      this.#spawn(m.writer).then(
        () => this.#log.info({ worker: m.writer }, 'Replacement worker thread listening'),
        (err) => this.#log.error({ err, worker: m.writer }, 'Replacement worker thread did not start'),
      );
    }, delay);
    this.#timers.add(timer);
  }

  #post(m: Member, msg: ToWorker): void {
    m.worker.postMessage(msg);
  }

  #broadcast(msg: ToWorker): void {
    for (const m of this.#members.values()) if (m.synced) m.worker.postMessage(msg);
  }

  #slots(): [string, number][] {
    return [...this.#o.registry.upstreams.values()].map((u) => [u.id, u.tally.slot]);
  }

  // ── RegistryMirror ─────────────────────────────────────────────────────────────────────────────

  snapshot(provider: string, snapshot: Snapshot): void {
    this.#broadcast({ type: 'snapshot', provider, snapshot, slots: this.#slots() });
  }

  state(u: Upstream): void {
    this.#broadcast({ type: 'state', id: u.id, state: u.state, held: u.held });
  }

  drain(id: string, timeoutMs: number): void {
    this.#broadcast({ type: 'drain', id, timeoutMs });
  }

  enable(id: string, skipGate: boolean): void {
    this.#broadcast({ type: 'enable', id, skipGate });
  }

  hold(containerId: string): void {
    this.#broadcast({ type: 'hold', containerId });
  }

  mode(service: string, state: ModeState): void {
    this.#broadcast({ type: 'mode', service, state: { ...state } });
  }

  release(containerIds: readonly string[]): void {
    this.#broadcast({ type: 'release', containerIds: [...containerIds] });
  }

  split(service: string, split: TrafficSplit | null): void {
    this.#broadcast({ type: 'split', service, split });
  }

  /** The control plane's certificate store put or removed an ACME certificate. */
  certificate(change: ManagedChange): void {
    if (change.kind === 'put') this.#certificates.set(change.id, change);
    else this.#certificates.delete(change.id);
    this.#broadcast({ type: 'certificate', change });
  }

  /** The control plane's ACME client added or removed a challenge. */
  challenge(change: ChallengeChange): void {
    if (change.active) this.#challenges.set(change.key, change);
    else this.#challenges.delete(change.key);
    this.#broadcast({ type: 'challenge', change });
  }

  // ──────────────────────────────────────────────────────────────────────────────────────────────

  /** Every worker's counters, summed. */
  async stats(): Promise<TrafficStats> {
    return sumStats((await this.statsByWorker()).map((w) => w.stats));
  }

  /** Each listening worker's counters (a worker that does not answer within 1 s is left out). */
  statsByWorker(): Promise<WorkerStats[]> {
    const members = [...this.#members.values()].filter((m) => m.listening);
    if (members.length === 0) return Promise.resolve([]);
    const ask = this.#nextAsk++;
    return new Promise<WorkerStats[]>((resolve) => {
      const done = (got: WorkerStats[]) => {
        clearTimeout(timer);
        this.#asks.delete(ask);
        resolve(got.sort((a, b) => a.worker - b.worker));
      };
      const entry = { waiting: new Set(members.map((m) => m.writer)), got: [] as WorkerStats[], done };
      const timer = setTimeout(() => done(entry.got), STATS_TIMEOUT_MS);
      this.#asks.set(ask, entry);
      for (const m of members) this.#post(m, { type: 'stats', ask });
    });
  }

  /** A config reload: every worker applies it (in order with the snapshots); replacements start with it. */
  reconfigure(config: LoadedConfig): void {
    this.#o.config = config;
    this.#broadcast({ type: 'config', config });
  }

  reloadCertificates(): void {
    this.#broadcast({ type: 'reload-certificates' });
  }

  /** Every worker reopens its access log file; one still starting too (it may have opened the file before it was
   *  moved; its messages wait until it listens for them, and a reopen before its sync is harmless). */
  reopenLogs(): void {
    for (const m of this.#members.values()) this.#post(m, { type: 'reopen-logs' });
  }

  /** Each worker stops accepting and finishes its requests in flight (bounded), then exits; `lingerMs`: a
   *  hand-over's (Entrypoint.close). */
  async close(timeoutMs: number, lingerMs = 0): Promise<void> {
    this.#closing = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.all(
      [...this.#members.values()].map(async (m) => {
        const exited = new Promise<void>((resolve) => m.worker.once('exit', () => resolve()));
        this.#post(m, { type: 'close', timeoutMs, lingerMs });
        const timer = setTimeout(() => void m.worker.terminate(), timeoutMs + CLOSE_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** A worker's start failure as the error the App's start would have thrown itself. */
function startError(writer: number, e: ErrorInfo): Error {
  const err = new WorkerError(`worker ${writer} did not start: ${e.message}`) as WorkerError & {
    address?: string;
    port?: number;
    problems?: string[];
  };
  if (e.code !== undefined) err.code = e.code;
  err.address = e.address;
  err.port = e.port;
  err.problems = e.problems;
  return err;
}
