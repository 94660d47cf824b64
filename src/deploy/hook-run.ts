// Runs one deploy hook, bounded by its timeout and by the deploy's signal: a command (child_process, no shell
// unless it is `sh -c …`, in a process group of its own so that a timeout kills everything it started) or the
// default export of a module. What it printed (a command's stdout and stderr, as they came) or logged (a module's
// ctx.log) is kept, its last OUTPUT_BYTES, for the deploy's step record.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { HookContext, HookLogger } from './hooks.ts';

/** how much of a hook's output is kept: the end, where a failure says why */
export const OUTPUT_BYTES = 4096;
/** a timed-out command's process group gets SIGTERM, then SIGKILL after this long */
const KILL_GRACE_MS = 2_000;
/** once a command exited, how long its pipes may stay open (held by a process that left its group) */
const PIPE_GRACE_MS = 1_000;

/** How a hook ended. */
export interface HookResult {
  ok: boolean;
  /** e.g. "exit code 0 in 120 ms", "timed out after 30000 ms (process group killed)", "threw: …" */
  summary: string;
  /** the last OUTPUT_BYTES of its output, trimmed; "" when it printed nothing */
  output: string;
}

/** The last `max` bytes of a stream of chunks. */
export class OutputTail {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #dropped = false;

  constructor(max = OUTPUT_BYTES) {
    this.#max = max;
  }

  push(chunk: Buffer | string): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#chunks.push(b);
    this.#bytes += b.length;
    while (this.#bytes - this.#chunks[0].length >= this.#max) {
      this.#bytes -= this.#chunks.shift()!.length;
      this.#dropped = true;
    }
  }

  text(): string {
    let all = Buffer.concat(this.#chunks);
    let cut = this.#dropped;
    if (all.length > this.#max) {
      all = all.subarray(all.length - this.#max);
      cut = true;
    }
    // a cut may split a UTF-8 sequence: drop the replacement characters it leaves at the start
    const text = all.toString('utf8').replace(/^\uFFFD+/, '');
    const trimmed = text.replace(/\s+$/, '');
    return cut ? `…${trimmed.replace(/^\s+/, '')}` : trimmed.replace(/^\s+/, '');
  }
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error && reason.name !== 'AbortError') return reason.message;
  return 'baton is shutting down';
}

/** A signal aborted by `parent` or after `ms`. dispose() clears the timer. */
function bounded(parent: AbortSignal, ms: number) {
  const timer = new AbortController();
  const handle = setTimeout(() => timer.abort(new Error(`timed out after ${ms} ms`)), ms);
  return {
    signal: AbortSignal.any([parent, timer.signal]),
    timedOut: () => timer.signal.aborted,
    dispose: () => clearTimeout(handle),
  };
}

export interface CommandOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  timeoutMs: number;
  /** the deploy's: aborting it kills the command like a timeout does */
  signal: AbortSignal;
}

/** Runs argv (no shell) in a new process group; exit code 0 is success. On timeout or abort the group gets
 *  SIGTERM, then SIGKILL; when the command exits, whatever it left running in its group is killed. */
export function runCommand(argv: string[], opts: CommandOptions): Promise<HookResult> {
  const started = Date.now();
  const tail = new OutputTail();
  const bounds = bounded(opts.signal, opts.timeoutMs);
  return new Promise((resolve) => {
    let settled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    let pipeTimer: NodeJS.Timeout | undefined;
    let child: ChildProcess;
    const killGroup = (sig: NodeJS.Signals): void => {
      if (child?.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: nothing of the group is left
      }
    };
    const onAbort = (): void => {
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const finish = (ok: boolean, summary: string): void => {
      if (settled) return;
      settled = true;
      bounds.signal.removeEventListener('abort', onAbort);
      bounds.dispose();
      clearTimeout(killTimer);
      clearTimeout(pipeTimer);
      resolve({ ok, summary, output: tail.text() });
    };
    const ended = (): void => {
      const ms = Date.now() - started;
      if (bounds.timedOut()) return finish(false, `timed out after ${opts.timeoutMs} ms (process group killed)`);
      if (opts.signal.aborted) return finish(false, `stopped: ${reasonText(opts.signal.reason)}`);
      if (exit?.code === 0) return finish(true, `exit code 0 in ${ms} ms`);
      if (exit?.code !== null && exit?.code !== undefined) return finish(false, `exit code ${exit.code} in ${ms} ms`);
      finish(false, `killed by ${exit?.signal ?? 'a signal'} after ${ms} ms`);
    };
    try {
      child = spawn(argv[0], argv.slice(1), {
        cwd: opts.cwd,
        env: opts.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (err) {
      return finish(false, `could not start ${argv[0]}: ${(err as Error).message}`);
    }
    child.stdout!.on('data', (c: Buffer) => tail.push(c));
    child.stderr!.on('data', (c: Buffer) => tail.push(c));
    child.on('error', (err) => finish(false, `could not start ${argv[0]}: ${err.message}`));
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      killGroup('SIGKILL'); // what it left behind in its group
      pipeTimer = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
        ended();
      }, PIPE_GRACE_MS);
    });
    child.on('close', ended);
    if (bounds.signal.aborted) onAbort();
    else bounds.signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface ModuleOptions {
  timeoutMs: number;
  signal: AbortSignal;
  /** baton's log for this hook: ctx.log writes there too */
  log: Logger;
}

/** Calls a hook module's default export with `ctx` (plus its signal and logger); throwing or rejecting is a
 *  failure. At the timeout (or abort) ctx.signal aborts and the hook counts as failed at once: a module that
 *  ignores its signal runs on, unawaited, and its outcome is ignored. */
export async function runModule(
  fn: (ctx: HookContext) => unknown,
  base: Omit<HookContext, 'signal' | 'log'>,
  opts: ModuleOptions,
): Promise<HookResult> {
  const started = Date.now();
  const tail = new OutputTail();
  const bounds = bounded(opts.signal, opts.timeoutMs);
  const line = (level: 'info' | 'warn' | 'error') => (message: string) => {
    tail.push(`${level === 'info' ? '' : `${level}: `}${message}\n`);
    opts.log[level](message);
  };
  const log: HookLogger = { info: line('info'), warn: line('warn'), error: line('error') };
  const ctx: HookContext = { ...base, log, signal: bounds.signal };
  let onAbort = (): void => {};
  try {
    await new Promise<void>((resolve, reject) => {
      onAbort = () => reject(bounds.signal.reason);
      if (bounds.signal.aborted) return onAbort();
      bounds.signal.addEventListener('abort', onAbort, { once: true });
      Promise.resolve()
        .then(() => fn(ctx))
        .then(() => resolve(), reject);
    });
    return { ok: true, summary: `done in ${Date.now() - started} ms`, output: tail.text() };
  } catch (err) {
    const summary = bounds.timedOut()
      ? `timed out after ${opts.timeoutMs} ms (its signal aborted)`
      : opts.signal.aborted
        ? `stopped: ${reasonText(opts.signal.reason)}`
        : `threw: ${err instanceof Error ? err.message : String(err)}`;
    if (!bounds.signal.aborted) opts.log.warn({ err }, 'Deploy hook threw');
    return { ok: false, summary, output: tail.text() };
  } finally {
    bounds.signal.removeEventListener('abort', onAbort);
    bounds.dispose();
  }
}
