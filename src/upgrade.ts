// `baton upgrade` (POST /api/upgrade) or SIGUSR2: the running baton starts the next one — the same command line
// (process.execPath, execArgv, the script and its arguments), so whatever code and config are on disk now — and
// hands it its listening sockets as inherited file descriptors. Both accept from the same kernel sockets while they
// overlap: no port is ever unbound, no accept queue closed with connections in it. The new baton reports `ready`
// over the IPC channel once it listens on them; only then does the old one stop accepting, drain its requests
// and tunnels (App.close, timeouts.shutdown) and exit 0. A new baton that fails (bad config, crash, not ready in
// time) is stopped, the old one keeps serving, and the upgrade fails with the reason.
//
//   old: check (no deploy running, no other upgrade) → spawn child with fds → wait ready|failed|exit|timeout
//   new: BATON_UPGRADE_LISTENERS names its fds → App.start listens on them (no bind) → closes the fds it does
//        not use → `ready` → IPC channel closed (detached: its own session; it outlives the old)
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { DeployRecord } from './deploy/journal.ts';
import { TERMINAL_STATES } from './deploy/journal.ts';
import { ConflictError, UpgradeError } from './errors.ts';

/** The environment variable naming the inherited listeners (JSON Listeners) in the new baton. */
export const LISTENERS_ENV = 'BATON_UPGRADE_LISTENERS';
/** How long the new baton gets to be ready, by default. */
export const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** How long a new baton that missed its deadline gets to stop after SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;
/** The first file descriptor the listeners get in the new baton (0–2 are stdio, 3 the IPC channel). */
const FIRST_FD = 4;

/** The listening sockets one baton hands to the next: the admin API's, and each entrypoint's per event loop
 *  serving traffic (index 0: the main thread without workers, else worker 1; index i: worker i + 1). */
export interface Listeners {
  admin: number | null;
  entrypoints: Record<string, number>[];
}

/** The new baton → the old one, over the IPC channel. */
export type ChildMessage = { type: 'ready'; pid: number } | { type: 'failed'; error: string };

export interface UpgradeStatus {
  pid: number;
  startedAt: string;
  upgrading: boolean;
}

export interface UpgradeResult {
  previousPid: number;
  pid: number;
  durationMs: number;
}

/** What the admin API drives (and SIGUSR2). */
export interface UpgradeControl {
  readonly upgrading: boolean;
  status(): UpgradeStatus;
  /** Starts the new baton; resolves once it is ready (throws 409 or UpgradeError, the old one serving on). */
  upgrade(opts?: { timeoutMs?: number }): Promise<UpgradeResult>;
  /** Stops this baton gracefully, once the new one is ready (and the answer to the request that asked is out). */
  handOver(): void;
}

/** What the upgrader reads from the running App. */
export interface UpgradeSource {
  listeners(): Listeners;
  deploys(): DeployRecord[];
  /** the new baton is ready: the admin API stops accepting (before the upgrade's answer goes out) */
  stopAccepting(): void;
  log: Logger;
}

export interface UpgraderOptions {
  /** stops this baton (App.close and exit 0): the same path as SIGTERM */
  retire: () => void;
  /** the command line of the new baton (default: this process's) */
  command?: { file: string; args: string[] };
  env?: NodeJS.ProcessEnv;
}

/** Deploys a new baton must not find half-done (its recovery would roll them back): paused ones are left alone. */
export function runningDeploys(records: readonly DeployRecord[]): DeployRecord[] {
  return records.filter((r) => !TERMINAL_STATES.has(r.state) && r.state !== 'paused');
}

/** The child's stdio and the listeners renumbered as the child sees them (pure). */
export function childDescriptors(l: Listeners): { stdio: Array<'inherit' | 'ipc' | number>; inherited: Listeners } {
  const stdio: Array<'inherit' | 'ipc' | number> = ['inherit', 'inherit', 'inherit', 'ipc'];
  const at = (fd: number) => {
    stdio.push(fd);
    return FIRST_FD + stdio.length - 5;
  };
  const admin = l.admin === null ? null : at(l.admin);
  const entrypoints = l.entrypoints.map((eps) =>
    Object.fromEntries(Object.entries(eps).map(([name, fd]) => [name, at(fd)])),
  );
  return { stdio, inherited: { admin, entrypoints } };
}

/** The listeners this process inherited (the new baton), or null; a malformed value is an error. */
export function inheritedListeners(env: NodeJS.ProcessEnv): Listeners | null {
  const raw = env[LISTENERS_ENV];
  if (raw === undefined || raw === '') return null;
  let v: Listeners;
  try {
    v = JSON.parse(raw) as Listeners;
  } catch {
    throw new UpgradeError(`${LISTENERS_ENV}: not JSON: ${raw}`);
  }
  const fdOk = (fd: unknown) => Number.isInteger(fd) && (fd as number) >= 3;
  const ok =
    (v.admin === null || fdOk(v.admin)) &&
    Array.isArray(v.entrypoints) &&
    v.entrypoints.every((eps) => typeof eps === 'object' && eps !== null && Object.values(eps).every(fdOk));
  if (!ok) throw new UpgradeError(`${LISTENERS_ENV}: not a listener map: ${raw}`);
  return v;
}

