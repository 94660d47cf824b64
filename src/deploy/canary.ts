// Canary deploys and version-sticky swaps (skew protection): a deploy with `canary: "10%"` (or `canaryHeader`)
// or `stickyFor` runs here instead of the batches of deployer.ts. Top to bottom (run()):
//
//   split: new clients get the cookie of the old generation from the start (baton_gen, src/upstream/split.ts)
//   canary: start ⌈replicas × share⌉ new containers (at least 1; one with canaryHeader), held out of rotation →
//           health gate → postHealthy hooks → split set (share, or the header) → watch: both generations'
//           requests / failures / error ratio side by side in `live.canary`, until `baton promote`, the
//           canaryDuration, `baton rollback`, or the canary's error ratio over maxFailureRatio (or a canary
//           container leaving rotation): those last two roll back on their own
//   promote: the rest of the new generation (held) → health gate → one switch: every new client to the new
//            generation; the old one stays running for the clients carrying its cookie during `stickyFor`
//            (drained for new traffic, alive for sticky traffic) and the monitor window → old retired (drained,
//            stopped, kept for rollback) → split removed
//   rollback: new clients (and the canary's) back to the old generation → canary containers drained and removed
//
// The deploy lock is held throughout (deployer.ts releases it when run() returns).
import { z } from 'zod';
import { sleep } from '../async.ts';
import { durationValue } from '../config/schema.ts';
import { ConflictError, DeployFailure } from '../errors.ts';
import type { TrafficSplit } from '../upstream/split.ts';
import { Splits } from '../upstream/splits.ts';
import type { CloneSource, DeployContainer } from './engine.ts';
import type { DeployHooks } from './hooks.ts';
import { TERMINAL_STATES, type ContainerRef, type DeployRecord, type GenerationCounts } from './journal.ts';
import type { DeployRequest } from './plan.ts';
import * as step from './steps.ts';

/** how often the canary's counts are sampled and published */
const CANARY_SAMPLE_MS = 250;

const HEADER_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** The deploy request's canary fields (spread into plan.ts deployRequestSchema). */
export const canaryFields = {
  /** share of new clients sent to the new generation, "10%" (above 0 %, below 100 %) */
  canary: z
    .string()
    .regex(/^\d{1,2}(?:\.\d+)?%$/, { message: 'a share of new clients such as "10%" (above 0 %, below 100 %)' })
    .transform((v) => Number(v.slice(0, -1)) / 100)
    .refine((v) => v > 0 && v < 1, { message: 'the canary share is above 0 % and below 100 %' })
    .optional(),
  /** requests carrying this header go to the new generation (and keep its cookie) */
  canaryHeader: z.string().regex(HEADER_TOKEN, { message: 'a header name such as "X-Canary"' }).optional(),
  /** promote on its own after this long (default: wait for `baton promote`) */
  canaryDuration: durationValue.optional(),
  /** after the switch, keep the old generation running this long for clients carrying its cookie */
  stickyFor: durationValue.optional(),
};

/** Cross-field checks of the canary fields (the deploy request schema's superRefine). */
export function canaryProblems(r: {
  canary?: number;
  canaryHeader?: string;
  canaryDuration?: number;
}): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  const isCanary = r.canary !== undefined || r.canaryHeader !== undefined;
  if (r.canary !== undefined && r.canaryHeader !== undefined)
    out.push({ path: ['canaryHeader'], message: 'give canary or canaryHeader, not both' });
  if (r.canaryDuration !== undefined && !isCanary)
    out.push({ path: ['canaryDuration'], message: 'canaryDuration needs canary or canaryHeader' });
  return out;
}

/** The deploy runs here (a canary, or a version-sticky swap) rather than in batches. */
export function isSteeredDeploy(req: DeployRequest): boolean {
  return req.canary !== undefined || req.canaryHeader !== undefined || (req.stickyFor ?? 0) > 0;
}

/** How many canary containers: ⌈replicas × share⌉, at least 1 (1 with a header canary), at most replicas. */
export function canaryReplicas(replicas: number, share: number | undefined): number {
  if (share === undefined) return 1;
  return Math.min(Math.max(1, Math.ceil(replicas * share)), Math.max(replicas, 1));
}

/** The split of each phase, pure. */
export function splitFor(
  phase: 'old' | 'canary' | 'switched' | 'new',
  oldGenerations: readonly string[],
  generation: string,
  req: Pick<DeployRequest, 'canary' | 'canaryHeader'>,
): TrafficSplit {
  const none = { header: null, headerGeneration: null, sticky: [] as string[] };
  const old = oldGenerations.map((g) => ({ generation: g, share: 1 / oldGenerations.length }));
  switch (phase) {
    case 'old':
      return { ...none, shares: old };
    case 'canary': {
      if (req.canaryHeader !== undefined)
        return { ...none, shares: old, header: req.canaryHeader.toLowerCase(), headerGeneration: generation };
      const p = req.canary ?? 0;
      const rest = old.map((s) => ({ generation: s.generation, share: s.share * (1 - p) }));
      return { ...none, shares: [...rest, { generation, share: p }] };
    }
    case 'switched':
      return { ...none, shares: [{ generation, share: 1 }], sticky: [...oldGenerations] };
    case 'new':
      return { ...none, shares: [{ generation, share: 1 }] };
  }
}

