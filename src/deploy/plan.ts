// The deploy plan, pure: which batches start how many new containers and retire which old ones, in what order.
//
//   rolling,  start-first:  [start P → health gate → retire P old] × ⌈max(R, O) / P⌉, monitor after each batch
//   rolling,  stop-first:   [retire P old → start P → health gate] × …
//   blue-green:             start R → all healthy → retire all O at once (one atomic switch), monitor
//
// R = replicas wanted (default: as many as run now), O = old containers, P = parallelism (0 = all at once).
import { z } from 'zod';
import { DEFAULT_HEALTH_GATE_TIMEOUT_MS } from '../config/defaults.ts';
import { duration, durationValue } from '../config/schema.ts';
import { CONFIG_HASH } from './compose.ts';
import { canaryFields, canaryProblems } from './canary.ts';

// Docker image references: [registry[:port]/]name[:tag][@sha256:digest], or a bare image id.
const REGISTRY = String.raw`(?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?\/)?`;
const PATH_COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`;
const TAG = String.raw`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?`;
const DIGEST = String.raw`(?:@sha256:[a-f0-9]{64})?`;
const IMAGE_ID = String.raw`(?:sha256:)?[a-f0-9]{12,64}`;
export const IMAGE_REF = new RegExp(
  String.raw`^${REGISTRY}${PATH_COMPONENT}(?:\/${PATH_COMPONENT})*${TAG}${DIGEST}$|^${IMAGE_ID}$`,
);

export const DEPLOY_DEFAULTS = {
  strategy: 'rolling',
  parallelism: 1,
  order: 'start-first',
  delay: 0,
  monitor: 5_000, // ms
  failureAction: 'rollback',
  maxFailureRatio: 0,
  healthTimeout: DEFAULT_HEALTH_GATE_TIMEOUT_MS,
} as const;

export const deployFields = z.strictObject({
  image: z.string().regex(IMAGE_REF, 'not a valid image reference (e.g. "app:v2", "registry:5000/team/app@sha256:…")'),
  strategy: z.enum(['rolling', 'blue-green']).default(DEPLOY_DEFAULTS.strategy),
  replicas: z.number().int().min(1).max(100).optional(),
  parallelism: z.number().int().min(0).max(100).default(DEPLOY_DEFAULTS.parallelism),
  order: z.enum(['start-first', 'stop-first']).default(DEPLOY_DEFAULTS.order),
  delay: duration(DEPLOY_DEFAULTS.delay),
  monitor: duration(DEPLOY_DEFAULTS.monitor),
  failureAction: z.enum(['rollback', 'pause', 'continue']).default(DEPLOY_DEFAULTS.failureAction),
  maxFailureRatio: z.number().min(0).max(1).default(DEPLOY_DEFAULTS.maxFailureRatio),
  healthTimeout: duration(DEPLOY_DEFAULTS.healthTimeout),
  /** default: the service's drain timeout */
  drainTimeout: durationValue.optional(),
  /** pull the image when it is not present locally */
  pull: z.boolean().default(false),
  /** keep the previous generation stopped for an instant rollback (default) instead of removing it */
  keepPrevious: z.boolean().default(true),
  /** hold requests while no upstream takes traffic (always on for stop-first; the service's `hold` bounds it) */
  hold: z.boolean().default(false),
  /** a docker-compose service: the new containers' com.docker.compose.config-hash (compose.ts) */
  configHash: z.string().regex(CONFIG_HASH, 'a sha256 hex digest (docker-compose config --hash=<service>)').optional(),
  ...canaryFields,
});

export const deployRequestSchema = deployFields.superRefine((r, ctx) => {
  for (const p of canaryProblems(r)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
});

export type DeployRequest = z.output<typeof deployRequestSchema>;

export const scaleRequestSchema = z.strictObject({
  replicas: z.number().int().min(0).max(100),
  healthTimeout: duration(DEPLOY_DEFAULTS.healthTimeout),
  /** default: the service's drain timeout */
  drainTimeout: durationValue.optional(),
});

export type ScaleRequest = z.output<typeof scaleRequestSchema>;

export interface Batch {
  /** new containers to start in this batch */
  start: number;
  /** old containers (ids) to retire in this batch */
  retire: string[];
  /** start-first: start, health gate, then retire; stop-first: retire first */
  order: 'start-first' | 'stop-first';
}

export function planDeploy(
  old: readonly string[],
  req: Pick<DeployRequest, 'strategy' | 'replicas' | 'parallelism' | 'order'>,
): Batch[] {
  const replicas = req.replicas ?? Math.max(old.length, 1);
  if (req.strategy === 'blue-green') return [{ start: replicas, retire: [...old], order: 'start-first' }];
  const p = req.parallelism === 0 ? Math.max(replicas, old.length) : req.parallelism;
  const batches: Batch[] = [];
  let toStart = replicas;
  let i = 0;
  while (toStart > 0 || i < old.length) {
    const start = Math.min(p, toStart);
    const retire = old.slice(i, i + p);
    toStart -= start;
    i += retire.length;
    batches.push({ start, retire, order: req.order });
  }
  return batches;
}
