// The report: one row per target (medians over its rounds, error counts summed), its ratio to nginx-as-proxy,
// the warnings that make a row not a valid throughput number, printed as a table and a one-line JSON summary.

import type { Options } from './options.ts';
import type { Pinning } from './pinning.ts';
import { WRK_THREADS, type Sample, type WrkResult } from './runner.ts';
import { TARGET_LABELS, type TargetName } from './targets.ts';

/** A target's row: medians over its samples (one per round), error counts summed. */
export interface RunResult {
  target: TargetName;
  label: string;
  samples: Sample[];
  rps: number;
  ratio: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  requests: number;
  non2xx3xx: number;
  socketErrors: WrkResult['socketErrors'];
  serverCpuPct: number | null;
  coreBusyPct: Record<string, number> | null;
  accessLogLines: number | null;
  warnings: string[];
}

/** One row per target, in the order measured, with ratios to the nginx proxy's row (null without one). */
export function summarise(samples: Map<TargetName, Sample[]>): RunResult[] {
  const results = [...samples].map(([target, s]) => aggregate(target, s));
  const base = results.find((r) => r.target === 'nginx')?.rps;
  for (const r of results) r.ratio = base ? r.rps / base : null;
  return results;
}

export function printReport(results: RunResult[], opts: Options, pin: Pinning): void {
  console.log('');
  printTable(results, pin, opts.rounds);
  console.log(JSON.stringify(summaryJson(results, opts, pin)));
}

function aggregate(target: TargetName, samples: Sample[]): RunResult {
  const nums = (pick: (s: Sample) => number | null): number[] =>
    samples.map(pick).filter((x): x is number => x !== null);
  const sum = (pick: (s: Sample) => number): number => samples.reduce((acc, s) => acc + pick(s), 0);
  let coreBusyPct: Record<string, number> | null = null;
  for (const cpu of new Set(samples.flatMap((s) => Object.keys(s.coreBusyPct ?? {})))) {
    const m = median(nums((s) => s.coreBusyPct?.[cpu] ?? null));
    if (m !== null) (coreBusyPct ??= {})[cpu] = m;
  }
  return {
    target,
    label: TARGET_LABELS[target],
    samples,
    rps: median(samples.map((s) => s.rps)) ?? 0,
    ratio: null,
    p50Ms: median(nums((s) => s.p50Ms)),
    p99Ms: median(nums((s) => s.p99Ms)),
    requests: sum((s) => s.requests),
    non2xx3xx: sum((s) => s.non2xx3xx),
    socketErrors: {
      connect: sum((s) => s.socketErrors.connect),
      read: sum((s) => s.socketErrors.read),
      write: sum((s) => s.socketErrors.write),
      timeout: sum((s) => s.socketErrors.timeout),
    },
    serverCpuPct: median(nums((s) => s.serverCpuPct)),
    coreBusyPct,
    accessLogLines: samples.some((s) => s.accessLogLines !== null) ? sum((s) => s.accessLogLines ?? 0) : null,
    warnings: [...new Set(samples.flatMap((s) => sampleWarnings(target, s)))],
  };
}

/** Why a sample is not a valid throughput number; empty when it is. */
function sampleWarnings(target: TargetName, s: Sample): string[] {
  const warnings: string[] = [];
  if (s.serverExit !== null) warnings.push(`server exited during the run: ${s.serverExit}`);
  if (s.requests === 0) warnings.push('no requests completed');
  if (s.non2xx3xx > 0) warnings.push('some responses were not 2xx/3xx');
  if (socketErrorCount(s.socketErrors) > 0) warnings.push('wrk saw socket errors');
  if (s.accessLogLines !== null) {
    if (target === 'baton-log' && s.accessLogLines < s.requests * 0.9) {
      warnings.push(`stdout got ${s.accessLogLines} lines for ${s.requests} requests (is log.accessLog honoured?)`);
    }
    if (target === 'baton' && s.accessLogLines > s.requests * 0.1) {
      warnings.push(`stdout got ${s.accessLogLines} lines with the access log off`);
    }
  }
  return warnings;
}

const socketErrorCount = (se: WrkResult['socketErrors']): number => se.connect + se.read + se.write + se.timeout;

function median(values: number[]): number | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// ---------------------------------------------------------------------------------------------------------
// Output.

function printTable(results: RunResult[], pin: Pinning, rounds: number): void {
  const cores = pin.serverCpu === null ? [] : [`cpu${pin.serverCpu}`, `cpu${pin.wrkCpu}`];
  const head = [
    'target',
    'req/s',
    ...(rounds > 1 ? ['min..max'] : []),
    'ratio',
    'p50',
    'p99',
    'non-2xx/3xx',
    'sock err',
    'server CPU',
    ...cores.map((c) => `${c} busy`),
  ];
  const rows = results.map((r) => {
    const rps = r.samples.map((s) => s.rps);
    return [
      r.label + (r.warnings.length > 0 ? ' !' : ''),
      fmtInt(r.rps),
      ...(rounds > 1 ? [`${fmtInt(Math.min(...rps))}..${fmtInt(Math.max(...rps))}`] : []),
      r.ratio === null ? '-' : r.ratio.toFixed(2),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      String(r.non2xx3xx),
      String(socketErrorCount(r.socketErrors)),
      r.serverCpuPct === null ? '-' : `${r.serverCpuPct.toFixed(0)}%`,
      ...cores.map((c) => (r.coreBusyPct?.[c] === undefined ? '-' : `${r.coreBusyPct[c].toFixed(0)}%`)),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log(
    `ratio = req/s / nginx-as-proxy req/s${rounds > 1 ? ` (medians of ${rounds} rounds)` : ''}; ` +
      'server CPU = CPU time of the server under test, 100% = one core; cpuN busy includes everything on that core',
  );
  for (const r of results) for (const w of r.warnings) console.log(`! ${r.label}: ${w}`);
}

function fmtMs(ms: number | null): string {
  if (ms === null || Number.isNaN(ms)) return '-';
  return ms < 1 ? `${(ms * 1000).toFixed(0)}us` : `${ms.toFixed(2)}ms`;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

function summaryJson(results: RunResult[], opts: Options, pin: Pinning) {
  return {
    bench: 'wrk',
    node: process.version,
    wrk: { threads: WRK_THREADS, connections: opts.connections, duration: opts.duration, warmup: opts.warmup },
    rounds: opts.rounds,
    layout: opts.layout,
    pinning: pin.description,
    results: results.map((r) => ({
      target: r.target,
      rps: Math.round(r.rps),
      ratio: r.ratio === null ? null : Number(r.ratio.toFixed(3)),
      rpsPerRound: r.samples.map((s) => Math.round(s.rps)),
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      requests: r.requests,
      non2xx3xx: r.non2xx3xx,
      socketErrors: r.socketErrors,
      serverCpuPct: r.serverCpuPct === null ? null : Math.round(r.serverCpuPct),
      coreBusyPct:
        r.coreBusyPct === null
          ? null
          : Object.fromEntries(Object.entries(r.coreBusyPct).map(([k, v]) => [k, Math.round(v)])),
      accessLogLines: r.accessLogLines,
      warnings: r.warnings,
    })),
  };
}