/** The canary's verdict on its counts so far: a reason to roll back, or null. */
export function canaryVerdict(fresh: GenerationCounts, maxFailureRatio: number): string | null {
  const why = step.tooManyFailures(fresh.requests, fresh.failures, maxFailureRatio);
  return why === null ? null : `the canary: ${why}`;
}

type Decision = 'promote' | 'rollback';

interface Running {
  rec: DeployRecord;
  decision: Decision | null;
}

const notRemoved = (r: ContainerRef): boolean => r.removed !== true;

export class Canaries {
  readonly #ctx: step.DeployContext;
  readonly #splits: Splits;
  /** service → its canary waiting for a decision */
  readonly #waiting = new Map<string, Running>();

  constructor(ctx: step.DeployContext, splits?: Splits) {
    this.#ctx = ctx;
    this.#splits = splits ?? new Splits(ctx.registry);
  }

  /** `baton promote` / `baton rollback` of a service whose canary runs: its deploy record, or null if none does
   *  (promote then throws: there is nothing to promote). */
  end(service: string, decision: Decision): DeployRecord | null {
    let w = this.#waiting.get(service);
    if (w !== undefined && TERMINAL_STATES.has(w.rec.state)) {
      this.#waiting.delete(service); // it ended before its canary began (a preDeploy hook failed)
      w = undefined;
    }
    if (w === undefined) {
      if (decision === 'promote') throw new ConflictError(`service ${service} has no canary running to promote`);
      return null;
    }
    w.decision ??= decision;
    return w.rec;
  }

  /** A canary deploy was accepted: `baton promote` / `baton rollback` are taken from now on (and act once the
   *  canary takes traffic). */
  expect(rec: DeployRecord, req: DeployRequest): void {
    if (req.canary !== undefined || req.canaryHeader !== undefined)
      this.#waiting.set(rec.service, { rec, decision: null });
  }

