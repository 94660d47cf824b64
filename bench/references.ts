// The other proxies baton is measured beside, each forwarding to the same upstream on one core like nginx (1
// worker): haproxy (1 thread, `http-reuse always`), caddy's reverse_proxy (GOMAXPROCS=1: the Go class Traefik
// belongs to), and three Node proxies — @fastify/http-proxy, http-proxy-3 with a keep-alive agent, and a bare
// undici Pool.dispatch proxy (bench/refs/), the Node floor to beat. A reference whose program is missing is skipped
// with the reason (wrk.ts); the Node ones need only the devDependencies.

import fs from 'node:fs';
import path from 'node:path';
import { findExecutable, start, type Managed } from './processes.ts';
import { pinned, type Pinning } from './pinning.ts';
import { answersHello, freePort, waitFor } from './ready.ts';

const REFS = path.join(import.meta.dirname, 'refs');

export const REFERENCE_TARGETS = ['haproxy', 'caddy', 'fastify-proxy', 'http-proxy-3', 'undici-bare'] as const;
export type ReferenceName = (typeof REFERENCE_TARGETS)[number];

export const REFERENCE_LABELS: Record<ReferenceName, string> = {
  haproxy: 'haproxy (1 thread)',
  caddy: 'caddy reverse_proxy',
  'fastify-proxy': '@fastify/http-proxy',
  'http-proxy-3': 'http-proxy-3 (keep-alive agent)',
  'undici-bare': 'bare undici Pool.dispatch proxy',
};

/** The Debian package of each reference that is a program of its own. */
const PROGRAMS: Partial<Record<ReferenceName, { bin: string; pkg: string }>> = {
  haproxy: { bin: 'haproxy', pkg: 'haproxy' },
  caddy: { bin: 'caddy', pkg: 'caddy' },
};

/** Why a reference cannot run here, or null. */
export function referenceProblem(name: ReferenceName): string | null {
  const p = PROGRAMS[name];
  if (p === undefined || findExecutable(p.bin) !== null) return null;
  return `${name}: missing ${p.bin} (apt-get install -y ${p.pkg})`;
}

export interface ReferenceSite {
  dir: string;
  pin: Pinning;
}

/** Starts a reference proxy on a free port in front of the upstream; ready (it proxies GET /) on return. */
export async function startReference(
  site: ReferenceSite,
  name: ReferenceName,
  upstreamPort: number,
): Promise<{ port: number; server: Managed }> {
  const port = await freePort();
  const cpu = site.pin.serverCpu;
  let cmd: string;
  let args: string[];
  let env: NodeJS.ProcessEnv | undefined;
  if (name === 'haproxy') {
    const conf = path.join(site.dir, 'haproxy.cfg');
    fs.writeFileSync(conf, haproxyConfig(port, upstreamPort));
    [cmd, args] = [findExecutable('haproxy')!, ['-db', '-f', conf]];
  } else if (name === 'caddy') {
    const conf = path.join(site.dir, 'Caddyfile');
    fs.writeFileSync(conf, caddyConfig(port, upstreamPort));
    [cmd, args] = [findExecutable('caddy')!, ['run', '--config', conf, '--adapter', 'caddyfile']];
    env = { ...process.env, GOMAXPROCS: '1', XDG_DATA_HOME: site.dir, XDG_CONFIG_HOME: site.dir };
  } else {
    [cmd, args] = [process.execPath, [path.join(REFS, `${name}.ts`), String(port), String(upstreamPort)]];
  }
  const [pcmd, pargs] = pinned(site.pin, cpu, cmd, args);
  const server = start(name, pcmd, pargs, env !== undefined ? { env } : {});
  await waitFor(`${name} to proxy GET / on 127.0.0.1:${port}`, server, answersHello(port));
  return { port, server };
}

function haproxyConfig(port: number, upstreamPort: number): string {
  return `global
  nbthread 1
  maxconn 8000
  log stderr format short local0 emerg
defaults
  mode http
  timeout connect 5s
  timeout client 65s
  timeout server 65s
  timeout http-keep-alive 65s
  http-reuse always
frontend bench
  bind 127.0.0.1:${port}
  default_backend upstream
backend upstream
  server upstream 127.0.0.1:${upstreamPort} maxconn 64
`;
}

function caddyConfig(port: number, upstreamPort: number): string {
  return `{
  admin off
  auto_https off
}
http://:${port} {
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:${upstreamPort}
}
`;
}
