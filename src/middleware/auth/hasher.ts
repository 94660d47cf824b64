// One basicAuth instance's worker thread for bcrypt and MD5-crypt checks (hash-worker.ts): started on the first
// check, stopped after 30 s without one (started again when needed), and when the instance's signal aborts. The
// thread is unref'd while no check is in flight and runs the checks one at a time, so a flood of wrong passwords
// costs at most one core and never the event loop; how many may wait is the Verifier's bound. A check that cannot
// be made (the worker failed, or the instance is gone) is a mismatch.
import { Worker } from 'node:worker_threads';
import type { PasswordHash } from './htpasswd.ts';

const IDLE_MS = 30_000;

interface Running {
  worker: Worker;
  pending: Map<number, (ok: boolean) => void>;
}

export class Hasher {
  readonly #idleMs: number;
  readonly #onError: (err: Error) => void;
  #running: Running | null = null;
  #nextId = 0;
  #idle: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(signal: AbortSignal, onError: (err: Error) => void = () => {}, idleMs = IDLE_MS) {
    this.#idleMs = idleMs;
    this.#onError = onError;
    if (signal.aborted) this.#closed = true;
    else signal.addEventListener('abort', () => this.close(), { once: true });
  }

  /** whether a worker thread runs now */
  get running(): boolean {
    return this.#running !== null;
  }

  verify(h: PasswordHash, password: string): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#idle !== null) {
      clearTimeout(this.#idle);
      this.#idle = null;
    }
    const r = this.#running ?? this.#start();
    const id = this.#nextId++;
    if (r.pending.size === 0) r.worker.ref(); // a check in flight keeps the process up; an idle thread does not
    return new Promise((resolve) => {
      r.pending.set(id, resolve);
      r.worker.postMessage({ id, kind: h.kind, text: h.text, password });
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#idle = null;
    this.#stop();
  }

  #start(): Running {
    const worker = new Worker(new URL('./hash-worker.ts', import.meta.url));
    worker.unref();
    const r: Running = { worker, pending: new Map() };
    worker.on('message', (m: { id: number; ok: boolean }) => {
      const resolve = r.pending.get(m.id);
      r.pending.delete(m.id);
      resolve?.(m.ok === true);
      if (r.pending.size > 0) return;
      worker.unref();
      if (this.#running === r) this.#armIdle();
    });
    worker.on('error', (err: Error) => this.#onError(err));
    worker.on('exit', () => {
      if (this.#running === r) this.#running = null;
      for (const resolve of r.pending.values()) resolve(false);
      r.pending.clear();
    });
    this.#running = r;
    return r;
  }

  #armIdle(): void {
    this.#idle = setTimeout(() => {
      this.#idle = null;
      this.#stop();
    }, this.#idleMs);
    this.#idle.unref();
  }

  #stop(): void {
    const r = this.#running;
    this.#running = null;
    if (r !== null) void r.worker.terminate();
  }
}
