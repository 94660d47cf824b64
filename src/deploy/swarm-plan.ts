// A deploy of a Swarm service, the pure parts: the request (every update setting optional: the service's own
// update_config is what applies unless the request says otherwise), the UpdateConfig Swarm is given, the new spec,
// which tasks are the update's new and old ones, and what the service's UpdateStatus means for the deploy.
// swarm-deployer.ts does the I/O around them.
import { z } from 'zod';
import { DEFAULT_HEALTH_GATE_TIMEOUT_MS } from '../config/defaults.ts';
import { duration, durationValue } from '../config/schema.ts';
import { IMAGE_REF } from './plan.ts';

export const swarmDeployRequestSchema = z.strictObject({
  image: z.string().regex(IMAGE_REF, 'not a valid image reference (e.g. "app:v2", "registry:5000/team/app@sha256:…")'),
  /** Swarm replaces tasks in place: only rolling */
  strategy: z
    .literal('rolling', { message: 'a Swarm service is updated rolling (blue-green is for containers)' })
    .optional(),
  replicas: z.number().int().min(1).max(100).optional(),
  parallelism: z.number().int().min(0).max(100).optional(),
  order: z.enum(['start-first', 'stop-first']).optional(),
  delay: durationValue.optional(),
  monitor: durationValue.optional(),
  failureAction: z.enum(['rollback', 'pause', 'continue']).optional(),
  maxFailureRatio: z.number().min(0).max(1).optional(),
  /** how long a new task Swarm runs may take to pass baton's health gate */
  healthTimeout: duration(DEFAULT_HEALTH_GATE_TIMEOUT_MS),
  /** the image need not be on this node: Swarm's nodes pull it */
  pull: z.boolean().default(false),
  /** accepted for the CLI's sake; Swarm keeps the previous spec (PreviousSpec) itself */
  keepPrevious: z.boolean().optional(),
  drainTimeout: durationValue.optional(),
});

export type SwarmDeployRequest = z.output<typeof swarmDeployRequestSchema>;

export const swarmScaleRequestSchema = z.strictObject({
  replicas: z.number().int().min(0).max(100),
  healthTimeout: duration(DEFAULT_HEALTH_GATE_TIMEOUT_MS),
  drainTimeout: durationValue.optional(),
});

export type SwarmScaleRequest = z.output<typeof swarmScaleRequestSchema>;

/** Swarm's UpdateConfig / RollbackConfig (durations in nanoseconds). */
export interface SwarmUpdateConfig {
  Parallelism?: number;
  Delay?: number;
  FailureAction?: 'pause' | 'continue' | 'rollback';
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
}

/** What Swarm does when a setting is absent (docker service create's defaults). */
export const SWARM_UPDATE_DEFAULTS: Required<SwarmUpdateConfig> = {
  Parallelism: 1,
  Delay: 0,
  FailureAction: 'pause',
  Monitor: 5_000_000_000,
  MaxFailureRatio: 0,
  Order: 'stop-first',
};

const NS_PER_MS = 1_000_000;

/** The settings a deploy runs with, in baton's units: the service's update_config, the request's fields over it. */
export interface SwarmSettings {
  parallelism: number;
  delay: number;
  order: 'start-first' | 'stop-first';
  monitor: number;
  failureAction: 'rollback' | 'pause' | 'continue';
  maxFailureRatio: number;
}

export function settingsFor(current: SwarmUpdateConfig | undefined, req: Partial<SwarmDeployRequest>): SwarmSettings {
  const c = { ...SWARM_UPDATE_DEFAULTS, ...(current ?? {}) };
  return {
    parallelism: req.parallelism ?? c.Parallelism,
    delay: req.delay ?? Math.round(c.Delay / NS_PER_MS),
    order: req.order ?? c.Order,
    monitor: req.monitor ?? Math.round(c.Monitor / NS_PER_MS),
    failureAction: req.failureAction ?? c.FailureAction,
    maxFailureRatio: req.maxFailureRatio ?? c.MaxFailureRatio,
  };
}

/** The UpdateConfig Swarm is given: the service's own, with only the fields the request set replaced. */
export function updateConfigFor(
  current: SwarmUpdateConfig | undefined,
  req: Partial<SwarmDeployRequest>,
): SwarmUpdateConfig {
  const out: SwarmUpdateConfig = { ...(current ?? {}) };
  if (req.parallelism !== undefined) out.Parallelism = req.parallelism;
  if (req.delay !== undefined) out.Delay = req.delay * NS_PER_MS;
  if (req.order !== undefined) out.Order = req.order;
  if (req.monitor !== undefined) out.Monitor = req.monitor * NS_PER_MS;
  if (req.failureAction !== undefined) out.FailureAction = req.failureAction;
  if (req.maxFailureRatio !== undefined) out.MaxFailureRatio = req.maxFailureRatio;
  return out;
}

/** The fields of a service spec a deploy changes. */
export interface SwarmSpec {
  Name?: string;
  Labels?: Record<string, string>;
  TaskTemplate?: { ContainerSpec?: { Image?: string } & Record<string, unknown> } & Record<string, unknown>;
  Mode?: { Replicated?: { Replicas?: number }; Global?: object };
  UpdateConfig?: SwarmUpdateConfig;
  RollbackConfig?: SwarmUpdateConfig;
  [key: string]: unknown;
}

/** The service's spec with the new image (and replicas, and update settings); the rest as it is. */
export function deploySpec(spec: SwarmSpec, req: Partial<SwarmDeployRequest> & { image: string }): SwarmSpec {
  const next = structuredClone(spec);
  next.TaskTemplate = {
    ...next.TaskTemplate,
    ContainerSpec: { ...next.TaskTemplate?.ContainerSpec, Image: req.image },
  };
  if (req.replicas !== undefined) {
    if (next.Mode?.Replicated === undefined) throw new Error('replicas: a global service runs one task per node');
    next.Mode = { Replicated: { ...next.Mode.Replicated, Replicas: req.replicas } };
  }
  next.UpdateConfig = updateConfigFor(spec.UpdateConfig, req);
  return next;
}

/** The spec scaled to `replicas` (a replicated service only). */
export function scaleSpec(spec: SwarmSpec, replicas: number): SwarmSpec {
  if (spec.Mode?.Replicated === undefined)
    throw new Error('a global service runs one task per node: it cannot be scaled');
  const next = structuredClone(spec);
  next.Mode = { Replicated: { ...spec.Mode.Replicated, Replicas: replicas } };
  return next;
}

/** An image reference without the digest Swarm pins it to (`app:v2@sha256:…` → `app:v2`). */
export function withoutDigest(image: string): string {
  const at = image.indexOf('@sha256:');
  return at === -1 ? image : image.slice(0, at);
}

/** Swarm's UpdateStatus.State → how the deploy stands. */
export type UpdatePhase = 'updating' | 'completed' | 'paused' | 'rolling_back' | 'rolled_back' | 'rollback_paused';

export function phaseOf(state: string | undefined): UpdatePhase {
  switch (state) {
    case 'completed':
      return 'completed';
    case 'paused':
      return 'paused';
    case 'rollback_started':
      return 'rolling_back';
    case 'rollback_completed':
      return 'rolled_back';
    case 'rollback_paused':
      return 'rollback_paused';
    default:
      return 'updating'; // 'updating', or no status yet right after the update was posted
  }
}
