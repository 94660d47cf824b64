// The report: one row per target and load (medians over its rounds, error counts summed), its ratio to the
// nginx proxy with the same load (plain rows: nginx proxy; TLS rows: nginx TLS proxy), the warnings that make a
// row not a valid throughput number, printed as a table and a one-line JSON summary.

import type { IdleResult } from './idle.ts';
import type { Options } from './options.ts';
import type { Pinning } from './pinning.ts';
import { batonReferenceOf, isTlsLoad, referenceOf, rowLabel, sameRow, type Load, type RowId } from './rows.ts';
import { WRK_THREADS, type Measured, type Sample } from './runner.ts';
import type { TargetName } from './targets.ts';

/** Below this server CPU the reference row was held back by something else (the load generator, mostly). */
const SATURATED_PCT = 85;

/** A row: medians over its samples (one per round), error counts summed. */
export interface RunResult extends RowId {
  label: string;
  samples: Sample[];
  rps: number;
  ratio: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  requests: number;
  non2xx3xx: number;
  socketErrors: Record<string, number>;
  failed: number | null;
  tls: string | null;
  alpn: string | null;
  serverCpuPct: number | null;
  /** requests per CPU-second of the server under test, over all rounds */
  perCore: number | null;
  /** perCore over the reference row's perCore */
  perCoreRatio: number | null;
  /** middleware rows: req/s over the plain baton row's req/s (null for other rows, or without a baton row) */
  vsBaton: number | null;
  /** middleware rows: perCore over the plain baton row's perCore */
  perCoreVsBaton: number | null;
  /** middleware rows: req/s over the plain baton row's req/s in each round (robust to drift between rounds) */
  vsBatonPerRound: number[];
  coreBusyPct: Record<string, number> | null;
  accessLogLines: number | null;
  /** the largest resident memory of the server seen after a round (MiB) */
  rssMb: number | null;
  warnings: string[];
  /** remarks that do not invalidate the row */
  notes: string[];
}

/** One row per measured row, in order, with ratios to its reference row (null without one). */
export function summarise(measured: Measured[]): RunResult[] {
  const results = measured.map((m) => aggregate(m.target, m.load, m.samples));
  for (const r of results) {
    const ref = results.find((x) => sameRow(x, referenceOf(r)));
    r.ratio = ref && ref.rps > 0 ? r.rps / ref.rps : null;
    r.perCoreRatio = ref?.perCore && r.perCore !== null ? r.perCore / ref.perCore : null;
    const bref = batonReferenceOf(r);
    const baton = bref === null ? undefined : results.find((x) => sameRow(x, bref));
    if (bref !== null && baton === undefined) r.notes.push('no plain baton row in this run: no "vs baton" ratio');
    r.vsBaton = baton && baton.rps > 0 ? r.rps / baton.rps : null;
    r.perCoreVsBaton = baton?.perCore && r.perCore !== null ? r.perCore / baton.perCore : null;
    if (baton !== undefined) {
      r.vsBatonPerRound = r.samples.map((s, i) => (baton.samples[i]?.rps ? s.rps / baton.samples[i].rps : NaN));
    }
    if (ref === undefined) continue;
    if (ref !== r && ref.tls !== null && r.tls !== null && ref.tls !== r.tls) {
      r.warnings.push(`negotiated ${r.tls}, the reference ${ref.tls}: not the same TLS`);
    }
    if (ref === r && r.serverCpuPct !== null && r.serverCpuPct < SATURATED_PCT) {
      r.notes.push(
        `server CPU only ${r.serverCpuPct.toFixed(0)}%: the load generator (or upstream) was the limit, so ` +
          'ratios against this row read high; compare ratio/core',
      );
    }
  }
  return results;
}

/** One proxy's idle-scale result (idle.ts). */
export interface IdleRow extends IdleResult {
  target: TargetName;
  label: string;
}

function printIdle(idle: IdleRow[]): void {
  if (idle.length === 0) return;
  console.log('');
  console.log(`idle scale: ${idle[0].connections} kept-alive client connections held 6 s through each proxy`);
  for (const r of idle) {
    const mb = (x: number | null) => (x === null ? '-' : `${x.toFixed(0)} MiB`);
    const per =
      r.rssHeldMb !== null && r.rssBeforeMb !== null && r.held > 0
        ? ((r.rssHeldMb - r.rssBeforeMb) * 1024) / r.held
        : null;
    const perConn = per === null ? '' : `, ${per.toFixed(1)} KiB per connection`;
    const err = r.firstError === null ? '' : ` (first: ${r.firstError})`;
    console.log(
      `  ${r.label}: held ${r.held}, failed ${r.failed}${err}; RSS ${mb(r.rssBeforeMb)} → ${mb(r.rssHeldMb)}${perConn}`,
    );
  }
}

