// bench/deploys.ts's numbers: the load's answers and failures put into the steady window and each deploy's
// window, each deploy's time split along its journaled steps, the targets, the table and the JSON line.

import type { LoadFailure, LoadSummary } from './deploys-load.ts';

/** The steps of a deploy record, as GET /api/deploys/{id} gives them. */
export interface Step {
  at: string;
  action: string;
  status: string;
  containers: string[];
  detail?: string;
}

/** One batch of a rolling deploy: the containers it started and when they got ready. */
export interface Batch {
  names: string[];
  /** epoch ms: its `create` step began */
  createAt: number;
  /** epoch ms: the last of its containers began to listen (its log), null when unknown */
  listenAt: number | null;
  /** epoch ms: the last of its containers turned `healthy` in baton (/api/events), null when unknown */
  healthyAt: number | null;
  /** epoch ms: its `health gate` step was done (the deploy moves on) */
  gateDoneAt: number | null;
}

export interface DeployRun {
  n: number;
  image: string;
  id: string;
  state: string;
  error?: string;
  /** epoch ms: the POST was sent / baton's finishedAt */
  t0: number;
  t1: number;
  steps: Step[];
  batches: Batch[];
  /** the image's median boot measured apart, ms: a batch's boot when its containers' logs are not readable */
  bootFallback: number;
  /** configured waits (monitor windows, delays), ms */
  waits: number;
}

/** The batches of a deploy from its steps: each `create` begins one, its `health gate` done ends it. */
export function batchesOf(steps: Step[]): Batch[] {
  const out: Batch[] = [];
  for (const s of steps) {
    if (s.action === 'create' && s.status === 'started') {
      out.push({ names: s.containers, createAt: Date.parse(s.at), listenAt: null, healthyAt: null, gateDoneAt: null });
    } else if (s.action === 'health gate' && s.status === 'done') {
      const b = out.find((x) => x.names.join() === s.containers.join());
      if (b !== undefined) b.gateDoneAt = Date.parse(s.at);
    }
  }
  return out;
}

export interface Boot {
  image: string;
  samples: number[];
  median: number;
}

export interface Load {
  summary: LoadSummary;
  at: Float64Array;
  latency: Float64Array;
}

export interface Inputs {
  options: Record<string, unknown>;
  load: Load;
  steady: { t0: number; t1: number };
  /** while the boot samples ran: containers booting under the load, no deploy (a control for the p99) */
  bootWindow: { t0: number; t1: number };
  boots: Boot[];
  deploys: DeployRun[];
  /** baton's counters over the deploys (from /metrics, after minus before) */
  baton: { retries: number; http5xx: number; unavailable: number };
  /** baton's log records at warn or above during the load */
  batonWarnings: { own: string[]; foreign: number };
}

export const TARGETS = { maxFailed: 0, maxOverheadMs: 1500, maxP99Ratio: 2 };
export const MIN_REQUESTS = 100_000;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
export { median };

function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

interface Window {
  answers: number;
  latencies: number[];
  failures: LoadFailure[];
}

function window(load: Load, t0: number, t1: number): Window {
  const latencies: number[] = [];
  for (let i = 0; i < load.at.length; i++) if (load.at[i] >= t0 && load.at[i] <= t1) latencies.push(load.latency[i]);
  const failures = load.summary.failures.filter((f) => f.at >= t0 && f.at <= t1);
  // a non-2xx answer is among the answers already
  const unanswered = failures.filter((f) => f.kind !== 'non-2xx').length;
  return { answers: latencies.length + unanswered, latencies, failures };
}

/** Time spent retiring old containers (started → done/failed), summed over the batches. A stop counts only until
 *  the deploy moves on to another step: baton stops a batch's old containers alongside the next batch. */
