// CPU accounting from /proc over one measurement (best effort; null where unavailable): the CPU time of the
// server under test's process tree, and how busy each core was.

import fs from 'node:fs';

const CLK_TCK = 100; // USER_HZ; 100 on every Linux build that matters here.

export interface CpuUsage {
  /** CPU time of the process tree over the wall time, 100 = one core. */
  serverCpuPct: number | null;
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

/** The counters at the start of a measurement, for cpuSince(). */
export function markCpu(pid: number | undefined): CpuMark {
  const ticks = treeTicks(pid);
  const cores = readCoreTicks();
  return { pid, ticks, cores, started: process.hrtime.bigint() };
}

export function cpuSince(mark: CpuMark): CpuUsage {
  const elapsedS = Number(process.hrtime.bigint() - mark.started) / 1e9;
  const ticksAfter = treeTicks(mark.pid);
  const coresAfter = readCoreTicks();
  let coreBusyPct: Record<string, number> | null = null;
  if (mark.cores !== null && coresAfter !== null) {
    coreBusyPct = {};
    for (const [cpu, after] of coresAfter) {
      const before = mark.cores.get(cpu);
      if (before === undefined || after.total === before.total) continue;
      coreBusyPct[cpu] = (100 * (after.busy - before.busy)) / (after.total - before.total);
    }
  }
  const serverCpuPct =
    mark.ticks === null || ticksAfter === null ? null : (100 * (ticksAfter - mark.ticks)) / CLK_TCK / elapsedS;
  return { serverCpuPct, coreBusyPct };
}

/** CPU ticks (user + system) of a process and all its descendants. */
function treeTicks(rootPid: number | undefined): number | null {
  if (rootPid === undefined) return null;
  try {
    const table = readProcTable();
    if (!table.has(rootPid)) return null;
    let total = 0;
    const queue = [rootPid];
    while (queue.length > 0) {
      const pid = queue.pop()!;
      total += table.get(pid)?.ticks ?? 0;
      for (const [child, info] of table) if (info.ppid === pid) queue.push(child);
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
