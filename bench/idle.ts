// Idle scale (`--idle N`): N concurrent keep-alive client connections held open through each proxy, each one a real
// HTTP/1.1 client that made a request: the proxy's resident memory before and while it holds them, and how many
// connections failed (refused, reset, closed early, or a non-200 answer). The connections are opened in batches,
// then each makes a request every HOLD_EVERY_MS for HOLD_MS — so a proxy's idle timeout (baton's 5 s) does not close
// them — and all are closed at the end. Bounded in count (N) and time (every wait has a deadline).

import net from 'node:net';
import { treeRssMb } from './cpu-usage.ts';
import { BENCH_HOST } from './ready.ts';

const BATCH = 500;
const HOLD_MS = 6_000;
const HOLD_EVERY_MS = 2_000;
const ANSWER_TIMEOUT_MS = 10_000;

export interface IdleResult {
  connections: number;
  held: number;
  failed: number;
  firstError: string | null;
  rssBeforeMb: number | null;
  rssHeldMb: number | null;
}

/** One kept-alive client connection that sends GETs and reads their answers (Content-Length bodies). */
class Conn {
  readonly socket: net.Socket;
  #buf = '';
  #waiting: { resolve: () => void; reject: (err: Error) => void } | null = null;
  error: string | null = null;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => {
      this.#buf += chunk;
      this.#check();
    });
    this.socket.on('error', (err) => this.#fail(err.message));
    this.socket.on('close', () => this.#fail('closed by the proxy'));
  }

  get(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail('no answer within 10 s'), ANSWER_TIMEOUT_MS);
      this.#waiting = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
      this.socket.write(`GET / HTTP/1.1\r\nHost: ${BENCH_HOST}\r\n\r\n`);
    });
  }

  #check(): void {
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end === -1 || this.#waiting === null) return;
    const head = this.#buf.slice(0, end);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.#buf.length < end + 4 + length) return;
    this.#buf = this.#buf.slice(end + 4 + length);
    const w = this.#waiting;
    this.#waiting = null;
    if (/^HTTP\/1\.1 200 /.test(head)) w.resolve();
    else w.reject(new Error(`answered ${head.split('\r\n')[0]}`));
  }

  #fail(why: string): void {
    this.error ??= why;
    const w = this.#waiting;
    this.#waiting = null;
    w?.reject(new Error(why));
  }
}

/** Opens `n` connections to `port`, holds them for HOLD_MS, measures the server's RSS, closes them. */
export async function idleScale(port: number, n: number, serverPid: number | undefined): Promise<IdleResult> {
  const rssBeforeMb = treeRssMb(serverPid);
  const conns: Conn[] = [];
  const errors: string[] = [];
  const settle = (c: Conn, p: Promise<void>) => p.catch((err: Error) => void errors.push(c.error ?? err.message));
  for (let i = 0; i < n; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, n - i) }, () => new Conn(port));
    conns.push(...batch);
    await Promise.all(batch.map((c) => settle(c, c.get())));
  }
  const deadline = Date.now() + HOLD_MS;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, HOLD_EVERY_MS));
    await Promise.all(conns.filter((c) => c.error === null).map((c) => settle(c, c.get())));
  }
  const rssHeldMb = treeRssMb(serverPid);
  const held = conns.filter((c) => c.error === null).length;
  for (const c of conns) c.socket.destroy();
  return { connections: n, held, failed: n - held, firstError: errors[0] ?? null, rssBeforeMb, rssHeldMb };
}
