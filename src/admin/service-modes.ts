// POST /api/services/{name}/pause | resume | maintenance: a service's runtime mode (src/upstream/modes.ts).
// pause: new requests are held (bounded by the service's `hold`), in-flight ones finish; resume releases them in
// order. maintenance {on, page?, retryAfter?}: 503 with the page and Retry-After; health checks go on.
import { z } from 'zod';
import { durationValue } from '../config/schema.ts';
import { NotFoundError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import { MODE_NAMES } from '../upstream/modes.ts';
import type { Registry } from '../upstream/registry.ts';
import { parseBody } from './body.ts';

export const MODE_ACTIONS = ['pause', 'resume', 'maintenance'] as const;
export type ModeAction = (typeof MODE_ACTIONS)[number];

/** The largest maintenance page accepted (the admin API's body limit is 64 KiB). */
export const MAX_MAINTENANCE_PAGE_BYTES = 60 * 1024;

const emptyBody = z.strictObject({});
const maintenanceBody = z.strictObject({
  on: z.boolean(),
  page: z
    .string()
    .min(1)
    .refine((p) => Buffer.byteLength(p) <= MAX_MAINTENANCE_PAGE_BYTES, `at most ${MAX_MAINTENANCE_PAGE_BYTES} bytes`)
    .optional(),
  /** seconds or a duration ("2m"): the Retry-After sent with the page */
  retryAfter: durationValue.refine((ms) => ms >= 1000 && ms <= 86_400_000, 'from 1s to 24h').optional(),
});

export interface ModeResult {
  service: string;
  mode: (typeof MODE_NAMES)[number];
  held: number;
}

/** Applies `action` to `name` (404: no such service; 400: a bad body, nothing changed). */
export function serviceMode(registry: Registry, events: EventBus, name: string, action: ModeAction, body: unknown) {
  if (!registry.services.has(name)) throw new NotFoundError(`no service named ${JSON.stringify(name)}`);
  if (action === 'maintenance') {
    const m = parseBody(maintenanceBody, body);
    const retryAfter = m.retryAfter === undefined ? null : Math.ceil(m.retryAfter / 1000);
    registry.modes.maintenance(name, m.on, m.page ?? null, retryAfter);
  } else {
    parseBody(emptyBody, body);
    if (action === 'pause') registry.modes.pause(name);
    else registry.modes.resume(name);
  }
  const result = { service: name, ...modeOf(registry, name) };
  events.publish('service', { type: 'service', ...result, action, at: new Date().toISOString() });
  return result;
}

/** A service's mode and the requests it holds in this thread. */
export function modeOf(registry: Registry, name: string): Omit<ModeResult, 'service'> {
  const s = registry.services.get(name);
  return { mode: MODE_NAMES[registry.modes.get(name).mode], held: s?.held?.size ?? 0 };
}