  /** The whole deploy (after its preDeploy hooks). Sets the record's final state. */
  async run(
    rec: DeployRecord,
    req: DeployRequest,
    current: DeployContainer[],
    source: CloneSource,
    hooks: DeployHooks,
  ): Promise<void> {
    const ctx = this.#ctx;
    const { service } = rec;
    const generation = String(rec.generation);
    const oldGens = [...new Set(current.map((c) => String(c.generation)))];
    const isCanary = req.canary !== undefined || req.canaryHeader !== undefined;
    const replicas = req.replicas ?? current.length;
    const count = isCanary ? canaryReplicas(replicas, req.canary) : 0;
    this.#splits.set(service, splitFor('old', oldGens, generation, req));
    // promote / rollback are taken from now on (one given while the canary starts acts once it took traffic)
    const expected = this.#waiting.get(service);
    const running: Running = expected?.rec === rec ? expected : { rec, decision: null };
    if (isCanary) this.#waiting.set(service, running);
    let switched = false;
    let served = false;
    try {
      if (isCanary) {
        const fresh = await this.#startHeld(rec, req, source, count, hooks, []);
        this.#splits.set(service, splitFor('canary', oldGens, generation, req));
        ctx.registry.release(fresh.map((c) => c.id));
        served = true;
        if ((await this.#watch(running, req, fresh, oldGens, generation)) === 'rollback') {
          rec.error = 'rolled back during the canary (baton rollback)';
          await this.#rollback(rec, req, oldGens, generation, 'rolled_back');
          return;
        }
      }
      const rest = await this.#startHeld(rec, req, source, Math.max(replicas - count, 0), hooks, current);
      await hooks.run('preStop', rec.new.filter(notRemoved), current);
      const names = rec.new.filter(notRemoved).map((c) => c.name);
      ctx.progress.step(rec, 'switch', names, 'started');
      this.#splits.set(service, splitFor('switched', oldGens, generation, req));
      ctx.registry.release(rest.map((c) => c.id));
      switched = served = true;
      const sticky = req.stickyFor ?? 0;
      ctx.progress.step(rec, 'switch', names, 'done', sticky > 0 ? `old generation kept ${sticky} ms` : undefined);
      await hooks.alongside('postSwitch', rec.new.filter(notRemoved), current, async (signal) => {
        await Promise.all([
          step.monitor({ ...ctx, signal }, rec, req.monitor, req.maxFailureRatio),
          sticky > 0 ? this.#stickyWindow(rec, current, sticky, signal) : null,
        ]);
      });
      await step.retire(ctx, rec, current, req.drainTimeout, 'retire old');
      this.#splits.set(service, null);
    } catch (err) {
      rec.error = (err as Error).message;
      ctx.log.warn({ deploy: rec.id, service, reason: rec.error, switched }, 'Deploy failed');
      await this.#rollback(rec, req, oldGens, generation, served ? 'rolled_back' : 'failed');
      return;
    } finally {
      if (this.#waiting.get(service) === running) this.#waiting.delete(service);
    }
    await step.cleanupGenerations(ctx, rec, req.keepPrevious);
    ctx.progress.setState(rec, 'succeeded');
  }

  /** `count` new containers, held out of rotation through the health gate and the postHealthy hooks. */
  async #startHeld(
    rec: DeployRecord,
    req: DeployRequest,
    source: CloneSource,
    count: number,
    hooks: DeployHooks,
    old: DeployContainer[],
  ): Promise<ContainerRef[]> {
    const fresh = await step.startClones(this.#ctx, rec, source, req.image, count, true);
    await step.healthGate(this.#ctx, rec, fresh, req.healthTimeout);
    await hooks.run('postHealthy', fresh, old);
    return fresh;
  }

  /** The old generation kept alive for its sticky clients, `ms` long. */
  async #stickyWindow(rec: DeployRecord, old: DeployContainer[], ms: number, signal: AbortSignal): Promise<void> {
    const names = old.map((c) => c.name);
    this.#ctx.progress.step(rec, 'sticky', names, 'started', `${ms} ms for clients of the old generation`);
    this.#ctx.progress.live(rec, { deadline: new Date(Date.now() + ms).toISOString() });
    await sleep(ms, signal);
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new DeployFailure('aborted');
    this.#ctx.progress.step(rec, 'sticky', names, 'done');
  }

  /** Until promote (or the canaryDuration), rollback, or the canary failing. */
  async #watch(
    running: Running,
    req: DeployRequest,
    fresh: ContainerRef[],
    oldGens: string[],
    generation: string,
  ): Promise<Decision> {
    const { registry, progress } = this.#ctx;
    const rec = running.rec;
    const service = rec.service;
    const share = req.canary !== undefined ? `${+(req.canary * 100).toFixed(3)}%` : `header ${req.canaryHeader}`;
    const names = fresh.map((c) => c.name);
    const deadline = req.canaryDuration === undefined ? null : Date.now() + req.canaryDuration;
    progress.step(rec, 'canary', names, 'started', share);
    const base = new Map<string, [number, number]>();
    for (const u of registry.services.get(service)?.upstreams ?? []) base.set(u.id, [u.requests, u.failures]);
    try {
      for (;;) {
        const side = (gens: readonly string[]): GenerationCounts => {
          let requests = 0;
          let failures = 0;
          for (const u of registry.services.get(service)?.upstreams ?? []) {
            if (!gens.includes(u.generation)) continue;
            const [r, f] = base.get(u.id) ?? [0, 0];
            requests += u.requests - r;
            failures += u.failures - f;
          }
          return { generations: [...gens], requests, failures, ratio: failures / Math.max(requests, 1) };
        };
        const canary = { share, old: side(oldGens), new: side([generation]) };
        progress.live(rec, {
          phase: 'canary',
          deadline: deadline === null ? null : new Date(deadline).toISOString(),
          requests: canary.new.requests,
          failures: canary.new.failures,
          maxFailureRatio: req.maxFailureRatio,
          canary,
        });
        let why = canaryVerdict(canary.new, req.maxFailureRatio);
        for (const c of fresh) {
          const u = registry.upstreamOfContainer(c.id);
          if (why === null && (u === undefined || u.state !== 'healthy'))
            why = `the canary ${c.name} is ${u?.state ?? 'out of rotation'}`;
        }
        if (why !== null) {
          progress.step(rec, 'canary', names, 'failed', why);
          throw new DeployFailure(why);
        }
        if (running.decision !== null || (deadline !== null && Date.now() >= deadline)) {
          const d = running.decision ?? 'promote';
          const by = running.decision === null ? 'canaryDuration over' : `baton ${d}`;
          progress.step(rec, 'canary', names, 'done', `${by}: ${canary.new.requests} requests on the canary`);
          return d;
        }
        await sleep(CANARY_SAMPLE_MS, this.#ctx.signal);
        if (this.#ctx.signal.aborted) throw new DeployFailure('baton is shutting down');
      }
    } finally {
      this.#waiting.delete(service); // a rollback from now on is a plain one (after the deploy), a promote a 409
    }
  }

  /** Every new client back to the old generation, then the new containers drained and removed. */
  async #rollback(
    rec: DeployRecord,
    req: DeployRequest,
    oldGens: string[],
    generation: string,
    end: 'rolled_back' | 'failed',
  ): Promise<void> {
    const ctx = this.#ctx;
    ctx.progress.setState(rec, 'rolling_back');
    this.#splits.set(rec.service, splitFor('old', oldGens, generation, req));
    const restart = rec.old.filter((o) => o.stopped === true && notRemoved(o));
    if (restart.length > 0) {
      const started = await step.startExisting(ctx, rec, restart, 'restart old');
      await step.healthGate(ctx, rec, started, req.healthTimeout).catch(() => {});
    }
    await step.retireRefs(ctx, rec, rec.new.filter(notRemoved), req.drainTimeout, 'remove new', true);
    this.#splits.set(rec.service, null);
    ctx.progress.setState(rec, end);
  }
}
