// CPU pinning: which CPU the server under test, wrk and the proxies' upstream each run on for a --layout,
// applied by starting commands through taskset (or not at all without taskset or a second CPU).

import fs from 'node:fs';
import os from 'node:os';
import { findExecutable } from './processes.ts';

export type Layout = 'proxy-alone' | 'shared';

export interface Pinning {
  taskset: string | null;
  /** CPU for the server under test (each proxy, and the upstream in the direct run). */
  serverCpu: number | null;
  /** CPU for wrk. */
  wrkCpu: number | null;
  /** CPU for the upstream the proxies forward to. */
  backendCpu: number | null;
  description: string;
}

export function planPinning(layout: Layout): Pinning {
  const taskset = findExecutable('taskset');
  const cpus = allowedCpus();
  if (taskset === null || cpus.length < 2) {
    const why = taskset === null ? 'taskset not found' : `only ${cpus.length} CPU available`;
    return { taskset: null, serverCpu: null, wrkCpu: null, backendCpu: null, description: `not pinned (${why})` };
  }
  const [server, wrk] = cpus;
  if (layout === 'proxy-alone') {
    return {
      taskset,
      serverCpu: server,
      wrkCpu: wrk,
      backendCpu: wrk,
      description: `proxy alone on cpu${server}; wrk + upstream on cpu${wrk}`,
    };
  }
  return {
    taskset,
    serverCpu: server,
    wrkCpu: wrk,
    backendCpu: server,
    description: `proxy + upstream on cpu${server}; wrk on cpu${wrk}`,
  };
}

/** The command and arguments that run `cmd` on `cpu` (unchanged when nothing is pinned). */
export function pinned(p: Pinning, cpu: number | null, cmd: string, args: string[]): [string, string[]] {
  if (p.taskset === null || cpu === null) return [cmd, args];
  return [p.taskset, ['-c', String(cpu), cmd, ...args]];
}

/** CPUs this process may run on (Linux), from /proc/self/status; falls back to 0..n-1. */
function allowedCpus(): number[] {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const list = /^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1]?.trim();
    if (list) {
      const cpus: number[] = [];
      for (const part of list.split(',')) {
        const [lo, hi] = part.split('-').map(Number);
        for (let c = lo; c <= (hi ?? lo); c++) cpus.push(c);
      }
      return cpus;
    }
  } catch {
    // not Linux
  }
  return Array.from({ length: os.availableParallelism() }, (_, i) => i);
}
