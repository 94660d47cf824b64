// Measuring: wrk against every target, round after round with the targets interleaved, and around each wrk
// run the CPU use and the access-log lines it caused.

import fs from 'node:fs';
import { cpuSince, markCpu, type CpuUsage } from './cpu-usage.ts';
import type { Options } from './options.ts';
import { pinned, type Pinning } from './pinning.ts';
import { isAlive, run } from './processes.ts';
import { BENCH_HOST, TARGET_LABELS, type Target, type TargetName } from './targets.ts';

export const WRK_THREADS = 1;

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  non2xx3xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

/** One measured wrk run of one target, with what was observed around it. */
export interface Sample extends WrkResult, CpuUsage {
  accessLogLines: number | null;
  /** The server's stderr tail if it exited during the run, else null. */
  serverExit: string | null;
}

/** Every target's samples, one per round, in the order of `targets`. */
export async function measureRounds(
  targets: Target[],
  wrkBin: string,
  pin: Pinning,
  opts: Options,
): Promise<Map<TargetName, Sample[]>> {
  // Rounds interleave the targets, so drift on a shared machine hits every row alike.
  const samples = new Map<TargetName, Sample[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= opts.rounds; round++) {
    for (const t of targets) {
      const roundNote = opts.rounds > 1 ? ` (round ${round}/${opts.rounds})` : '';
      process.stderr.write(`bench: measuring ${TARGET_LABELS[t.name]}${roundNote}\n`);
      samples.get(t.name)!.push(await measure(t, wrkBin, pin, opts, round === 1 ? opts.warmup : 0));
    }
  }
  return samples;
}

async function measure(t: Target, wrkBin: string, pin: Pinning, opts: Options, warmup: number): Promise<Sample> {
  if (warmup > 0) await runWrk(wrkBin, pin, t.port, warmup, opts.connections);
  const logLinesBefore = t.logFile === null ? 0 : countLines(t.logFile);
  const cpu = markCpu(t.server.child.pid);
  const res = await runWrk(wrkBin, pin, t.port, opts.duration, opts.connections);
  const usage = cpuSince(cpu);
  const serverExit = isAlive(t.server) ? null : t.server.stderrTail();
  const accessLogLines = t.logFile === null ? null : countLines(t.logFile) - logLinesBefore;
  return { ...res, ...usage, accessLogLines, serverExit };
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
  port: number,
  seconds: number,
  connections: number,
): Promise<WrkResult> {
  const wrkArgs = [
    `-t${WRK_THREADS}`,
    `-c${connections}`,
    `-d${seconds}s`,
    '--latency',
    '-H',
    `Host: ${BENCH_HOST}`,
    `http://127.0.0.1:${port}/`,
  ];
  const [cmd, args] = pinned(pin, pin.wrkCpu, wrkBin, wrkArgs);
  const { m, out } = await run('wrk', cmd, args);
  if (m.child.exitCode !== 0) {
    throw new Error(`wrk failed (code ${m.child.exitCode}, signal ${m.child.signalCode})\n${m.stderrTail()}\n${out}`);
  }
  return parseWrk(out);
}

function parseWrk(out: string): WrkResult {
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
  };
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    case 'h':
      return n * 3_600_000;
    default:
      return Number.NaN;
  }
}
