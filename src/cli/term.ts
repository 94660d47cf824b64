// What the long-running commands (deploy progress, status --watch, events) need of the terminal: whether stdout
// is one, and Ctrl-C turned into an AbortSignal whose handler is removed again when the command ends.
import { processIo, type Io } from './io.ts';

/** Exit code when Ctrl-C stops `baton deploy` from following: the deploy goes on in baton (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/** An Io that may say whether its stdout is a terminal (tests); the process's own Io asks process.stdout. */
export type TermIo = Io & { isTTY?: boolean };

export function stdoutIsTTY(io: TermIo): boolean {
  return io.isTTY ?? (io === processIo && process.stdout.isTTY === true);
}

/** Plain output (CI logs) unless stdout is a terminal that can draw: `--plain`, not a TTY, or TERM=dumb. */
export function wantsPlain(plainFlag: boolean | undefined, isTTY: boolean, env: NodeJS.ProcessEnv): boolean {
  return plainFlag === true || !isTTY || env.TERM === 'dumb';
}

export interface Interrupt {
  /** aborted on the first SIGINT */
  signal: AbortSignal;
  /** removes the SIGINT handler */
  dispose: () => void;
}

/** Catches SIGINT until disposed: the first aborts the signal (the command ends cleanly, its handler is removed
 *  then); a second one while it is still winding down falls through to Node's default (exit). */
export function catchInterrupt(): Interrupt {
  const controller = new AbortController();
  const onSigint = () => {
    process.off('SIGINT', onSigint);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

/** Waits `ms`, or less if the signal aborts; never rejects, and leaves no timer or listener behind. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
