// Throughput benchmark: baton against nginx-as-proxy, measured with wrk (and h2load for HTTP/2 and TLS
// handshakes) in one run.
//
//   node bench/wrk.ts [--duration 10] [--warmup 2] [--connections 50] [--rounds 1] [--layout proxy-alone|shared]
//                     [--targets upstream,nginx,baton,baton-mw3,baton-plugin,baton-log,nginx-tls,baton-tls
//                                | plain | tls | middlewares | all]
//                     [--h2-clients 10] [--h2-streams 5]
//
// Prints a table (req/s, ratio to nginx-as-proxy = 1.00 or, for the TLS rows, to nginx-as-TLS-proxy, latency
// p50/p99, errors, CPU) and, as the last line, a one-line JSON summary. Only Node built-ins; traffic goes to
// 127.0.0.1 only; every run is bounded by wrk's -d, h2load's -D, or the burst loop's duration. See
// bench/README.md.

import fs from 'node:fs';
import { parseOptions } from './options.ts';
import { planPinning } from './pinning.ts';
import { cleanup, findExecutable, stopping } from './processes.ts';
import { printReport, summarise, type IdleRow } from './report.ts';
import { REFERENCE_TARGETS, referenceProblem } from './references.ts';
import { isTlsLoad, isTlsTarget, planRows } from './rows.ts';
import { idleScale } from './idle.ts';
import { measureRounds, WRK_THREADS } from './runner.ts';
import { BATON_BIN, BENCH_HOST, startTargets, TARGET_LABELS, TLS_TARGETS } from './targets.ts';
import { TLS_HOST, tlsProblem } from './tls.ts';

const INSTALL_COMMAND = 'apt-get install -y wrk nginx nghttp2-client haproxy caddy';

async function main(): Promise<number> {
  const opts = parseOptions();

  const wrkBin = findExecutable('wrk');
  const nginxBin = findExecutable('nginx');
  if (wrkBin === null || nginxBin === null) {
    const missing = [wrkBin === null ? 'wrk' : null, nginxBin === null ? 'nginx' : null].filter((x) => x !== null);
    console.error(`bench: missing ${missing.join(' and ')} (Debian packages). Install with:\n\n  ${INSTALL_COMMAND}\n`);
    return 1;
  }
  const wantsBaton = opts.targets.some((t) => t.startsWith('baton'));
  if (wantsBaton && !fs.existsSync(BATON_BIN)) {
    console.error(`bench: ${BATON_BIN} not found (or measure only --targets upstream,nginx,nginx-tls)`);
    return 1;
  }

  // The TLS targets need h2load (HTTP/2 and handshake rows), openssl (the certificate) and an nginx with h2.
  let skippedTls: string | null = null;
  const h2loadBin = findExecutable('h2load');
  const opensslBin = findExecutable('openssl');
  if (opts.targets.some((t) => TLS_TARGETS.includes(t))) {
    const missing = [
      h2loadBin === null ? 'h2load (Debian package nghttp2-client)' : null,
      opensslBin === null ? 'openssl (Debian package openssl)' : null,
    ].filter((x) => x !== null);
    const problem = missing.length > 0 ? `missing ${missing.join(' and ')}` : await tlsProblem(nginxBin);
    if (problem !== null) {
      const hint = missing.length > 0 ? ` Install with:\n\n  ${INSTALL_COMMAND}\n` : '';
      if (opts.targetsExplicit) {
        console.error(`bench: the TLS targets (${TLS_TARGETS.join(', ')}) cannot run: ${problem}.${hint}`);
        return 1;
      }
      skippedTls = `TLS rows (${TLS_TARGETS.join(', ')}) skipped: ${problem}.${hint}`;
      console.error(`bench: ${skippedTls}`);
      opts.targets = opts.targets.filter((t) => !TLS_TARGETS.includes(t));
    }
  }

  // the other proxies: one whose program is missing is skipped, with the reason (named explicitly: an error)
  const skippedRefs: string[] = [];
  for (const name of REFERENCE_TARGETS) {
    const problem = opts.targets.includes(name) ? referenceProblem(name) : null;
    if (problem === null) continue;
    if (opts.targetsExplicit) {
      console.error(`bench: ${problem}`);
      return 1;
    }
    skippedRefs.push(problem);
    opts.targets = opts.targets.filter((t) => t !== name);
  }
  if (skippedRefs.length > 0) console.error(`bench: skipped ${skippedRefs.join('; ')}`);
  const skipped = [skippedTls?.trim(), ...skippedRefs.map((p) => `skipped ${p}`)].filter((x) => x !== undefined);

  const pin = planPinning(opts.layout);
  const rows = planRows(opts.targets, opts.shapes);
  const tls = rows.some((r) => isTlsLoad(r.load));
  console.log(
    `baton bench: wrk -t${WRK_THREADS} -c${opts.connections} -d${opts.duration}s --latency -H 'Host: ${BENCH_HOST}' ` +
      `(+${opts.warmup}s warm-up per row${opts.rounds > 1 ? `, ${opts.rounds} rounds` : ''}); ${pin.description}; ` +
      `node ${process.version}`,
  );
  if (tls) {
    console.log(
      `TLS rows: EC P-256 certificate for ${TLS_HOST}; HTTPS/1.1 = wrk ... https://${TLS_HOST}:<port>/; ` +
        `HTTP/2 = h2load -c${opts.h2Clients} -m${opts.h2Streams} -D${opts.duration}; new TLS conns = ` +
        `h2load --h1 -c${opts.connections} -n${opts.connections}, repeated for ${opts.duration}s`,
    );
  }
  const targets = await startTargets(opts.targets, pin, nginxBin, opensslBin);
  const measured = await measureRounds(rows, targets, { wrk: wrkBin, h2load: h2loadBin }, pin, opts);
  // idle scale: the proxies only (not the direct upstream, not TLS), one after the other
  const idle: IdleRow[] = [];
  if (opts.idle > 0) {
    for (const t of targets.filter((x) => x.name !== 'upstream' && !isTlsTarget(x.name) && x.path === '/')) {
      process.stderr.write(`bench: holding ${opts.idle} connections through ${TARGET_LABELS[t.name]}\n`);
      idle.push({
        target: t.name,
        label: TARGET_LABELS[t.name],
        ...(await idleScale(t.port, opts.idle, t.server.child.pid)),
      });
    }
  }
  printReport(summarise(measured), opts, pin, skipped.length > 0 ? skipped.join('\n') : null, idle);
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
