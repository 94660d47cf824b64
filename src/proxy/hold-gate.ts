// A service's mode at the door of forward.ts: in maintenance a request gets the operator's page (503, Retry-After);
// paused, it waits in the service's hold queue (src/upstream/hold.ts) until resume, as it does when a deploy (or
// `hold.whenUnavailable`) holds the service while no upstream takes traffic. Beyond the hold's bounds: a 503 with
// Retry-After (hold_full, or hold_timeout once it waited `hold.timeout`).
import { MAINTENANCE, PAUSED } from '../upstream/service.ts';
import type { Forward } from './forward.ts';
import { sendMaintenance } from './pages.ts';
import { HOLD_FULL, type Answer } from './retry-policy.ts';

/** How a maintenance answer is counted and logged (its page and Retry-After are the service's). */
const MAINTENANCE_ANSWER: Answer = Object.freeze({
  kind: 'answer',
  status: 503,
  code: 'maintenance',
  detail: '',
  report: false,
  retryAfter: 0,
});

/** A service not serving normally: true when the request was answered or held here. */
export function gate(f: Forward, fromHold: boolean): boolean {
  const s = f.service;
  if (s.mode === MAINTENANCE) {
    const close = f.host.closing || (f.hasBody && !f.req.complete);
    sendMaintenance(f.res, f.method, s.maintenancePage, s.retryAfter, close);
    f.answered(MAINTENANCE_ANSWER);
    return true;
  }
  return s.mode === PAUSED && !fromHold && hold(f);
}

/** Holds the request (true), or answers hold_full when the bounds leave no room (true too: it is answered). */
export function hold(f: Forward): boolean {
  const declared = Number(f.req.headers['content-length'] ?? 0);
  // a chunked body is not declared: count what Node may buffer of it while it waits
  const bytes = f.hasBody && !(declared > 0) ? CHUNKED_ESTIMATE : declared;
  if (!f.service.hold(f, bytes)) f.refuse(HOLD_FULL);
  return true;
}

const CHUNKED_ESTIMATE = 64 * 1024;
