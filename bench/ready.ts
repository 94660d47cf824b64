// Ports and readiness checks of the bench's servers.

import http from 'node:http';
import net from 'node:net';
import { isAlive, type Managed } from './processes.ts';

export const BENCH_HOST = 'bench.test';
export const UPSTREAM_BODY = 'hello\n';
const READY_TIMEOUT_MS = 20_000;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(what: string, m: Managed, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (!isAlive(m)) {
      const how = `code ${m.child.exitCode}, signal ${m.child.signalCode}`;
      throw new Error(`${m.name} exited (${how}) before ${what}\n${m.stderrTail()}`);
    }
    try {
      if (await check()) return;
      lastError = 'unexpected answer';
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${READY_TIMEOUT_MS} ms waiting for ${what} (${lastError})\n${m.stderrTail()}`);
}

export const answersHello =
  (port: number, urlPath = '/', headers: Record<string, string> = {}) =>
  async () => {
    const res = await httpGet(port, urlPath, BENCH_HOST);
    const seen = Object.entries(headers).every(([k, v]) => res.headers[k] === v);
    return res.status === 200 && res.body === UPSTREAM_BODY && seen;
  };

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function httpGet(port: number, urlPath: string, host: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false, timeout: 2000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
