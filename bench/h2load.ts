// h2load: HTTP/2 over kept-alive TLS connections (one bounded -D run), and new TLS connections per second
// (back-to-back bursts of `-c n -n n`: every client makes one connection, one full handshake, one request).

import { addSpans, markCpu, spanSince, type CpuSpan } from './cpu-usage.ts';
import { pinned, type Pinning } from './pinning.ts';
import { run } from './processes.ts';
import { toMs, type LoadResult } from './load-result.ts';
import { tlsUrl } from './tls.ts';

/** Longest a single burst may take before it is killed (a burst normally takes tens of milliseconds). */
const BURST_TIMEOUT_MS = 30_000;

/** HTTP/2: `clients` connections with `streams` requests in flight on each, for `seconds`. */
export function runH2(bin: string, pin: Pinning, port: number, seconds: number, clients: number, streams: number) {
  const args = ['-t1', `-c${clients}`, `-m${streams}`, `-D${seconds}`, `--connect-to=127.0.0.1:${port}`, tlsUrl(port)];
  return runH2load(bin, pin, args, (seconds + 30) * 1000);
}

/**
 * New TLS connections: `h2load --h1 -c n -n n` over and over until `seconds` of wall time have passed. Each run
 * is a fresh process, so no session is resumed: every connection is a full handshake. The rate is the requests
 * over the sum of h2load's own run times (not the gaps between runs); with `pid`, the server's CPU is counted
 * over the runs only.
 */
export async function handshakeBursts(
  bin: string,
  pin: Pinning,
  port: number,
  seconds: number,
  connections: number,
  pid?: number,
): Promise<{ result: LoadResult; span: CpuSpan | null }> {
  const args = ['-t1', '--h1', `-c${connections}`, `-n${connections}`, `--connect-to=127.0.0.1:${port}`, tlsUrl(port)];
  const deadline = Date.now() + seconds * 1000;
  let result: LoadResult | null = null;
  let span: CpuSpan | null = null;
  do {
    const mark = pid === undefined ? null : markCpu(pid);
    const burst = await runH2load(bin, pin, args, BURST_TIMEOUT_MS);
    if (mark !== null) span = addSpans(span, spanSince(mark));
    result = result === null ? burst : merge(result, burst);
    if (burst.requests === 0) break; // nothing got through: the warnings say why, more bursts would not
  } while (Date.now() < deadline);
  return { result, span };
}

function merge(a: LoadResult, b: LoadResult): LoadResult {
  const requests = a.requests + b.requests;
  const seconds = a.seconds + b.seconds;
  const socketErrors: Record<string, number> = { ...a.socketErrors };
  for (const [k, v] of Object.entries(b.socketErrors)) socketErrors[k] = (socketErrors[k] ?? 0) + v;
  return {
    requests,
    seconds,
    rps: seconds > 0 ? requests / seconds : 0,
    p50Ms: null,
    p99Ms: null,
    non2xx3xx: a.non2xx3xx + b.non2xx3xx,
    socketErrors,
    failed: (a.failed ?? 0) + (b.failed ?? 0),
    tls: a.tls === b.tls || b.tls === null ? a.tls : `${a.tls ?? '?'} / ${b.tls}`,
    alpn: a.alpn === b.alpn || b.alpn === null ? a.alpn : `${a.alpn ?? '?'} / ${b.alpn}`,
  };
}

async function runH2load(bin: string, pin: Pinning, h2loadArgs: string[], timeoutMs: number): Promise<LoadResult> {
  const [cmd, args] = pinned(pin, pin.wrkCpu, bin, h2loadArgs);
  const { m, out } = await run('h2load', cmd, args, timeoutMs);
  if (m.child.exitCode !== 0) {
    const how = `code ${m.child.exitCode}, signal ${m.child.signalCode}`;
    throw new Error(`h2load failed (${how}): ${h2loadArgs.join(' ')}\n${m.stderrTail()}\n${out}`);
  }
  return parseH2load(out);
}

export function parseH2load(out: string): LoadResult {
  const fin = /^finished in ([\d.]+)(us|ms|s|m|h), ([\d.]+) req\/s/m.exec(out);
  const n = '(\\d+)';
  const counts = `${n} total, ${n} started, ${n} done, ${n} succeeded, ${n} failed, ${n} errored, ${n} timeout`;
  const req = new RegExp(`^requests: ${counts}`, 'm').exec(out);
  if (!fin || !req) throw new Error(`could not parse h2load output:\n${out}`);
  const status = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(out);
  const line = (name: string): string | null => new RegExp(`^${name}: (.+)$`, 'm').exec(out)?.[1]?.trim() ?? null;
  const protocol = line('TLS Protocol');
  const group = line('Server Temp Key')?.split(' ')[0];
  return {
    requests: Number(req[4]),
    seconds: toMs(fin[1], fin[2]) / 1000,
    rps: Number(fin[3]),
    p50Ms: null,
    p99Ms: null,
    non2xx3xx: status ? Number(status[3]) + Number(status[4]) : 0,
    socketErrors: { errored: Number(req[6]), timeout: Number(req[7]) },
    failed: Number(req[5]),
    tls: protocol === null ? null : [protocol, line('Cipher'), group].filter((x) => x).join(' '),
    alpn: line('Application protocol'),
  };
}
