// bench/deploys.ts's side of baton's admin API: requests, the service's healthy upstreams, baton's counters, one
// deploy followed to its end, and the /api/events stream (when each new container turned healthy in baton).

import http from 'node:http';
import { listenedAt } from './deploys-docker.ts';
import { batchesOf, type DeployRun, type Step } from './deploys-report.ts';

export const TOKEN = 'bench-token-0123456789';
export const SERVICE = 'bench-deploys';
const DEPLOY_TIMEOUT_MS = 120_000;
const TERMINAL = new Set(['succeeded', 'failed', 'rolled_back', 'paused']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface DeploySettings {
  /** each batch's monitor window, ms */
  monitor: number;
}

/** The admin API: JSON in, JSON out. */
export function api(
  port: number,
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${TOKEN}` };
    if (data !== undefined) Object.assign(headers, { 'content-type': 'application/json' });
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          // /metrics is text
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

export async function healthyUpstreams(adminPort: number): Promise<number> {
  const res = await api(adminPort, 'GET', '/api/services');
  const svc = (res.json?.services ?? []).find((s: { name: string }) => s.name === SERVICE);
  return (svc?.upstreams ?? []).filter((u: { state: string }) => u.state === 'healthy').length;
}

/** baton's counters for the service: retries, 5xx answers, answers with no healthy upstream. */
export async function counters(adminPort: number) {
  const text = String((await api(adminPort, 'GET', '/metrics')).json);
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const svc = `service="${SERVICE}"`;
  return {
    retries: value(new RegExp(`^baton_retries_total\\{${svc}\\} (\\d+)`, 'm')),
    http5xx: value(new RegExp(`^baton_requests_total\\{${svc},code="5xx"\\} (\\d+)`, 'm')),
    unavailable: value(new RegExp(`^baton_service_unavailable_total\\{${svc}\\} (\\d+)`, 'm')),
  };
}

/** One deploy through the admin API, followed until it ends. */
export async function deploy(adminPort: number, n: number, image: string, opts: DeploySettings) {
  const body = { image, strategy: 'rolling', monitor: opts.monitor, healthTimeout: '30s', drainTimeout: '10s' };
  const t0 = Date.now();
  let res = await api(adminPort, 'POST', `/api/services/${SERVICE}/deploys`, body);
  // the previous deploy's lock is let go just after its record says it ended
  while (res.status === 409 && Date.now() - t0 < 5000) {
    await sleep(20);
    res = await api(adminPort, 'POST', `/api/services/${SERVICE}/deploys`, body);
  }
  if (res.status !== 202) throw new Error(`deploy #${n} not accepted: ${res.status} ${JSON.stringify(res.json)}`);
  const id = String(res.json.id);
  for (;;) {
    const rec = (await api(adminPort, 'GET', `/api/deploys/${id}`)).json;
    if (TERMINAL.has(rec?.state)) {
      const t1 = rec.finishedAt ? Date.parse(rec.finishedAt) : Date.now();
      const steps = rec.steps as Step[];
      const run: DeployRun = {
        n,
        image,
        id,
        state: rec.state,
        t0,
        t1,
        steps,
        batches: batchesOf(steps),
        bootFallback: 0,
        waits: 0,
      };
      if (rec.error) run.error = String(rec.error);
      // the new containers still run (the deploy after the next removes them): when each began to listen
      const idOf = new Map((rec.new as Array<{ id: string; name: string }>).map((c) => [c.name, c.id]));
      for (const b of run.batches) {
        const at = await Promise.all(b.names.map((name) => (idOf.has(name) ? listenedAt(idOf.get(name)!) : null)));
        if (at.every((x) => x !== null)) b.listenAt = Math.max(...(at as number[]));
      }
      return run;
    }
    if (Date.now() - t0 > DEPLOY_TIMEOUT_MS)
      throw new Error(`deploy #${n} (${id}) not done in ${DEPLOY_TIMEOUT_MS} ms`);
    await sleep(50);
  }
}

/** Follows GET /api/events: when each upstream last turned `healthy` (by container name: upstream ids are
 *  `<service>@<container name>`), epoch ms. */
export function followHealthy(port: number): { healthyAt: Map<string, number>; close: () => void } {
  const healthyAt = new Map<string, number>();
  const req = http.get(
    { host: '127.0.0.1', port, path: '/api/events', headers: { authorization: `Bearer ${TOKEN}` } },
    (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (!frame.startsWith('event: upstream\n')) continue;
          const ev = JSON.parse(frame.slice(frame.indexOf('data: ') + 6)) as { id: string; to: string; at: string };
          if (ev.to === 'healthy') healthyAt.set(ev.id.slice(ev.id.indexOf('@') + 1), Date.parse(ev.at));
        }
      });
      res.on('error', () => {});
    },
  );
  req.on('error', () => {});
  return { healthyAt, close: () => req.destroy() };
}
