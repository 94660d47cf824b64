// Child programs: finding executables, starting them as tracked children (and temp dirs), and tearing all of
// them down on every exit path: the normal end, an error, a signal, and as a last resort process exit.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const STOP_TIMEOUT_MS = 10_000;

export interface Managed {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  stderrTail: () => string;
}

const managed = new Set<Managed>();
const tempDirs = new Set<string>();

export function findExecutable(name: string): string | null {
  // nginx lives in /usr/sbin, which is not on every user's PATH.
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** A fresh directory under the OS temp dir, removed with the children. */
export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

interface StartOptions {
  cwd?: string;
  stdout?: 'ignore' | 'pipe' | { file: string };
  /** default: this process's environment */
  env?: NodeJS.ProcessEnv;
}

export function start(name: string, cmd: string, args: string[], opts: StartOptions = {}): Managed {
  const out = opts.stdout ?? 'ignore';
  const stdoutFd = typeof out === 'string' ? out : fs.openSync(out.file, 'w');
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    detached: true,
    stdio: ['ignore', stdoutFd, 'pipe'],
    env: opts.env ?? process.env,
  });
  if (typeof stdoutFd === 'number') fs.closeSync(stdoutFd);
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-8192);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      tail += `\nspawn error: ${err.message}`;
      resolve();
    });
  });
  const m: Managed = { name, child, exited, stderrTail: () => tail.trim() };
  managed.add(m);
  return m;
}

/** Starts a program and waits for its end, collecting its stdout; past `timeoutMs` it is killed (SIGKILL). */
export async function run(
  name: string,
  cmd: string,
  args: string[],
  timeoutMs?: number,
): Promise<{ m: Managed; out: string }> {
  const m = start(name, cmd, args, { stdout: 'pipe' });
  let out = '';
  m.child.stdout?.setEncoding('utf8');
  m.child.stdout?.on('data', (chunk: string) => (out += chunk));
  // 'exit' can come before the last of stdout: wait for the pipe to close too.
  const drained = new Promise<void>((resolve) => {
    if (m.child.stdout === null) resolve();
    else m.child.stdout.once('close', () => resolve());
  });
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => killGroup(m, 'SIGKILL'), timeoutMs);
  await Promise.all([m.exited, drained]);
  clearTimeout(timer);
  managed.delete(m);
  return { m, out };
}

export function isAlive(m: Managed): boolean {
  return m.child.exitCode === null && m.child.signalCode === null;
}

function killGroup(m: Managed, signal: NodeJS.Signals): void {
  const pid = m.child.pid;
  if (pid === undefined) return;
  try {
    // Children are started detached: each is the leader of its own process group, so this reaches nginx's
    // workers too (an nginx worker outlives a master killed alone).
    process.kill(-pid, signal);
  } catch {
    try {
      m.child.kill(signal);
    } catch {
      // already gone
    }
  }
}

async function stopManaged(m: Managed): Promise<void> {
  if (isAlive(m)) {
    killGroup(m, 'SIGTERM');
    const timedOut = await Promise.race([
      m.exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS, true).unref()),
    ]);
    if (timedOut) {
      process.stderr.write(`bench: ${m.name} did not stop within ${STOP_TIMEOUT_MS} ms, sending SIGKILL\n`);
    }
  }
  // Whatever is left of the group (e.g. a worker whose master died) goes now.
  killGroup(m, 'SIGKILL');
  managed.delete(m);
}

let cleaningUp: Promise<void> | null = null;

/** Stops every child and removes every temp dir; every call after the first returns the same promise. */
export function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    await Promise.all([...managed].map((m) => stopManaged(m)));
    for (const dir of tempDirs) {
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    }
  })();
  return cleaningUp;
}

/** Whether cleanup() has begun (e.g. after a signal, when the children are gone on purpose). */
export function stopping(): boolean {
  return cleaningUp !== null;
}

// Last resort when the process exits without running cleanup() to the end (synchronous only).
process.on('exit', () => {
  for (const m of managed) killGroup(m, 'SIGKILL');
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal} received, stopping children\n`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}