/** The direct row may spread this much across rounds (max - min over the median) for the run to count. */
const MAX_DIRECT_SPREAD = 0.1;

/** Why the run's ratios cannot be trusted: a failed request anywhere, or a direct row that moved more than 10 %
 *  between rounds (the machine's speed changed under the run). Empty: the run is valid. */
export function invalidReasons(results: RunResult[]): string[] {
  const reasons: string[] = [];
  for (const r of results) {
    const failed = r.non2xx3xx + socketErrorCount(r.socketErrors) + (r.failed ?? 0);
    if (failed > 0) reasons.push(`${r.label}: ${failed} failed requests`);
  }
  const direct = results.find((r) => r.target === 'upstream' && r.load === 'http');
  if (direct !== undefined && direct.samples.length > 1 && direct.rps > 0) {
    const rps = direct.samples.map((s) => s.rps);
    const spread = (Math.max(...rps) - Math.min(...rps)) / direct.rps;
    if (spread > MAX_DIRECT_SPREAD) {
      reasons.push(`the direct row spread ${(spread * 100).toFixed(0)} % across rounds (at most 10 %)`);
    }
  }
  return reasons;
}

/** The table, its notes and warnings, the run's validity, and last the JSON line; `skipped` says which rows could
 *  not run. */
export function printReport(
  results: RunResult[],
  opts: Options,
  pin: Pinning,
  skipped: string | null,
  idle: IdleRow[] = [],
): void {
  console.log('');
  printTable(results, pin, opts.rounds);
  printIdle(idle);
  if (skipped !== null) console.log(`! ${skipped}`);
  const reasons = invalidReasons(results);
  // baton's idle connections must all hold; a reference's failures are its own config's (noted, not disqualifying)
  for (const r of idle) {
    if (r.failed === 0) continue;
    if (r.target.startsWith('baton')) reasons.push(`${r.label}: ${r.failed} idle connections failed`);
    else console.log(`note: ${r.label}: ${r.failed} of its idle connections failed (its own limits)`);
  }
  const once = opts.rounds < 2 ? " (one round: the direct row's spread is not known; --rounds 3 tells)" : '';
  console.log(reasons.length === 0 ? `run: valid${once}` : `run: INVALID: ${reasons.join('; ')}`);
  const json = {
    ...summaryJson(results, opts, pin),
    idle,
    skipped,
    valid: reasons.length === 0,
    invalidReasons: reasons,
  };
  console.log(JSON.stringify(json));
}

function aggregate(target: TargetName, load: Load, samples: Sample[]): RunResult {
  const nums = (pick: (s: Sample) => number | null): number[] =>
    samples.map(pick).filter((x): x is number => x !== null);
  const sum = (pick: (s: Sample) => number): number => samples.reduce((acc, s) => acc + pick(s), 0);
  let coreBusyPct: Record<string, number> | null = null;
  for (const cpu of new Set(samples.flatMap((s) => Object.keys(s.coreBusyPct ?? {})))) {
    const m = median(nums((s) => s.coreBusyPct?.[cpu] ?? null));
    if (m !== null) (coreBusyPct ??= {})[cpu] = m;
  }
  const sumErrors: Record<string, number> = {};
  for (const s of samples) for (const [k, v] of Object.entries(s.socketErrors)) sumErrors[k] = (sumErrors[k] ?? 0) + v;
  const cpuS = samples.map((s) => s.serverCpuS);
  const totalCpuS = cpuS.every((x) => x !== null) ? cpuS.reduce((a, b) => a + b, 0) : null;
  const distinct = (pick: (s: Sample) => string | null): string | null =>
    [...new Set(samples.map(pick).filter((x) => x !== null))].join(' / ') || null;
  return {
    target,
    load,
    label: rowLabel({ target, load }),
    samples,
    rps: median(samples.map((s) => s.rps)) ?? 0,
    ratio: null,
    p50Ms: median(nums((s) => s.p50Ms)),
    p99Ms: median(nums((s) => s.p99Ms)),
    requests: sum((s) => s.requests),
    non2xx3xx: sum((s) => s.non2xx3xx),
    socketErrors: sumErrors,
    failed: samples.some((s) => s.failed !== null) ? sum((s) => s.failed ?? 0) : null,
    tls: distinct((s) => s.tls),
    alpn: distinct((s) => s.alpn),
    serverCpuPct: median(nums((s) => s.serverCpuPct)),
    perCore: totalCpuS !== null && totalCpuS > 0 ? sum((s) => s.requests) / totalCpuS : null,
    perCoreRatio: null,
    vsBaton: null,
    perCoreVsBaton: null,
    vsBatonPerRound: [],
    coreBusyPct,
    accessLogLines: samples.some((s) => s.accessLogLines !== null) ? sum((s) => s.accessLogLines ?? 0) : null,
    rssMb: nums((s) => s.rssMb).reduce<number | null>((a, b) => Math.max(a ?? 0, b), null),
    warnings: [...new Set(samples.flatMap((s) => sampleWarnings(target, load, s)))],
    notes: [],
  };
}