function phases(steps: Step[]): Record<'drain' | 'stop', number> {
  const out = { drain: 0, stop: 0 };
  const bucket = (action: string): keyof typeof out | null =>
    action.endsWith(': drain') ? 'drain' : action.endsWith(': stop') ? 'stop' : null;
  const open = new Map<string, number>();
  /** stops in progress when another step started: counted up to then */
  const cut = new Map<string, number>();
  for (const s of steps) {
    const at = Date.parse(s.at);
    if (s.status === 'started') {
      if (bucket(s.action) !== 'stop')
        for (const a of open.keys()) if (bucket(a) === 'stop' && !cut.has(a)) cut.set(a, at);
      open.set(s.action, at);
    } else if (open.has(s.action)) {
      const b = bucket(s.action);
      if (b !== null) out[b] += Math.min(at, cut.get(s.action) ?? at) - open.get(s.action)!;
      open.delete(s.action);
      cut.delete(s.action);
    }
  }
  return out;
}

export function analyse(inp: Inputs) {
  const { load } = inp;
  const steady = window(load, inp.steady.t0, inp.steady.t1);
  const control = window(load, inp.bootWindow.t0, inp.bootWindow.t1);
  const rows = inp.deploys.map((d) => {
    const w = window(load, d.t0, d.t1);
    const durationMs = d.t1 - d.t0;
    // a batch's boot: from its create step to its container listening; then baton's gate until it routes it
    const boots = d.batches.map((b) => (b.listenAt ?? b.createAt + d.bootFallback) - b.createAt);
    const bootMs = boots.reduce((x, y) => x + y, 0);
    // then baton's probes until it marks the container healthy, then the deploy's gate noticing it
    const sum = (f: (b: Batch, i: number) => number) => d.batches.reduce((x, b, i) => x + f(b, i), 0);
    const done = (b: Batch) => b.gateDoneAt ?? b.createAt;
    const healthMs = sum((b, i) => (b.healthyAt ?? done(b)) - b.createAt - boots[i]);
    const wakeMs = sum((b) => done(b) - (b.healthyAt ?? done(b)));
    const gateMs = healthMs + wakeMs;
    const p = phases(d.steps);
    const overheadMs = durationMs - bootMs - d.waits;
    const otherMs = overheadMs - gateMs - p.drain - p.stop;
    const bootsMeasured = d.batches.filter((b) => b.listenAt !== null).length;
    const p99 = percentile(w.latencies, 0.99);
    return { ...d, w, durationMs, bootMs, boots, bootsMeasured, overheadMs, healthMs, wakeMs, ...p, otherMs, p99 };
  });
  const during = rows.flatMap((r) => r.w.latencies);
  const duringFailures = rows.flatMap((r) => r.w.failures);
  const all = load.summary.failures;
  const byKind: Record<string, number> = {};
  for (const f of all) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  const p99Steady = percentile(steady.latencies, 0.99);
  const p99During = percentile(during, 0.99);
  const overheads = rows.map((r) => r.overheadMs);
  const maxOverhead = Math.max(...overheads);
  const invalid: string[] = [];
  if (load.summary.sent < MIN_REQUESTS) invalid.push(`${load.summary.sent} requests in all (< ${MIN_REQUESTS})`);
  const unsucceeded = rows.filter((r) => r.state !== 'succeeded');
  if (unsucceeded.length > 0) invalid.push(`deploy ${unsucceeded.map((r) => `#${r.n} ${r.state}`).join(', ')}`);
  if (steady.latencies.length === 0) invalid.push('no answer in the steady-state window');
  return {
    rows,
    steady: { requests: steady.answers, p50: percentile(steady.latencies, 0.5), p99: p99Steady },
    during: {
      requests: rows.reduce((a, r) => a + r.w.answers, 0),
      p50: percentile(during, 0.5),
      p99: p99During,
      failed: duringFailures.length,
    },
    bootWindow: { requests: control.answers, p99: percentile(control.latencies, 0.99) },
    failed: all.length,
    byKind,
    ratio: p99During / p99Steady,
    overhead: { median: median(overheads), max: maxOverhead },
    targets: {
      zeroFailed: all.length <= TARGETS.maxFailed,
      overhead: maxOverhead <= TARGETS.maxOverheadMs,
      p99: p99During / p99Steady <= TARGETS.maxP99Ratio,
    },
    invalid,
  };
}

export type Analysis = ReturnType<typeof analyse>;

const sec = (ms: number): string => (ms / 1000).toFixed(2);
const msText = (ms: number): string => (Number.isNaN(ms) ? '-' : ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
const int = (n: number): string => n.toLocaleString('en-US');
const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');

/** The step a deploy was in at `at`: the last one begun or ended before it. */
function stepAt(d: DeployRun, at: number): string {
  let last = '(before its first step)';
  for (const s of d.steps) if (Date.parse(s.at) <= at) last = `${s.action} ${s.status} [${s.containers.join(',')}]`;
  return last;
}

export function printReport(inp: Inputs, a: Analysis): void {
  const o = inp.options;
  console.log(
    `\ndeploys under load: ${inp.deploys.length} rolling deploys of ${o.replicas} replicas ` +
      `(parallelism 1, start-first, monitor ${o.monitor} s, health interval ${o.healthInterval} ms), ` +
      `autocannon GET / on ${o.connections} connections`,
  );
  for (const b of inp.boots) {
    const range = `${Math.round(Math.min(...b.samples))}..${Math.round(Math.max(...b.samples))}`;
    console.log(
      `boot measured apart (docker run → first 200 on /health, under load): ${b.image} median ` +
        `${Math.round(b.median)} ms [${range}] over ${b.samples.length}`,
    );
  }
  const head = [
    '#',
    'image',
    'state',
    'duration',
    'boot',
    'overhead',
    'health',
    'wake',
    'drain',
    'stop',
    'other',
    'requests',
    'failed',
    'p99 ms',
  ];
  const lines = a.rows.map((r) => [
    String(r.n),
    r.image.replace(/^.*-/, ''),
    r.state,
    sec(r.durationMs),
    sec(r.bootMs) + (r.bootsMeasured < r.batches.length ? '*' : ''),
    sec(r.overheadMs),
    sec(r.healthMs),
    sec(r.wakeMs),
    sec(r.drain),
    sec(r.stop),
    sec(r.otherMs),
    int(r.w.answers),
    String(r.w.failures.length),
    msText(r.p99),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i <= 2 ? c.padEnd(widths[i]) : c.padStart(widths[i])));
  console.log(`\n${fmt(head).join('  ')}`);
  for (const l of lines) console.log(fmt(l).join('  '));
  const fallback = a.rows.some((r) => r.bootsMeasured < r.batches.length);
  console.log(
    [
      'seconds, summed over the batches (one new container each):',
      "  boot     = a batch's create step → its new container listening (the container's own log)" +
        (fallback ? '; * = some taken from the samples apart' : ''),
      '  overhead = duration - boot - configured waits = health + wake + drain + stop + other',
      "  health   = listening → healthy in baton (baton's probes); wake = healthy → the deploy's health gate done",
      '  drain    = old container out of rotation → in-flight 0; stop = docker stop of it, until the next step',
      '             starts (the rest runs alongside the next batch); other = the rest',
    ].join('\n'),
  );
  const s = a.steady;
  const d = a.during;
  const total = inp.load.summary;
  console.log(
    `\nrequests: ${int(total.sent)} in all; steady window ${int(s.requests)}, during the deploys ` +
      `${int(d.requests)}`,
  );
  const kinds =
    Object.entries(a.byKind)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  console.log(
    `failed: ${a.failed} in the whole run (${kinds}); ${d.failed} during the deploys` +
      ` [not failures: ${total.afterClose} after Connection: close, ${total.cutAtStop} cut off by the stop]`,
  );
  console.log(
    `latency: steady p50 ${msText(s.p50)} ms p99 ${msText(s.p99)} ms; during deploys p50 ${msText(d.p50)} ` +
      `ms p99 ${msText(d.p99)} ms; p99 ratio ${a.ratio.toFixed(2)}x`,
  );
  const c = a.bootWindow;
  console.log(
    `control: p99 ${msText(c.p99)} ms (${(c.p99 / s.p99).toFixed(2)}x steady) over ${int(c.requests)} requests ` +
      'while the boot samples ran (containers booting beside the load, no deploy)',
  );
  console.log(`overhead beyond boot: median ${sec(a.overhead.median)} s, max ${sec(a.overhead.max)} s`);
  console.log(
    `baton over the deploys: ${inp.baton.retries} retries, ${inp.baton.http5xx} 5xx answers, ` +
      `${inp.baton.unavailable} no-healthy-upstream answers`,
  );
  if (a.failed > 0) {
    console.log('\nfirst failures (time into the deploy, the deploy step in progress):');
    for (const f of total.failures.slice(0, 20)) {
      const dep = inp.deploys.find((x) => f.at >= x.t0 && f.at <= x.t1);
      const where = dep ? `deploy #${dep.n} +${f.at - dep.t0} ms, during ${stepAt(dep, f.at)}` : 'outside deploys';
      console.log(`  ${f.kind} ${f.detail}: ${where}`);
    }
  }
  const { own, foreign } = inp.batonWarnings;
  if (own.length > 0) {
    console.log(`\nbaton's warnings and errors (${own.length}, first 10):`);
    for (const w of own.slice(0, 10)) console.log(`  ${w.slice(0, 400)}`);
  }
  if (foreign > 0) {
    console.log(`(and ${foreign} warnings about containers of another user of this Docker engine, not this run's)`);
  }
  const t = a.targets;
  console.log(
    `\ntargets: zero failed requests: ${met(t.zeroFailed)} (${a.failed}); overhead beyond boot <= ` +
      `${sec(TARGETS.maxOverheadMs)} s: ${met(t.overhead)} (max ${sec(a.overhead.max)}); p99 during deploys <= ` +
      `${TARGETS.maxP99Ratio}x steady: ${met(t.p99)} (${a.ratio.toFixed(2)}x)`,
  );
  console.log(a.invalid.length === 0 ? 'run: valid' : `run: INVALID (${a.invalid.join('; ')})`);
}

export function jsonLine(inp: Inputs, a: Analysis): string {
  const round = (x: number) => Math.round(x * 100) / 100;
  return JSON.stringify({
    bench: 'deploys',
    valid: a.invalid.length === 0,
    invalidReasons: a.invalid,
    options: inp.options,
    boot: inp.boots.map((b) => ({ image: b.image, medianMs: round(b.median), samplesMs: b.samples.map(round) })),
    requests: inp.load.summary.sent,
    steady: { requests: a.steady.requests, p50Ms: round(a.steady.p50), p99Ms: round(a.steady.p99) },
    during: { requests: a.during.requests, p50Ms: round(a.during.p50), p99Ms: round(a.during.p99) },
    p99Ratio: round(a.ratio),
    bootWindow: { requests: a.bootWindow.requests, p99Ms: round(a.bootWindow.p99) },
    failed: { total: a.failed, duringDeploys: a.during.failed, byKind: a.byKind },
    overheadMs: { median: round(a.overhead.median), max: round(a.overhead.max) },
    deploys: a.rows.map((r) => ({
      n: r.n,
      id: r.id,
      image: r.image,
      state: r.state,
      durationMs: r.durationMs,
      bootMs: round(r.bootMs),
      overheadMs: round(r.overheadMs),
      bootsMs: r.boots,
      healthMs: round(r.healthMs),
      wakeMs: round(r.wakeMs),
      drainMs: r.drain,
      stopMs: r.stop,
      otherMs: round(r.otherMs),
      requests: r.w.answers,
      failed: r.w.failures.length,
      p99Ms: round(r.p99),
    })),
    baton: { ...inp.baton, warnings: inp.batonWarnings.own.length, foreignWarnings: inp.batonWarnings.foreign },
    targets: a.targets,
  });
}
