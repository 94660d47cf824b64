// The admin API: its own listener (never an entrypoint), bearer token on every /api call, JSON in and out.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import { durationValue } from '../config/schema.ts';
import type { DeployRecord } from '../deploy/journal.ts';
import {
  BadRequestError,
  BatonError,
  ConflictError,
  MethodNotAllowedError,
  NotFoundError,
  UnauthorizedError,
} from '../errors.ts';
import type { BatonEventType, EventBus } from '../events.ts';
import { listenerFd, listenOn } from '../listen.ts';
import type { TrafficStats } from '../traffic.ts';
import type { Registry } from '../upstream/registry.ts';
import type { UpgradeControl } from '../upgrade.ts';
import { upgradeRoute } from './upgrade-route.ts';
import { parseBody, readJson, sendJson } from './body.ts';
import { certificatesBody, type CertificateList } from './certificates.ts';
import { configReload, type ReloadResult } from './config-reload.ts';
import { MODE_ACTIONS, serviceMode, type ModeAction } from './service-modes.ts';
import { servicesView, upstreamView } from './views.ts';
import { serveDashboard } from './dashboard.ts';
import type { Deployments } from './deployments.ts';
import { LiveStats } from './live-stats.ts';
import { Metrics } from './metrics.ts';
import { checkBearer } from './token.ts';

const drainBody = z.strictObject({
  timeout: durationValue.optional(),
});
const emptyBody = z.strictObject({});
/** how many ids one GET /api/containers may ask about */
const OPERATIONS = ['deploys', 'rollback', 'scale', 'promote'];
const MAX_CONTAINER_IDS = 100;
/** GET /api/deploys: how many records by default, and at most */
const DEFAULT_DEPLOY_LIMIT = 50;
const MAX_DEPLOY_LIMIT = 1000;

/** The admin listener's own limits: the head within 10 s, the whole request (a waiting drain answers when it is
 *  done, bounded by its own timeout) within 60 s of arriving, keep-alive for 5 s. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 60_000;
const IDLE_MS = 5_000;

export interface AdminOptions {
  /** the container deployer and the Swarm deployer, whichever are on */
  deployments: Deployments;
  address: string;
  token: string;
  registry: Registry;
  /** upstream and deploy events, streamed to /api/events subscribers */
  events: EventBus;
  /** the traffic plane's counters (summed over the worker threads) */
  traffic: () => Promise<TrafficStats>;
  /** the event loops serving traffic, for GET /api/workers */
  workers: () => Promise<unknown[]>;
  /** every entrypoint's name (a service's routes are served on all of them unless it names some) */
  entrypoints: string[];
  /** every certificate baton serves, for GET /api/certificates */
  certificates: CertificateList;
  /** metrics.public: GET /metrics without the token; metrics.buckets: the duration histogram's */
  metrics: { public: boolean; buckets: readonly number[] };
  /** POST /api/config/reload: reads the config file again (config-reload.ts) */
  reload?: () => Promise<ReloadResult>;
  /** `baton upgrade` (GET/POST /api/upgrade); null: not run by `baton serve` */
  upgrade?: UpgradeControl | null;
  log: Logger;
}

function deploySummary(r: DeployRecord): Record<string, unknown> {
  const ended = r.finishedAt === undefined ? NaN : Date.parse(r.finishedAt);
  return {
    id: r.id,
    kind: r.kind,
    service: r.service,
    state: r.state,
    image: r.image,
    createdAt: r.createdAt,
    finishedAt: r.finishedAt ?? null,
    durationMs: Number.isNaN(ended) ? null : ended - Date.parse(r.createdAt),
    error: r.error ?? null,
    requests: r.traffic?.requests ?? null,
    failures: r.traffic?.failures ?? null,
    steps: r.steps.length,
    group: r.group ?? null,
  };
}

const accepted = (r: DeployRecord) => ({ id: r.id, service: r.service, kind: r.kind, state: r.state });

/** ?limit= of GET /api/deploys */
function deployLimit(v: string | null): number {
  if (v === null) return DEFAULT_DEPLOY_LIMIT;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > MAX_DEPLOY_LIMIT) {
    throw new BadRequestError(`limit: a whole number from 1 to ${MAX_DEPLOY_LIMIT}`);
  }
  return n;
}

export class AdminServer {
  readonly #opts: AdminOptions;
  readonly #server: Server;
  readonly #streams = new Set<ServerResponse>();
  readonly #unsubscribe: () => void;
  readonly #metrics: Metrics;
  readonly #stats: LiveStats;