/** Every fd in `inherited` that `used` does not listen on (an entrypoint the new config dropped, fewer workers). */
export function unusedFds(inherited: Listeners, used: Listeners): number[] {
  const all = (l: Listeners) => [...(l.admin === null ? [] : [l.admin]), ...l.entrypoints.flatMap(Object.values)];
  const kept = new Set(all(used));
  return all(inherited).filter((fd) => !kept.has(fd));
}

/** The new baton's side: closes the inherited sockets it does not listen on (else the kernel would keep queueing
 *  connections nobody accepts), then tells the old one it is ready and lets go of the IPC channel. */
export function reportReady(inherited: Listeners, used: Listeners): void {
  for (const fd of unusedFds(inherited, used)) closeSync(fd);
  sendToParent({ type: 'ready', pid: process.pid });
}

/** Writes this process's pid to `path` (whole: a temporary file renamed over it). */
export function writePidFile(path: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${process.pid}\n`);
  renameSync(tmp, path);
}

/** Removes the pid file on a plain stop — unless it names another process (the baton this one handed over to). */
export function removePidFile(path: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
  } catch {
    // already gone
  }
}

/** The new baton's side: why it did not start. */
export function reportFailure(error: string): void {
  sendToParent({ type: 'failed', error });
}

function sendToParent(m: ChildMessage): void {
  const send = process.send?.bind(process);
  if (send === undefined || !process.connected) return;
  send(m, undefined, undefined, () => {
    if (process.connected) process.disconnect?.();
  });
}

export class Upgrader implements UpgradeControl {
  readonly #o: UpgraderOptions;
  readonly #startedAt = new Date().toISOString();
  #source: UpgradeSource | null = null;
  #upgrading = false;
  #handedOver = false;
  #closed = false;
  /** fails the upgrade starting now (its child stopped) */
  #abort: ((why: string) => void) | null = null;

  constructor(opts: UpgraderOptions) {
    this.#o = opts;
  }

  /** The App once it started (until then an upgrade is refused). */
  attach(source: UpgradeSource): void {
    this.#source = source;
  }

  get upgrading(): boolean {
    return this.#upgrading;
  }

  status(): UpgradeStatus {
    return { pid: process.pid, startedAt: this.#startedAt, upgrading: this.#upgrading };
  }

  async upgrade(opts: { timeoutMs?: number } = {}): Promise<UpgradeResult> {
    const source = this.#source;
    if (source === null || this.#handedOver || this.#closed) {
      throw new ConflictError('baton is starting or stopping: no upgrade now');
    }
    if (this.#upgrading) throw new ConflictError('an upgrade is already running');
    const running = runningDeploys(source.deploys());
    if (running.length > 0) {
      const which = running.map((r) => `${r.id} (${r.service}, ${r.state})`).join(', ');
      throw new ConflictError(`a deploy is running (${which}): upgrade once it has ended`);
    }
    this.#upgrading = true;
    const started = Date.now();
    try {
      const pid = await this.#startChild(source, opts.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
      source.stopAccepting();
      const durationMs = Date.now() - started;
      source.log.info({ pid, durationMs }, 'Upgrade: the new baton is ready; stopping this one');
      return { previousPid: process.pid, pid, durationMs };
    } catch (err) {
      this.#upgrading = false;
      source.log.error({ err }, 'Upgrade failed: this baton keeps serving');
      throw err;
    }
  }

  /** This baton is stopping (SIGTERM): no upgrade from now on, and a new baton still starting is stopped. */
  close(): void {
    this.#closed = true;
    this.#abort?.('this baton is stopping');
  }

  handOver(): void {
    if (!this.#upgrading || this.#handedOver) return;
    this.#handedOver = true;
    this.#o.retire();
  }

  #startChild(source: UpgradeSource, timeoutMs: number): Promise<number> {
    const { stdio, inherited } = childDescriptors(source.listeners());
    const command = this.#o.command ?? {
      file: process.execPath,
      args: [...process.execArgv, ...process.argv.slice(1)],
    };
    const env = { ...(this.#o.env ?? process.env), [LISTENERS_ENV]: JSON.stringify(inherited) };
    const log = source.log;
    log.info({ command: [command.file, ...command.args].join(' ') }, 'Upgrade: starting the new baton');
    const child = spawn(command.file, command.args, { stdio, env, detached: true });
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        this.#abort = null;
        clearTimeout(timer);
        stopChild(child, log);
        reject(new UpgradeError(`the new baton did not start: ${why}`));
      };
      const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
      this.#abort = fail;
      child.on('error', (err) => fail(err.message));
      child.on('exit', (code, signal) => fail(signal !== null ? `it was killed (${signal})` : `it exited (${code})`));
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'failed') return fail(m.error);
        if (m.type !== 'ready' || settled) return;
        settled = true;
        this.#abort = null;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        if (child.connected) child.disconnect();
        child.unref(); // it outlives this process
        resolve(child.pid!);
      });
    });
  }
}

/** A new baton that failed: SIGTERM (a graceful stop, in case it accepted connections), SIGKILL after a grace. */
function stopChild(child: ChildProcess, log: Logger): void {
  if (child.connected) child.disconnect();
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) {
      log.warn({ pid: child.pid }, 'Upgrade: the failed new baton did not stop; killing it');
      child.kill('SIGKILL');
    }
  }, STOP_GRACE_MS);
  timer.unref();
  child.once('exit', () => clearTimeout(timer));
}
