// The servers under test (the targets) and the upstream the proxies forward to: their nginx configs (baton's are
// in baton-config.ts), each written to the bench's temp dir, started pinned, and ready once it answers on its
// 127.0.0.1 port (the TLS targets: over HTTPS/1.1 and HTTP/2, with the bench's certificate).

import fs from 'node:fs';
import path from 'node:path';
import { pinned, type Pinning } from './pinning.ts';
import { makeTempDir, start, type Managed } from './processes.ts';
import { answersHello, BENCH_HOST, freePort, httpGet, UPSTREAM_BODY, waitFor } from './ready.ts';
import { REFERENCE_LABELS, REFERENCE_TARGETS, startReference, type ReferenceName } from './references.ts';
import { batonConfig, batonPath, STRIP_PREFIX, type BatonName } from './baton-config.ts';
import { answersOverTls, makeCertificate, nginxTlsLines, nginxVersion, TLS_HOST, type Certificate } from './tls.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
export const BATON_BIN = path.join(REPO_ROOT, 'bin', 'baton.js');
export { BENCH_HOST } from './ready.ts';

export type TargetName = 'upstream' | 'nginx' | 'nginx-w2' | ReferenceName | BatonName | 'nginx-tls';
export const PLAIN_TARGETS: readonly TargetName[] = [
  'upstream',
  'nginx',
  ...REFERENCE_TARGETS,
  'baton',
  'baton-nometrics',
  'baton-mw3',
  'baton-plugin',
  'baton-log',
  'baton-real',
  'nginx-w2',
  'baton-w2',
];
/** The multi-core rows: two nginx workers, two baton worker threads, not pinned (every CPU the bench may use). */
export const MULTI_CORE_TARGETS: readonly TargetName[] = ['nginx-w2', 'baton-w2'];
export const TLS_TARGETS: readonly TargetName[] = ['nginx-tls', 'baton-tls'];
/** The baton rows with middlewares, each also compared with the plain `baton` row ("vs baton"). */
export const MIDDLEWARE_TARGETS: readonly TargetName[] = ['baton-mw3', 'baton-plugin'];
/** Every row also compared with plain `baton` ("vs baton"): the middlewares, the access log and health checks of
 *  a realistic setup, two workers, and metrics off (its inverse is the price of the metrics). */
export const VS_BATON_TARGETS: readonly TargetName[] = [
  ...MIDDLEWARE_TARGETS,
  'baton-log',
  'baton-real',
  'baton-w2',
  'baton-nometrics',
];
export const ALL_TARGETS: readonly TargetName[] = [...PLAIN_TARGETS, ...TLS_TARGETS];
export const TARGET_LABELS: Record<TargetName, string> = {
  upstream: 'direct upstream (nginx)',
  nginx: 'nginx proxy',
  ...REFERENCE_LABELS,
  baton: 'baton (access log off)',
  'baton-nometrics': 'baton, metrics off (access log off)',
  'baton-mw3': 'baton + 3 middlewares',
  'baton-plugin': 'baton + 1 plugin',
  'baton-log': 'baton (access log on)',
  'baton-real': 'baton realistic (health checks, access log)',
  'nginx-w2': 'nginx proxy, 2 workers',
  'baton-w2': 'baton, workers: 2 (access log off)',
  'nginx-tls': 'nginx TLS proxy',
  'baton-tls': 'baton TLS (log off)',
};

export interface Target {
  name: TargetName;
  port: number;
  /** the path the load asks for */
  path: string;
  server: Managed;
  /** baton's stdout file, to count access-log lines. */
  logFile: string | null;
}

/** Where servers are started: the temp dir for their configs and logs, the CPU plan, the nginx binary, and
 *  the certificate of the TLS targets (null without any). */
interface Site {
  dir: string;
  pin: Pinning;
  nginxBin: string;
  cert: Certificate | null;
}

/** Starts the named targets, in the order given, and the upstream behind the proxies; all ready on return.
 *  `opensslBin` makes the TLS targets' certificate (needed only with one). */
export async function startTargets(
  names: TargetName[],
  pin: Pinning,
  nginxBin: string,
  opensslBin: string | null,
): Promise<Target[]> {
  const dir = makeTempDir('baton-bench-');
  // nginx started as root runs its worker as `nobody`, which must be able to reach its prefix.
  if (process.getuid?.() === 0) fs.chmodSync(dir, 0o755);
  const needsCert = names.some((t) => TLS_TARGETS.includes(t));
  if (needsCert && opensslBin === null) throw new Error('openssl is needed for the TLS targets');
  const cert = needsCert && opensslBin !== null ? makeCertificate(opensslBin, dir) : null;
  const site: Site = { dir, pin, nginxBin, cert };
  writeBodies(dir);

  // Two identical nginx upstreams: "upstream-direct" sits where the servers under test sit (the direct row
  // measures it), "upstream" is the one every proxy forwards to.
  process.stderr.write('bench: starting servers\n');
  const backendPort = await freePort();
  if (names.some((t) => t !== 'upstream')) {
    await startNginx(site, 'upstream', pin.backendCpu, backendPort, upstreamServer(backendPort, site.dir));
  }
  const targets: Target[] = [];
  for (const name of names) targets.push(await startTarget(site, name, backendPort));
  return targets;
}

