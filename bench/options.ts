// The command line of bench/wrk.ts: flags, their defaults and checks, and --help.

import { parseArgs } from 'node:util';
import type { Layout } from './pinning.ts';
import { ALL_TARGETS, type TargetName } from './targets.ts';

export interface Options {
  duration: number;
  warmup: number;
  connections: number;
  rounds: number;
  layout: Layout;
  targets: TargetName[];
}

export function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '1' },
      layout: { type: 'string', default: 'proxy-alone' },
      targets: { type: 'string', default: ALL_TARGETS.join(',') },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`usage: node bench/wrk.ts [--duration s] [--warmup s] [--connections n] [--rounds n]
                         [--layout proxy-alone|shared] [--targets ${ALL_TARGETS.join(',')}]
  --duration     seconds measured per target and round (default 10)
  --warmup       seconds of unmeasured load per target before its first measurement (default 2, 0 = none)
  --connections  wrk connections (default 50; wrk always runs 1 thread)
  --rounds       measure every target this many times, interleaved, and report medians (default 1)
  --layout       CPU pinning with taskset: proxy-alone (default) = server under test alone on the first CPU,
                 wrk + upstream on the second; shared = server under test + upstream on the first, wrk on the second
  --targets      which rows to measure (default all)`);
    process.exit(0);
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got ${v})`);
    return n;
  };
  const layout = values.layout;
  if (layout !== 'proxy-alone' && layout !== 'shared') {
    throw new Error(`--layout must be proxy-alone or shared (got ${layout})`);
  }
  const targets = values.targets
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  for (const t of targets) {
    if (!(ALL_TARGETS as readonly string[]).includes(t)) {
      throw new Error(`unknown target ${t}; known: ${ALL_TARGETS.join(', ')}`);
    }
  }
  if (targets.length === 0) throw new Error('--targets is empty');
  return {
    duration: int('duration', values.duration, 1),
    warmup: int('warmup', values.warmup, 0),
    connections: int('connections', values.connections, 1),
    rounds: int('rounds', values.rounds, 1),
    layout,
    targets: ALL_TARGETS.filter((t) => targets.includes(t)),
  };
}
