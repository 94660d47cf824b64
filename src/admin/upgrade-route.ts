// GET /api/upgrade: which process answers (its pid, since when, whether an upgrade runs).
// POST /api/upgrade (body `{ "timeout"? }`): starts the new baton on this one's listeners (src/upgrade.ts) and
// answers once it is ready — 200 `{ previousPid, pid, durationMs }` — then this baton stops accepting, drains and
// exits. 409: another upgrade, or a deploy, is running; 500 BATON_UPGRADE_FAILED: the new one did not start (this
// one serves on).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { durationValue } from '../config/schema.ts';
import { MethodNotAllowedError, NotFoundError } from '../errors.ts';
import type { UpgradeControl } from '../upgrade.ts';
import { parseBody, readJson, sendJson } from './body.ts';

const upgradeBody = z.strictObject({
  /** how long the new baton gets to be ready */
  timeout: durationValue.optional(),
});

export async function upgradeRoute(
  control: UpgradeControl | null,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'POST') throw new MethodNotAllowedError('GET, POST');
  if (control === null) throw new NotFoundError('upgrades need baton started by `baton serve`');
  if (method === 'GET') return json(res, 200, control.status());
  const { timeout } = parseBody(upgradeBody, await readJson(req));
  const result = await control.upgrade({ timeoutMs: timeout });
  // the answer goes out first (or its client went away); then this baton steps down
  res.once('close', () => control.handOver());
  json(res, 200, result);
}

// the client's next request must reach the new baton, not this one's closing keep-alive socket
function json(res: ServerResponse, status: number, body: unknown): void {
  sendJson(res, status, body, { connection: 'close' });
}
