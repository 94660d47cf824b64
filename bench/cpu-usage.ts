// CPU accounting from /proc over one measurement (best effort; null where unavailable): the CPU time of the
// server under test's process tree, and how busy each core was.

import fs from 'node:fs';

const CLK_TCK = 100; // USER_HZ; 100 on every Linux build that matters here.

export interface CpuUsage {
  /** CPU time of the process tree over the wall time, 100 = one core. */
  serverCpuPct: number | null;
  /** CPU seconds of the process tree. */
  serverCpuS: number | null;
  /** Busy share of each core (`cpu0`, ...), in percent. */
  coreBusyPct: Record<string, number> | null;
}

type CoreTicks = Map<string, { busy: number; total: number }>;

interface CpuMark {
  pid: number | undefined;
  ticks: number | null;
  cores: CoreTicks | null;
  started: bigint;
}

/** What happened between a mark and now: wall time, the tree's CPU ticks, each core's busy and total ticks. */
export interface CpuSpan {
  elapsedS: number;
  serverTicks: number | null;
  cores: CoreTicks | null;
}

/** The counters at the start of a measurement, for cpuSince() / spanSince(). */
export function markCpu(pid: number | undefined): CpuMark {
  const ticks = treeTicks(pid);
  const cores = readCoreTicks();
  return { pid, ticks, cores, started: process.hrtime.bigint() };
}

export function cpuSince(mark: CpuMark): CpuUsage {
  return usageOf(spanSince(mark));
}

export function spanSince(mark: CpuMark): CpuSpan {
  const elapsedS = Number(process.hrtime.bigint() - mark.started) / 1e9;
  const ticksAfter = treeTicks(mark.pid);
  const coresAfter = readCoreTicks();
  let cores: CoreTicks | null = null;
  if (mark.cores !== null && coresAfter !== null) {
    cores = new Map();
    for (const [cpu, after] of coresAfter) {
      const before = mark.cores.get(cpu);
      if (before !== undefined) cores.set(cpu, { busy: after.busy - before.busy, total: after.total - before.total });
    }
  }
  const serverTicks = mark.ticks === null || ticksAfter === null ? null : ticksAfter - mark.ticks;
  return { elapsedS, serverTicks, cores };
}

/** Two spans as one (e.g. the short load runs of one measurement, without the gaps between them). */
export function addSpans(a: CpuSpan | null, b: CpuSpan): CpuSpan {
  if (a === null) return b;
  let cores: CoreTicks | null = null;
  if (a.cores !== null && b.cores !== null) {
    cores = new Map();
    for (const [cpu, x] of a.cores) {
      const y = b.cores.get(cpu);
      if (y !== undefined) cores.set(cpu, { busy: x.busy + y.busy, total: x.total + y.total });
    }
  }
  const serverTicks = a.serverTicks === null || b.serverTicks === null ? null : a.serverTicks + b.serverTicks;
  return { elapsedS: a.elapsedS + b.elapsedS, serverTicks, cores };
}

export function usageOf(span: CpuSpan): CpuUsage {
  let coreBusyPct: Record<string, number> | null = null;
  if (span.cores !== null) {
    coreBusyPct = {};
    for (const [cpu, d] of span.cores) if (d.total > 0) coreBusyPct[cpu] = (100 * d.busy) / d.total;
  }
  const serverCpuS = span.serverTicks === null ? null : span.serverTicks / CLK_TCK;
  const serverCpuPct = serverCpuS === null || span.elapsedS <= 0 ? null : (100 * serverCpuS) / span.elapsedS;
  return { serverCpuPct, serverCpuS, coreBusyPct };
}

/** Resident memory of a process and all its descendants (MiB; null where /proc cannot tell). */
export function treeRssMb(rootPid: number | undefined): number | null {
  const kb = sumOverTree(rootPid, (pid) => {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  });
  return kb === null ? null : kb / 1024;
}

/** CPU ticks (user + system) of a process and all its descendants. */
function treeTicks(rootPid: number | undefined): number | null {
  return sumOverTree(rootPid, (_pid, info) => info.ticks);
}

/** `value` summed over a process and all its descendants; null when the process is gone or /proc cannot tell. */
function sumOverTree(
  rootPid: number | undefined,
  value: (pid: number, info: { ppid: number; ticks: number }) => number,
): number | null {
  if (rootPid === undefined) return null;
  try {
    const table = readProcTable();
    if (!table.has(rootPid)) return null;
    let total = 0;
    const queue = [rootPid];
    while (queue.length > 0) {
      const pid = queue.pop()!;
      const info = table.get(pid);
      if (info !== undefined) total += value(pid, info);
      for (const [child, c] of table) if (c.ppid === pid) queue.push(child);
    }
    return total;
  } catch {
    return null;
  }
}

function readProcTable(): Map<number, { ppid: number; ticks: number }> {
  const table = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after "(comm)": state ppid ... utime(14) stime(15), 1-based over the whole line.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(entry), { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      // process vanished
    }
  }
  return table;
}

function readCoreTicks(): CoreTicks | null {
  try {
    const cores: CoreTicks = new Map();
    for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^(cpu\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const v = m[2].trim().split(/\s+/).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is counted in user)
      const idle = v[3] + (v[4] ?? 0); // idle + iowait
      cores.set(m[1], { busy: total - idle, total });
    }
    return cores;
  } catch {
    return null;
  }
}
