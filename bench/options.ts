// The command line of bench/wrk.ts: flags, their defaults and checks, and --help.

import { parseArgs } from 'node:util';
import type { Layout } from './pinning.ts';
import { REFERENCE_TARGETS } from './references.ts';
import {
  ALL_TARGETS,
  MIDDLEWARE_TARGETS,
  PLAIN_TARGETS,
  TLS_TARGETS,
  VS_BATON_TARGETS,
  type TargetName,
} from './targets.ts';

export interface Options {
  duration: number;
  warmup: number;
  connections: number;
  rounds: number;
  /** also the shapes: bodies of 16 KiB and 1 MiB, 10 and 500 connections (rows.ts) */
  shapes: boolean;
  /** idle-scale connections per plain proxy target (0: not measured) */
  idle: number;
  layout: Layout;
  targets: TargetName[];
  /** whether --targets was given (the default set skips the TLS targets, with a note, when a tool is missing) */
  targetsExplicit: boolean;
  /** h2load clients (connections) in the HTTP/2 rows */
  h2Clients: number;
  /** h2load streams in flight per connection in the HTTP/2 rows */
  h2Streams: number;
}

const GROUPS: Record<string, readonly TargetName[]> = {
  all: ALL_TARGETS,
  plain: PLAIN_TARGETS,
  tls: TLS_TARGETS,
  middlewares: ['baton', ...MIDDLEWARE_TARGETS],
  /** baton beside every other proxy */
  peers: ['upstream', 'nginx', ...REFERENCE_TARGETS, 'baton', 'baton-real'],
  /** one event loop and two: nginx with 1 and 2 workers, baton with workers 1 and 2 */
  cores: ['upstream', 'nginx', 'nginx-w2', 'baton', 'baton-w2'],
  /** the price of the metrics: baton with metrics.enabled on (the default) and off */
  metrics: ['nginx', 'baton', 'baton-nometrics'],
};

/** The idle-scale count: this process opens them all, so at most what its file limit leaves room for. */
function checkIdle(n: number): number {
  if (n > MAX_IDLE) throw new Error(`--idle must be at most ${MAX_IDLE} (the bench opens every connection itself)`);
  return n;
}
const MAX_IDLE = 15_000;

export function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '1' },
      shapes: { type: 'boolean', default: false },
      idle: { type: 'string', default: '0' },
      layout: { type: 'string', default: 'proxy-alone' },
      targets: { type: 'string' },
      'h2-clients': { type: 'string', default: '10' },
      'h2-streams': { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`usage: node bench/wrk.ts [--duration s] [--warmup s] [--connections n] [--rounds n]
                         [--layout proxy-alone|shared] [--targets name,... | group]
                         [--h2-clients n] [--h2-streams n]
  --duration     seconds measured per row and round (default 10)
  --warmup       seconds of unmeasured load per row before its first measurement (default 2, 0 = none)
  --connections  wrk connections, and connections per h2load burst in the "new TLS conns" rows
                 (default 50; wrk always runs 1 thread)
  --rounds       measure every row this many times, interleaved, and report medians (default 1)
  --idle n       after the rows, hold n kept-alive client connections through each plain proxy target (e.g.
                 10000): its RSS before and with them, and how many failed
  --shapes       also measure every plain target (but the middleware rows) with a 16 KiB and a 1 MiB body and
                 with 10 and 500 connections
  --layout       CPU pinning with taskset: proxy-alone (default) = server under test alone on the first CPU,
                 wrk + upstream on the second; shared = server under test + upstream on the first, wrk on the second
  --targets      which targets to measure (default all), any of
                   ${ALL_TARGETS.join(',')}
                 or a group:
${Object.entries(GROUPS)
  .map(([g, list]) => `                   ${g.padEnd(12)}${list.join(',')}`)
  .join('\n')}
                 Each TLS target gets three rows: HTTPS/1.1 (wrk), HTTP/2 (h2load) and new TLS connections per
                 second (h2load). ${VS_BATON_TARGETS.join(', ')} are also compared with baton ("vs baton"),
                 which is measured with them even when not named
  --h2-clients   h2load connections in the HTTP/2 rows (default 10)
  --h2-streams   h2load streams in flight per connection in the HTTP/2 rows (default 5; 10 x 5 = wrk's 50)`);
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
  const targets = (values.targets ?? 'all')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .flatMap((t): string[] => [...(GROUPS[t] ?? [t])]);
  for (const t of targets) {
    if (!(ALL_TARGETS as readonly string[]).includes(t)) {
      throw new Error(`unknown target ${t}; known: ${ALL_TARGETS.join(', ')} (groups: ${Object.keys(GROUPS)})`);
    }
  }
  if (targets.length === 0) throw new Error('--targets is empty');
  // the middleware rows' "vs baton" ratio needs the plain baton row of the same run
  if (targets.some((t) => (VS_BATON_TARGETS as readonly string[]).includes(t))) targets.push('baton');
  const h2Streams = int('h2-streams', values['h2-streams'], 1);
  if (h2Streams > 128) throw new Error(`--h2-streams must be <= 128 (nginx's http2_max_concurrent_streams)`);
  return {
    duration: int('duration', values.duration, 1),
    warmup: int('warmup', values.warmup, 0),
    connections: int('connections', values.connections, 1),
    rounds: int('rounds', values.rounds, 1),
    shapes: values.shapes === true,
    idle: Math.min(int('idle', values.idle, 0), checkIdle(int('idle', values.idle, 0))),
    layout,
    targets: ALL_TARGETS.filter((t) => targets.includes(t)),
    targetsExplicit: values.targets !== undefined,
    h2Clients: int('h2-clients', values['h2-clients'], 1),
    h2Streams,
  };
}
