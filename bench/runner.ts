// Measuring: every row (a target and its load: wrk over HTTP/1.1 or HTTPS/1.1, h2load over HTTP/2 or for new
// TLS connections), round after round with the rows interleaved, and around each run the CPU use and the
// access-log lines it caused.

import fs from 'node:fs';
import { cpuSince, markCpu, treeRssMb, usageOf, type CpuUsage } from './cpu-usage.ts';
import { handshakeBursts, runH2 } from './h2load.ts';
import { toMs, type LoadResult } from './load-result.ts';
import type { Options } from './options.ts';
import { pinned, type Pinning } from './pinning.ts';
import { isAlive, run } from './processes.ts';
import { rowLabel, SHAPES, type Load, type RowId } from './rows.ts';
import { BENCH_HOST, type Target } from './targets.ts';
import { tlsUrl } from './tls.ts';

/** the pause between a row's warm-up and its measurement */
const SETTLE_MS = 1000;

export const WRK_THREADS = 1;

/** One measured run of one row, with what was observed around it. */
export interface Sample extends LoadResult, CpuUsage {
  accessLogLines: number | null;
  /** the server's resident memory (its process tree) right after the run, MiB */
  rssMb: number | null;
  /** The server's stderr tail if it exited during the run, else null. */
  serverExit: string | null;
}

export interface Tools {
  wrk: string;
  h2load: string | null;
}

export interface Measured extends RowId {
  samples: Sample[];
}

/** Every row's samples, one per round, in the order of `rows`. */
export async function measureRounds(
  rows: RowId[],
  targets: Target[],
  tools: Tools,
  pin: Pinning,
  opts: Options,
): Promise<Measured[]> {
  // Rounds interleave the rows, so drift on a shared machine hits every row alike.
  const measured: Measured[] = rows.map((r) => ({ ...r, samples: [] }));
  for (let round = 1; round <= opts.rounds; round++) {
    for (const row of measured) {
      const roundNote = opts.rounds > 1 ? ` (round ${round}/${opts.rounds})` : '';
      process.stderr.write(`bench: measuring ${rowLabel(row)}${roundNote}\n`);
      const t = targets.find((x) => x.name === row.target)!;
      row.samples.push(await measure(t, row.load, tools, pin, opts, round === 1 ? opts.warmup : 0));
    }
  }
  return measured;
}

async function measure(
  t: Target,
  load: Load,
  tools: Tools,
  pin: Pinning,
  opts: Options,
  warmup: number,
): Promise<Sample> {
  const once = (seconds: number): Promise<LoadResult> => {
    if (load === 'h2') return runH2(tools.h2load!, pin, t.port, seconds, opts.h2Clients, opts.h2Streams);
    const shape = SHAPES[load] ?? {};
    return runWrk(tools.wrk, pin, load === 'https', t, seconds, shape.connections ?? opts.connections, shape.path);
  };
  if (warmup > 0) {
    if (load === 'handshake') await handshakeBursts(tools.h2load!, pin, t.port, warmup, opts.connections);
    else await once(warmup);
    // wrk drops its connections with requests in flight when it stops: the server's teardown of those (and, for a
    // proxy, of their upstream requests) must not bleed into the measurement. Back to back, even a bare Node
    // http.createServer shows 1 s p99s and wrk timeouts at c=500 (nginx does not): a bench artefact, not load.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
  const logLinesBefore = t.logFile === null ? 0 : countLines(t.logFile);
  let res: LoadResult;
  let usage: CpuUsage;
  if (load === 'handshake') {
    const pid = t.server.child.pid;
    const bursts = await handshakeBursts(tools.h2load!, pin, t.port, opts.duration, opts.connections, pid);
    res = bursts.result;
    usage = bursts.span === null ? { serverCpuPct: null, serverCpuS: null, coreBusyPct: null } : usageOf(bursts.span);
  } else {
    const cpu = markCpu(t.server.child.pid);
    res = await once(opts.duration);
    usage = cpuSince(cpu);
  }
  const rssMb = treeRssMb(t.server.child.pid);
  const serverExit = isAlive(t.server) ? null : t.server.stderrTail();
  const accessLogLines = t.logFile === null ? null : countLines(t.logFile) - logLinesBefore;
  return { ...res, ...usage, accessLogLines, rssMb, serverExit };
}

function countLines(file: string): number {
  const buf = fs.readFileSync(file);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// wrk: one bounded load run and its report.

async function runWrk(
  wrkBin: string,
  pin: Pinning,
  tls: boolean,
  t: Target,
  seconds: number,
  connections: number,
  urlPath = t.path,
): Promise<LoadResult> {
  // Over TLS wrk sends the URL's host as SNI (and Host), so the URL names the certificate's host.
  const target = tls ? [tlsUrl(t.port)] : ['-H', `Host: ${BENCH_HOST}`, `http://127.0.0.1:${t.port}${urlPath}`];
  const wrkArgs = [`-t${WRK_THREADS}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...target];
  const [cmd, args] = pinned(pin, pin.wrkCpu, wrkBin, wrkArgs);
  const { m, out } = await run('wrk', cmd, args, (seconds + 30) * 1000);
  if (m.child.exitCode !== 0) {
    throw new Error(`wrk failed (code ${m.child.exitCode}, signal ${m.child.signalCode})\n${m.stderrTail()}\n${out}`);
  }
  return parseWrk(out);
}

function parseWrk(out: string): LoadResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (!rps) throw new Error(`could not parse wrk output:\n${out}`);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)/m.exec(out);
  const pct = (p: string): number | null => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1], m[2]) : null;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requests: total ? Number(total[1]) : 0,
    seconds: total ? toMs(total[2], total[3]) / 1000 : 0,
    rps: Number(rps[1]),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    non2xx3xx: non ? Number(non[1]) : 0,
    socketErrors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    failed: null,
    tls: null,
    alpn: null,
  };
}
