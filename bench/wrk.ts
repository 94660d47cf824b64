// Throughput benchmark: baton against nginx-as-proxy, measured with wrk in one run.
//
//   node bench/wrk.ts [--duration 10] [--warmup 2] [--connections 50] [--rounds 1] [--layout proxy-alone|shared]
//                     [--targets upstream,nginx,baton,baton-log]
//
// Prints a table (req/s, ratio to nginx-as-proxy = 1.00, latency p50/p99, errors, CPU) and, as the last
// line, a one-line JSON summary. Only Node built-ins; traffic goes to 127.0.0.1 only; every run is bounded
// by wrk's -d. See bench/README.md.

import fs from 'node:fs';
import { parseOptions } from './options.ts';
import { planPinning } from './pinning.ts';
import { cleanup, findExecutable, stopping } from './processes.ts';
import { printReport, summarise } from './report.ts';
import { measureRounds, WRK_THREADS } from './runner.ts';
import { BATON_BIN, BENCH_HOST, startTargets } from './targets.ts';

const INSTALL_COMMAND = 'apt-get install -y wrk nginx';

async function main(): Promise<number> {
  const opts = parseOptions();

  const wrkBin = findExecutable('wrk');
  const nginxBin = findExecutable('nginx');
  if (wrkBin === null || nginxBin === null) {
    const missing = [wrkBin === null ? 'wrk' : null, nginxBin === null ? 'nginx' : null].filter((x) => x !== null);
    console.error(`bench: missing ${missing.join(' and ')} (Debian packages). Install with:\n\n  ${INSTALL_COMMAND}\n`);
    return 1;
  }
  const wantsBaton = opts.targets.includes('baton') || opts.targets.includes('baton-log');
  if (wantsBaton && !fs.existsSync(BATON_BIN)) {
    console.error(`bench: ${BATON_BIN} not found (or measure only --targets upstream,nginx)`);
    return 1;
  }

  const pin = planPinning(opts.layout);
  console.log(
    `baton bench: wrk -t${WRK_THREADS} -c${opts.connections} -d${opts.duration}s --latency -H 'Host: ${BENCH_HOST}' ` +
      `(+${opts.warmup}s warm-up${opts.rounds > 1 ? `, ${opts.rounds} rounds` : ''}); ${pin.description}; ` +
      `node ${process.version}`,
  );
  const targets = await startTargets(opts.targets, pin, nginxBin);
  const samples = await measureRounds(targets, wrkBin, pin, opts);
  printReport(summarise(samples), opts, pin);
  return 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  // After a signal the children are gone on purpose; their failures are not news.
  if (!stopping()) console.error(`bench: ${(err as Error).message}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exitCode = exitCode;