async function startTarget(site: Site, name: TargetName, backendPort: number): Promise<Target> {
  if (name.startsWith('baton')) return startBaton(site, backendPort, name as BatonName);
  if ((REFERENCE_TARGETS as readonly string[]).includes(name)) {
    const { port, server } = await startReference(site, name as ReferenceName, backendPort);
    return { name, port, path: '/', server, logFile: null };
  }
  const port = await freePort();
  const cpu = site.pin.serverCpu;
  let server: Managed;
  if (name === 'upstream') {
    server = await startNginx(site, 'upstream-direct', cpu, port, upstreamServer(port, site.dir));
  } else if (name === 'nginx') {
    server = await startNginx(site, 'nginx-proxy', cpu, port, proxyServer(port, backendPort));
  } else if (name === 'nginx-w2') {
    const conf = proxyServer(port, backendPort);
    server = await startNginx(site, 'nginx-proxy-w2', null, port, conf, answersHello(port), 2);
  } else {
    const cert = site.cert!;
    const lines = nginxTlsLines(port, cert, nginxVersion(site.nginxBin));
    const conf = proxyServer(port, backendPort, lines);
    server = await startNginx(site, 'nginx-tls', cpu, port, conf, () => answersOverTls(port, cert, UPSTREAM_BODY));
  }
  return { name, port, path: '/', server, logFile: null };
}

// ---------------------------------------------------------------------------------------------------------
// nginx: the upstream and the proxy.

async function startNginx(
  site: Site,
  name: string,
  cpu: number | null,
  port: number,
  server: string,
  ready: () => Promise<boolean> = answersHello(port),
  workers = 1,
): Promise<Managed> {
  const prefix = path.join(site.dir, name);
  fs.mkdirSync(prefix, { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig(prefix, server, workers));
  const nginxArgs = ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')];
  const [cmd, args] = pinned(site.pin, cpu, site.nginxBin, nginxArgs);
  const m = start(name, cmd, args);
  await waitFor(`${name} to answer on 127.0.0.1:${port}`, m, ready);
  return m;
}

function nginxConfig(prefix: string, server: string, workers: number): string {
  // Every path nginx may touch is inside `prefix`, so it never needs /var/log/nginx or /var/lib/nginx.
  return `daemon off;
master_process on;
worker_processes ${workers};
worker_rlimit_nofile 20000;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 100000;
${server}
}
`;
}

/** The upstream's bodies for the shapes (rows.ts): files under <site>/body, served by nginx as they are. */
const BODIES: Record<string, number> = { '16k': 16 * 1024, '1m': 1024 * 1024 };

function writeBodies(dir: string): void {
  fs.mkdirSync(path.join(dir, 'body'), { recursive: true });
  for (const [name, size] of Object.entries(BODIES))
    fs.writeFileSync(path.join(dir, 'body', name), Buffer.alloc(size, 'b'));
}

function upstreamServer(port: number, root: string): string {
  return `  server {
    listen 127.0.0.1:${port};
    location /body/ {
      root ${root};
      default_type application/octet-stream;
    }
    location / {
      default_type text/plain;
      return 200 "${UPSTREAM_BODY.replace('\n', '\\n')}";
    }
    location ${STRIP_PREFIX}/ {
      return 404;
    }
  }`;
}

function proxyServer(port: number, upstreamPort: number, listen = [`listen 127.0.0.1:${port};`]): string {
  return `  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 100000;
  }
  server {
${listen.map((l) => `    ${l}`).join('\n')}
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`;
}

// ---------------------------------------------------------------------------------------------------------
// baton, started exactly as users start it.

async function startBaton(site: Site, upstreamPort: number, name: BatonName): Promise<Target> {
  const [webPort, adminPort] = [await freePort(), await freePort()];
  const cfgFile = path.join(site.dir, `${name}.yaml`);
  const logFile = path.join(site.dir, `${name}.stdout.log`);
  const ports = { web: webPort, admin: adminPort, upstream: upstreamPort };
  fs.writeFileSync(cfgFile, batonConfig(name, ports, name === 'baton-tls' ? TLS_HOST : BENCH_HOST, site.cert));
  // Every baton logs at `info` (access-log lines are info-level records; at `warn` they would be filtered out and
  // "access log on" would measure nothing); only baton-log has log.accessLog on. baton logs JSON to stdout,
  // which goes to a file (as a log shipper would read it), not through this process.
  const cpu = MULTI_CORE_TARGETS.includes(name) ? null : site.pin.serverCpu;
  const [cmd, args] = pinned(site.pin, cpu, process.execPath, [BATON_BIN, 'serve', '--config', cfgFile]);
  const m = start(name, cmd, args, { cwd: REPO_ROOT, stdout: { file: logFile } });
  try {
    await waitFor(`${name} GET /healthz = 200 on admin port ${adminPort}`, m, async () => {
      return (await httpGet(adminPort, '/healthz', `127.0.0.1:${adminPort}`)).status === 200;
    });
    if (name === 'baton-tls') {
      const cert = site.cert!;
      const ready = () => answersOverTls(webPort, cert, UPSTREAM_BODY);
      await waitFor(`${name} to proxy https://${TLS_HOST} (HTTP/1.1 and h2) to the upstream`, m, ready);
    } else {
      const what = `${name} to proxy Host: ${BENCH_HOST} ${batonPath(name)} to the upstream`;
      await waitFor(what, m, answersHello(webPort, batonPath(name), name === 'baton-mw3' ? MW3_HEADERS : {}));
    }
  } catch (err) {
    // baton's own account of the failure is in its log (stdout), not on stderr.
    let log = '';
    try {
      log = fs.readFileSync(logFile, 'utf8').slice(-4096).trim();
    } catch {
      // no log yet
    }
    throw new Error(`${(err as Error).message}\n--- ${name} stdout (config ${cfgFile}) ---\n${log}`, { cause: err });
  }
  return { name, port: webPort, path: batonPath(name), server: m, logFile };
}

/** Response headers baton-mw3's headers middleware sets: its readiness check wants them. */
const MW3_HEADERS: Record<string, string> = { 'x-frame-options': 'DENY', 'x-bench-proxy': 'baton' };
