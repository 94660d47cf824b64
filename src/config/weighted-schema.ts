// Weighted services (Traefik's `weighted` service) and their sticky cookie, and the checks that span services: a
// weighted service's children must exist, form no cycle, and the weighted service has no upstreams of its own.
// (Version-sticky deploys are a deploy setting, `stickyFor`: src/deploy/canary.ts.)
//
// This file imports nothing from schema.ts: schema.ts imports it (a cycle would leave its values undefined).
import { z } from 'zod';

/** a weighted service splits among at most this many services (the picker keeps a 32-bit skip mask) */
export const MAX_WEIGHTED_CHILDREN = 32;

export const weightedSchema = z
  .array(
    z.strictObject({
      service: z.string().min(1),
      weight: z.number().int({ message: 'weight must be a positive integer' }).positive({
        message: 'weight must be a positive integer',
      }),
    }),
  )
  .min(1, { message: 'a weighted service needs at least one service' })
  .max(MAX_WEIGHTED_CHILDREN);

export const stickyCookieSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { message: 'a cookie name is a token (letters, digits, !#$%&*+.^_`|~-)' })
    .default('baton_svc'),
  secure: z.boolean().default(false),
  httpOnly: z.boolean().default(true),
  sameSite: z.enum(['none', 'lax', 'strict']).default('lax'),
  /** seconds; 0: a session cookie */
  maxAge: z.number().int().min(0).default(0),
});

export const stickySchema = z.strictObject({
  /** weighted services: a client keeps the child service it was first sent to (Traefik's sticky.cookie) */
  cookie: stickyCookieSchema.optional(),
});

export type WeightedConfig = z.output<typeof weightedSchema>;
export type StickyCookie = z.output<typeof stickyCookieSchema>;

interface ServiceLike {
  upstreams: readonly string[];
  weighted?: WeightedConfig;
  sticky?: { cookie?: StickyCookie };
}

/** Every cross-service problem of the weighted services, with its config path. */
export function weightedProblems(
  services: Readonly<Record<string, ServiceLike>>,
): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  for (const [name, s] of Object.entries(services)) {
    if (s.weighted === undefined) {
      if (s.sticky?.cookie !== undefined)
        out.push({ path: [name, 'sticky', 'cookie'], message: 'sticky.cookie needs a weighted service' });
      continue;
    }
    if (s.upstreams.length > 0)
      out.push({ path: [name, 'upstreams'], message: 'a weighted service has no upstreams of its own' });
    const seen = new Set<string>();
    s.weighted.forEach((w, i) => {
      if (services[w.service] === undefined)
        out.push({ path: [name, 'weighted', String(i), 'service'], message: `unknown service "${w.service}"` });
      else if (seen.has(w.service))
        out.push({ path: [name, 'weighted', String(i), 'service'], message: `service "${w.service}" listed twice` });
      seen.add(w.service);
    });
    const cycle = cycleFrom(name, services);
    if (cycle !== null) out.push({ path: [name, 'weighted'], message: `weighted services form a cycle: ${cycle}` });
  }
  return out;
}

/** "a → b → a" when following weighted children from `start` comes back to it, else null. */
function cycleFrom(start: string, services: Readonly<Record<string, ServiceLike>>): string | null {
  const stack: string[][] = [[start]];
  while (stack.length > 0) {
    const path = stack.pop()!;
    for (const w of services[path[path.length - 1]]?.weighted ?? []) {
      if (w.service === start) return [...path, start].join(' → ');
      if (!path.includes(w.service)) stack.push([...path, w.service]);
    }
  }
  return null;
}
