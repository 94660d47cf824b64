// The load of bench/deploys.ts, a program of its own (so that its event loop is not the one timing the deploys):
//
//   node bench/deploys-load.ts <port> <host> <connections> <max seconds> <out prefix>
//
// autocannon, `GET /` with `Host: <host>` on <connections> kept-alive connections, until SIGUSR2 (or <max seconds>).
// Every request is accounted for, not only what autocannon counts (as test/fixtures/load.ts does): autocannon
// silently forgets a request whose connection ends before the answer (it reconnects and moves on), so each
// connection's request in flight is tracked from its write to its outcome:
//   answered     a response (its completion time and latency are kept, 2xx or not; non-2xx is a failure)
//   error        autocannon's connError with the request in flight
//   timeout      no answer within 10 s
//   unanswered   the connection closed under it, without an answer or an error
//   afterClose   written on a socket whose previous answer said `Connection: close` (autocannon reuses it; a real
//                client would not): autocannon's artifact, counted apart, not a failure
//   stuck        still in flight at the stop after more than 2 s (a failure); younger ones are just cut off
// Writes <out prefix>.bin (Float64 pairs: completion time in epoch ms, latency in ms, one pair per answer) and
// <out prefix>.json (LoadSummary: the counts and every failure with its time).

import fs from 'node:fs';
import { createRequire } from 'node:module';

export interface LoadFailure {
  /** epoch ms when the outcome was known */
  at: number;
  kind: 'non-2xx' | 'error' | 'timeout' | 'unanswered' | 'stuck';
  /** HTTP status, X-Baton-Error, or the socket error's code/message */
  detail: string;
}

export interface LoadSummary {
  startedAt: number;
  stoppedAt: number;
  /** requests written */
  sent: number;
  answered: number;
  ok2xx: number;
  afterClose: number;
  /** in flight at the stop for less than 2 s (cut off by the stop itself, not failures) */
  cutAtStop: number;
  failures: LoadFailure[];
  /** autocannon's own totals, to cross-check */
  autocannon: { errors: number; timeouts: number; non2xx: number; ok2xx: number };
}

interface AcClient {
  reqsMade: number;
  conn: unknown;
  on(event: string, fn: (...args: never[]) => void): void;
}
interface AcInstance extends PromiseLike<Record<string, number>> {
  stop(): void;
}

const STUCK_MS = 2000;

function main(): void {
  const [port, host, connections, maxSeconds, out] = process.argv.slice(2);
  if (out === undefined) throw new Error('usage: deploys-load.ts <port> <host> <connections> <max seconds> <out>');
  const require = createRequire(import.meta.url);
  const autocannon = require('autocannon') as (opts: Record<string, unknown>) => AcInstance;

  let samples = new Float64Array(1 << 20);
  let n = 0;
  const record = (at: number, latency: number): void => {
    if (n + 2 > samples.length) {
      const bigger = new Float64Array(samples.length * 2);
      bigger.set(samples);
      samples = bigger;
    }
    samples[n++] = at;
    samples[n++] = latency;
  };
  const s: LoadSummary = {
    startedAt: Date.now(),
    stoppedAt: 0,
    sent: 0,
    answered: 0,
    ok2xx: 0,
    afterClose: 0,
    cutAtStop: 0,
    failures: [],
    autocannon: { errors: 0, timeouts: 0, non2xx: 0, ok2xx: 0 },
  };
  const pendings: Array<() => number | null> = [];

  const setupClient = (client: AcClient): void => {
    /** write time of the request in flight on this connection, null when none */
    let pendingSince: number | null = null;
    let afterClose = false;
    let closeSocket: unknown = null;
    let lastStatus = 0;
    let lastBatonError = '';
    /** the failure recorded as `unanswered` just now, when the next request was written: autocannon reports a
     *  timeout right after that reconnect, in the same tick */
    let justLost: LoadFailure | null = null;
    pendings.push(() => pendingSince);
    const fail = (kind: LoadFailure['kind'], detail: string): LoadFailure => {
      const f = { at: Date.now(), kind, detail };
      s.failures.push(f);
      pendingSince = null;
      return f;
    };
    client.on('request', () => {
      if (pendingSince !== null) {
        if (afterClose) {
          s.afterClose++;
          pendingSince = null;
        } else {
          justLost = fail('unanswered', 'connection closed without an answer');
          queueMicrotask(() => (justLost = null));
        }
      }
      s.sent++;
      pendingSince = Date.now();
      afterClose = closeSocket !== null && client.conn === closeSocket;
    });
    client.on('headers', (info: { statusCode: number; headers: string[]; shouldKeepAlive: boolean }) => {
      lastStatus = info.statusCode;
      lastBatonError = '';
      for (let i = 0; i < info.headers.length; i += 2) {
        if (info.headers[i].toLowerCase() === 'x-baton-error') lastBatonError = info.headers[i + 1];
      }
      if (!info.shouldKeepAlive) closeSocket = client.conn;
    });
    client.on('response', (statusCode: number, _bytes: number, latency: number) => {
      const now = Date.now();
      s.answered++;
      record(now, latency);
      if (statusCode >= 200 && statusCode < 300) {
        s.ok2xx++;
        pendingSince = null;
      } else {
        fail('non-2xx', `HTTP ${lastStatus}${lastBatonError ? ` ${lastBatonError}` : ''}`);
      }
    });
    client.on('connError', (err: NodeJS.ErrnoException) => {
      if (pendingSince !== null) fail('error', err.code ?? err.message);
    });
    client.on('timeout', () => {
      if (justLost !== null) {
        justLost.kind = 'timeout';
        justLost.detail = 'no answer within 10 s';
        justLost = null;
      } else if (pendingSince !== null) {
        fail('timeout', 'no answer within 10 s');
      }
    });
  };

  const instance = autocannon({
    url: `http://127.0.0.1:${port}/`,
    headers: { host },
    connections: Number(connections),
    duration: Number(maxSeconds),
    timeout: 10,
    sampleInt: 100,
    setupClient,
  });
  process.on('SIGUSR2', () => instance.stop());
  // the parent stops it; SIGTERM (the bench's clean-up) ends it at once
  process.on('SIGTERM', () => process.exit(143));
  instance.then((ac) => {
    s.stoppedAt = Date.now();
    for (const pending of pendings) {
      const since = pending();
      if (since === null) continue;
      if (s.stoppedAt - since > STUCK_MS) s.failures.push({ at: s.stoppedAt, kind: 'stuck', detail: 'in flight' });
      else s.cutAtStop++;
    }
    s.autocannon = { errors: ac.errors, timeouts: ac.timeouts, non2xx: ac.non2xx, ok2xx: ac['2xx'] };
    fs.writeFileSync(`${out}.bin`, new Uint8Array(samples.buffer, 0, n * 8));
    fs.writeFileSync(`${out}.json`, JSON.stringify(s));
    process.exit(0);
  });
}

/** What the load wrote: its summary and its answers (completion time, latency) as parallel arrays. */
export function readLoad(out: string): { summary: LoadSummary; at: Float64Array; latency: Float64Array } {
  const summary = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')) as LoadSummary;
  const buf = fs.readFileSync(`${out}.bin`);
  // copied: a Float64Array needs an 8-byte aligned offset, which a Buffer's is not always
  const pairs = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const at = new Float64Array(pairs.length / 2);
  const latency = new Float64Array(pairs.length / 2);
  for (let i = 0; i < at.length; i++) {
    at[i] = pairs[2 * i];
    latency[i] = pairs[2 * i + 1];
  }
  return { summary, at, latency };
}

if (import.meta.main) main();