  constructor(opts: AdminOptions) {
    this.#opts = opts;
    const { registry, traffic, certificates, events } = opts;
    this.#metrics = new Metrics({ registry, traffic, certificates, events, buckets: opts.metrics.buckets });
    this.#stats = new LiveStats({
      registry,
      traffic,
      publish: (stats) => this.#broadcast('stats', stats),
      onError: (err) => opts.log.warn({ err }, 'Live stats failed'),
    });
    const timeouts = {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: IDLE_MS,
    };
    this.#server = createServer(timeouts, (req, res) => {
      this.#handle(req, res).catch((err) => this.#error(res, err));
    });
    this.#unsubscribe = opts.events.subscribe((type, data) => this.#broadcast(type, data));
  }

  /** Listens on the config's address, or takes over the inherited listening socket `fd` (`baton upgrade`). */
  listen(fd?: number): Promise<AddressInfo> {
    return listenOn(this.#server, this.#opts.address, { fd });
  }

  /** The listening socket's file descriptor, handed to the next baton by `baton upgrade`. */
  fd(): number | null {
    return listenerFd(this.#server);
  }

  /** The next baton is ready (`baton upgrade`): new admin connections are its own; the open ones are answered. */
  stopAccepting(): void {
    if (this.#server.listening) NetServer.prototype.close.call(this.#server);
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  #broadcast(type: BatonEventType | 'stats', data: unknown): void {
    if (this.#streams.size === 0) return;
    const frame = `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const s of this.#streams) s.write(frame);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (path === '/healthz') {
      if (method !== 'GET' && method !== 'HEAD') throw new MethodNotAllowedError('GET, HEAD');
      return this.#json(res, 200, { status: 'ok' });
    }
    if (path === '/metrics') {
      if (method !== 'GET') throw new MethodNotAllowedError('GET');
      if (!this.#opts.metrics.public && !checkBearer(req.headers.authorization, this.#opts.token)) {
        throw new UnauthorizedError();
      }
      const body = await this.#metrics.render();
      res.writeHead(200, {
        'content-type': this.#metrics.contentType,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(body);
      return;
    }
    // the dashboard's page and files (no token: the page asks for it, and sends it on every API call)
    if (path === '/' || path.startsWith('/dashboard/')) {
      if (method !== 'GET' && method !== 'HEAD') throw new MethodNotAllowedError('GET, HEAD');
      return serveDashboard(req, res, path);
    }
    if (!path.startsWith('/api/')) throw new NotFoundError(`no such endpoint: ${path}`);
    if (!checkBearer(req.headers.authorization, this.#opts.token)) throw new UnauthorizedError();

    const parts = path.slice(5).split('/').map(decodeSegment);
    const registry = this.#opts.registry;

    // GET /api/services
    if (parts.length === 1 && parts[0] === 'services') {
      if (method !== 'GET') throw new MethodNotAllowedError('GET');
      return this.#json(res, 200, { services: this.services() });
    }
    // GET /api/workers
    if (parts.length === 1 && parts[0] === 'workers') {
      if (method !== 'GET') throw new MethodNotAllowedError('GET');
      return this.#json(res, 200, { workers: await this.#opts.workers() });
    }
    // GET /api/certificates
    if (parts.length === 1 && parts[0] === 'certificates') {
      if (method !== 'GET') throw new MethodNotAllowedError('GET');
      return this.#json(res, 200, certificatesBody(this.#opts.certificates));
    }
    // GET /api/events (server-sent events)
    if (parts.length === 1 && parts[0] === 'events') {
      if (method !== 'GET') throw new MethodNotAllowedError('GET');
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`event: hello\ndata: ${JSON.stringify({ services: this.services() })}\n\n`);
      this.#streams.add(res);
      this.#stats.listening = true;
      res.on('close', () => {
        this.#streams.delete(res);
        this.#stats.listening = this.#streams.size > 0;
      });
      return;
    }
    if (parts.length === 2 && parts[0] === 'config' && parts[1] === 'reload') {
      if (method !== 'POST') throw new MethodNotAllowedError('POST');
      parseBody(emptyBody, await readJson(req));
      return configReload(res, this.#opts.reload);
    }
    if (parts[0] === 'services' && parts.length === 3 && (MODE_ACTIONS as readonly string[]).includes(parts[2])) {
      if (method !== 'POST') throw new MethodNotAllowedError('POST');
      const body = await readJson(req);
      this.#opts.log.info({ service: parts[1], action: parts[2] }, 'Service mode requested');
      return this.#json(res, 200, serviceMode(registry, this.#opts.events, parts[1], parts[2] as ModeAction, body));
    }
    if (parts.length === 1 && parts[0] === 'upgrade') return upgradeRoute(this.#opts.upgrade ?? null, req, res);
    // deploys: POST /api/services/{name}/deploys|rollback|scale|promote, GET /api/services/{name}/deploys,
    // GET /api/deploys/{id}
    if (parts[0] === 'services' && parts.length === 3 && OPERATIONS.includes(parts[2])) {
      const deployments = this.#opts.deployments;
      const name = parts[1];
      if (parts[2] === 'deploys' && method === 'GET') {
        return this.#json(res, 200, { deploys: deployments.list(name).map(deploySummary) });
      }
      if (method !== 'POST') throw new MethodNotAllowedError(parts[2] === 'deploys' ? 'GET, POST' : 'POST');
      if (this.#opts.upgrade?.upgrading) throw new ConflictError('baton is upgrading itself: deploy once it is done');
      const body = await readJson(req);
      this.#opts.log.info({ service: name, action: parts[2] }, 'Deploy requested');
      let rec: DeployRecord;
      if (parts[2] === 'deploys') {
        rec = await deployments.deploy(name, body);
      } else if (parts[2] === 'scale') {
        rec = await deployments.scale(name, body);
      } else if (parts[2] === 'promote') {
        parseBody(emptyBody, body);
        rec = deployments.promote(name);
      } else {
        parseBody(emptyBody, body);
        rec = await deployments.rollback(name);
      }
      return this.#json(res, 202, accepted(rec));
    }
    // GET /api/deploys?service=&limit=: the history, newest first; POST: several services in one call (group.ts)
    if (parts[0] === 'deploys' && parts.length === 1) {
      if (method === 'POST')
        return this.#json(res, 202, accepted(await this.#opts.deployments.deployGroup(await readJson(req))));
      if (method !== 'GET') throw new MethodNotAllowedError('GET, POST');
      const limit = deployLimit(url.searchParams.get('limit'));
      const all = this.#opts.deployments.list(url.searchParams.get('service') ?? undefined);
      const newest = all.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
      return this.#json(res, 200, { deploys: newest.slice(0, limit).map(deploySummary) });
    }
    if (parts[0] === 'deploys' && parts.length === 2) {
      if (method !== 'GET') throw new MethodNotAllowedError('GET');
      const rec = this.#opts.deployments.get(parts[1]);
      if (rec === null) throw new NotFoundError(`no deploy with id ${JSON.stringify(parts[1])}`);
      return this.#json(res, 200, rec);
    }
    // GET /api/containers?ids=a,b: requests in flight here to containers (Swarm: tasks), draining ones included —
    // what a deploying baton replica asks its peers before it counts an old task as drained everywhere
    if (parts[0] === 'containers' && parts.length === 1) {
      if (method !== 'GET') throw new MethodNotAllowedError('GET');
      const ids = (url.searchParams.get('ids') ?? '').split(',').filter((id) => id !== '');
      if (ids.length === 0 || ids.length > MAX_CONTAINER_IDS) {
        throw new BadRequestError(`ids: 1 to ${MAX_CONTAINER_IDS} comma-separated container or task ids`);
      }
      const containers: Record<string, unknown> = {};
      for (const id of ids) {
        const u = registry.upstreamOfContainer(id);
        containers[id] = {
          inflight: registry.inflightOfContainer(id),
          upstream: u === undefined ? null : { id: u.id, state: u.state, requests: u.requests, failures: u.failures },
        };
      }
      return this.#json(res, 200, { containers });
    }
    // /api/upstreams/{id}[/drain|/enable]
    if (
      parts[0] === 'upstreams' &&
      (parts.length === 2 || (parts.length === 3 && (parts[2] === 'drain' || parts[2] === 'enable')))
    ) {
      const id = parts[1];
      const u = registry.upstreams.get(id);
      if (u === undefined) throw new NotFoundError(`no upstream with id ${JSON.stringify(id)}`);
      if (parts.length === 2) {
        if (method !== 'GET') throw new MethodNotAllowedError('GET');
        return this.#json(res, 200, upstreamView(registry, id)!);
      }
      if (method !== 'POST') throw new MethodNotAllowedError('POST');
      if (parts[2] === 'drain') {
        const { timeout } = parseBody(drainBody, await readJson(req));
        const wait = url.searchParams.get('wait') !== 'false';
        this.#opts.log.info({ upstream: id, timeout }, 'Drain requested');
        const done = registry.drain(id, timeout);
        if (!wait) {
          done.catch(() => {});
          return this.#json(res, 202, { id, state: u.state, inflight: u.inflight });
        }
        const result = await done;
        return this.#json(res, 200, result);
      }
      if (parts[2] === 'enable') {
        parseBody(emptyBody, await readJson(req));
        this.#opts.log.info({ upstream: id }, 'Enable requested');
        registry.enable(id);
        return this.#json(res, 200, { id, state: u.state, inflight: u.inflight });
      }
    }
    throw new NotFoundError(`no such endpoint: ${method} ${path}`);
  }

  services(): unknown[] {
    return servicesView(this.#opts.registry, this.#opts.entrypoints);
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    sendJson(res, status, body);
  }

  #error(res: ServerResponse, err: unknown): void {
    const e = err instanceof BatonError ? err : null;
    const status = e?.statusCode ?? 500;
    if (status >= 500) this.#opts.log.error({ err }, 'Admin request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const extra: Record<string, string> =
      status === 401
        ? { 'www-authenticate': 'Bearer realm="baton"' }
        : err instanceof MethodNotAllowedError
          ? { allow: err.allow }
          : {};
    const text =
      JSON.stringify({ error: { code: e?.code ?? 'BATON_INTERNAL', message: e?.message ?? 'internal error' } }) + '\n';
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...extra,
    });
    res.end(text);
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    this.#metrics.close();
    this.#stats.close();
    for (const s of this.#streams) s.end();
    this.#streams.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new BadRequestError(`malformed path segment ${JSON.stringify(s)}`);
  }
}