/** Why a sample is not a valid throughput number; empty when it is. */
function sampleWarnings(target: TargetName, load: Load, s: Sample): string[] {
  const warnings: string[] = [];
  const tool = load === 'h2' || load === 'handshake' ? 'h2load' : 'wrk';
  if (s.serverExit !== null) warnings.push(`server exited during the run: ${s.serverExit}`);
  if (s.requests === 0) warnings.push('no requests completed');
  if (s.non2xx3xx > 0) warnings.push('some responses were not 2xx/3xx');
  if (socketErrorCount(s.socketErrors) > 0) warnings.push(`${tool} saw socket errors`);
  if (s.failed !== null && s.failed > socketErrorCount(s.socketErrors)) warnings.push('h2load saw failed requests');
  const alpn = load === 'h2' ? 'h2' : load === 'handshake' ? 'http/1.1' : null;
  if (alpn !== null && s.alpn !== alpn) warnings.push(`ALPN negotiated ${s.alpn ?? 'nothing'}, not ${alpn}`);
  if (s.accessLogLines !== null) {
    const logged = target === 'baton-log' || target === 'baton-real';
    if (logged && s.accessLogLines < s.requests * 0.9) {
      warnings.push(`stdout got ${s.accessLogLines} lines for ${s.requests} requests (is log.accessLog honoured?)`);
    }
    if (!logged && s.accessLogLines > s.requests * 0.1) {
      warnings.push(`stdout got ${s.accessLogLines} lines with the access log off`);
    }
  }
  return warnings;
}

const socketErrorCount = (se: Record<string, number>): number => Object.values(se).reduce((a, b) => a + b, 0);

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
  const vs = results.some((r) => batonReferenceOf(r) !== null);
  const head = [
    'target',
    'req/s',
    ...(rounds > 1 ? ['min..max'] : []),
    'ratio',
    ...(vs ? ['vs baton'] : []),
    'p50',
    'p99',
    'non-2xx/3xx',
    'sock err',
    'server CPU',
    'per core',
    'ratio/core',
    'RSS',
    ...cores.map((c) => `${c} busy`),
  ];
  const rows = results.map((r) => {
    const rps = r.samples.map((s) => s.rps);
    return [
      r.label + (r.warnings.length > 0 ? ' !' : ''),
      fmtInt(r.rps),
      ...(rounds > 1 ? [`${fmtInt(Math.min(...rps))}..${fmtInt(Math.max(...rps))}`] : []),
      r.ratio === null ? '-' : r.ratio.toFixed(2),
      ...(vs ? [fmtRatio(r.vsBaton)] : []),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      String(r.non2xx3xx),
      String(socketErrorCount(r.socketErrors)),
      r.serverCpuPct === null ? '-' : `${r.serverCpuPct.toFixed(0)}%`,
      r.perCore === null ? '-' : fmtInt(r.perCore),
      r.perCoreRatio === null ? '-' : r.perCoreRatio.toFixed(2),
      r.rssMb === null ? '-' : `${r.rssMb.toFixed(0)} MiB`,
      ...cores.map((c) => (r.coreBusyPct?.[c] === undefined ? '-' : `${r.coreBusyPct[c].toFixed(0)}%`)),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  const anyTls = results.some((r) => isTlsLoad(r.load));
  console.log(
    `ratio = req/s / nginx-as-proxy req/s${anyTls ? ' (TLS rows: / nginx TLS proxy with the same load)' : ''}` +
      `${rounds > 1 ? ` (medians of ${rounds} rounds)` : ''}; ` +
      'server CPU = CPU time of the server under test, 100% = one core; per core = requests per CPU-second of ' +
      'the server under test, ratio/core = the same against the reference; cpuN busy includes everything on that core',
  );
  if (vs) {
    console.log(
      "vs baton = req/s / the baton (access log off) row's req/s in the same run: the price of the middlewares",
    );
    for (const r of results.filter((x) => x.vsBaton !== null)) {
      const rounds = r.vsBatonPerRound.filter(Number.isFinite);
      const spread = rounds.length > 1 ? `; per round: median ${fmtRatio(median(rounds))}, ` : '';
      const range = rounds.length > 1 ? `${fmtRatio(Math.min(...rounds))}..${fmtRatio(Math.max(...rounds))}` : '';
      console.log(
        `  ${r.label}: vs baton ${fmtRatio(r.vsBaton)}, per core ${fmtRatio(r.perCoreVsBaton)}${spread}${range}`,
      );
    }
  }
  const metrics = metricsCost(results);
  if (metrics !== null) {
    const per = metrics.perRound.length > 1 ? `; per round: median ${fmtRatio(median(metrics.perRound))}` : '';
    console.log(
      `metrics on / off = baton / baton-nometrics req/s: ${fmtRatio(metrics.ratio)}, ` +
        `per core ${fmtRatio(metrics.perCore)}${per} (the price of metrics.enabled; target >= 0.95)`,
    );
  }
  const direct = results.find((r) => r.target === 'upstream' && r.load === 'http-c10');
  if (direct !== undefined && direct.p50Ms !== null && direct.p99Ms !== null) {
    console.log('added latency at c=10 = p50 / p99 over the direct upstream row at c=10:');
    for (const r of results.filter((x) => x.load === 'http-c10' && x.target !== 'upstream')) {
      const p50 = r.p50Ms === null ? null : r.p50Ms - direct.p50Ms;
      const p99 = r.p99Ms === null ? null : r.p99Ms - direct.p99Ms;
      console.log(`  ${r.label}: +${fmtMs(p50)} / +${fmtMs(p99)}`);
    }
  }
  if (results.some((r) => r.load === 'handshake')) {
    console.log('new TLS conns: req/s = new connections per second, each a full handshake and one HTTP/1.1 request');
  }
  const negotiated = results.filter((r) => r.tls !== null).map((r) => `${r.label}: ${r.tls}`);
  if (negotiated.length > 0) console.log(`TLS negotiated (h2load): ${negotiated.join('; ')}`);
  for (const r of results) for (const n of r.notes) console.log(`note: ${r.label}: ${n}`);
  for (const r of results) for (const w of r.warnings) console.log(`! ${r.label}: ${w}`);
}

/** baton (metrics on, the default) over baton-nometrics, plain HTTP: the inverse of the nometrics row's "vs baton". */
function metricsCost(results: RunResult[]): { ratio: number; perCore: number | null; perRound: number[] } | null {
  const off = results.find((r) => r.target === 'baton-nometrics' && r.load === 'http');
  if (off === undefined || off.vsBaton === null || off.vsBaton === 0) return null;
  const inv = (x: number | null) => (x === null || x === 0 ? null : 1 / x);
  const perRound = off.vsBatonPerRound.filter((x) => Number.isFinite(x) && x > 0).map((x) => 1 / x);
  return { ratio: 1 / off.vsBaton, perCore: inv(off.perCoreVsBaton), perRound };
}

function fmtMs(ms: number | null): string {
  if (ms === null || Number.isNaN(ms)) return '-';
  return ms < 1 ? `${(ms * 1000).toFixed(0)}us` : `${ms.toFixed(2)}ms`;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtRatio = (x: number | null): string => (x === null ? '-' : x.toFixed(2));
const round3 = (x: number | null): number | null => (x === null ? null : Number(x.toFixed(3)));

function summaryJson(results: RunResult[], opts: Options, pin: Pinning) {
  return {
    bench: 'wrk',
    node: process.version,
    wrk: { threads: WRK_THREADS, connections: opts.connections, duration: opts.duration, warmup: opts.warmup },
    h2load: { threads: 1, h2Clients: opts.h2Clients, h2Streams: opts.h2Streams, burstConnections: opts.connections },
    rounds: opts.rounds,
    layout: opts.layout,
    pinning: pin.description,
    metricsOnOff: round3(metricsCost(results)?.ratio ?? null),
    results: results.map((r) => ({
      target: r.target,
      load: r.load,
      rps: Math.round(r.rps),
      ratio: r.ratio === null ? null : Number(r.ratio.toFixed(3)),
      rpsPerRound: r.samples.map((s) => Math.round(s.rps)),
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      requests: r.requests,
      non2xx3xx: r.non2xx3xx,
      socketErrors: r.socketErrors,
      failed: r.failed,
      tls: r.tls,
      alpn: r.alpn,
      serverCpuPct: r.serverCpuPct === null ? null : Math.round(r.serverCpuPct),
      perCore: r.perCore === null ? null : Math.round(r.perCore),
      perCoreRatio: round3(r.perCoreRatio),
      ...(batonReferenceOf(r) === null
        ? {}
        : {
            vsBaton: round3(r.vsBaton),
            perCoreVsBaton: round3(r.perCoreVsBaton),
            vsBatonPerRound: r.vsBatonPerRound.map((x) => (Number.isFinite(x) ? round3(x) : null)),
          }),
      coreBusyPct:
        r.coreBusyPct === null
          ? null
          : Object.fromEntries(Object.entries(r.coreBusyPct).map(([k, v]) => [k, Math.round(v)])),
      accessLogLines: r.accessLogLines,
      rssMb: r.rssMb === null ? null : Math.round(r.rssMb),
      warnings: r.warnings,
      notes: r.notes,
    })),
  };
}
