// The steps a deploy is made of, each journaled before it acts: start clones, start kept containers again, the
// health gate, the blue-green switch (park), retirement (drain → in-flight 0 → stop → kept or removed), the
// monitor window and the clean-up of older generations. deployer.ts composes them.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { mapLimit } from '../async.ts';
import { DeployFailure } from '../errors.ts';
import type { Registry } from '../upstream/registry.ts';
import type { DrainResult, Upstream } from '../upstream/upstream.ts';
import { DEPLOY_LABEL, GENERATION_LABEL, type CloneSource, type DeployContainer, type Engine } from './engine.ts';
import type { ContainerRef, DeployRecord } from './journal.ts';
import type { Progress } from './progress.ts';

/** parallel container operations (create, start) */
const CONCURRENCY = 4;
/** how often the health gate asks the engine whether a pending container still runs */
const EXIT_CHECK_MS = 500;
/** how often the monitor window samples the new upstreams' request counters */
const MONITOR_SAMPLE_MS = 100;
/** how often a drain's in-flight count and the monitor window's counts are published (live progress) */
const LIVE_MS = 250;

/** What every step needs. */
export interface DeployContext {
  engine: Engine;
  registry: Registry;
  progress: Progress;
  log: Logger;
  /** aborted when baton stops: waiting steps end with a DeployFailure */
  signal: AbortSignal;
}

/** A container a step acts on: its id, and its name for the steps' records. */
export type Named = Pick<ContainerRef, 'id' | 'name'>;

const namesOf = (list: readonly Named[]): string[] => list.map((c) => c.name);

/** Why the signal aborted: the failure it was aborted with (a deploy hook's, beside the monitor window), else
 *  baton's shutdown. */
function abortReason(signal: AbortSignal): DeployFailure {
  return signal.reason instanceof DeployFailure ? signal.reason : new DeployFailure('baton is shutting down');
}

function checkAborted(ctx: DeployContext): void {
  if (ctx.signal.aborted) throw abortReason(ctx.signal);
}

/** Creates and starts `count` clones of `source` running `image`, labelled with the deploy's generation. Each is
 *  journaled as soon as Docker created it, before it is connected or started. */
/** Runs `run` with the service's requests held (src/upstream/hold.ts) while no upstream takes traffic: a
 *  stop-first deploy's gap between the old container's drain and the new one's health gate. */
export async function holding(ctx: DeployContext, service: string, on: boolean, run: () => Promise<void>) {
  if (!on) return run();
  ctx.registry.modes.deployHold(service, 1);
  try {
    await run();
  } finally {
    ctx.registry.modes.deployHold(service, -1);
  }
}

export async function startClones(
  ctx: DeployContext,
  rec: DeployRecord,
  source: CloneSource,
  image: string,
  count: number,
  hold = false,
): Promise<ContainerRef[]> {
  if (count <= 0) return [];
  const { engine, progress } = ctx;
  const names = Array.from(
    { length: count },
    () => source.nextName?.() ?? `${rec.service}-g${rec.generation}-${randomBytes(3).toString('hex')}`,
  );
  const labels = { [GENERATION_LABEL]: String(rec.generation), [DEPLOY_LABEL]: rec.id };
  progress.step(rec, 'create', names, 'started', `image ${image}`);
  const created = await mapLimit(names, CONCURRENCY, async (name) => {
    const ref: ContainerRef = { id: await engine.create(source, image, name, labels), name, image };
    // kept out of rotation, even once healthy, until the deploy releases it (postHealthy hooks passed)
    if (hold) ctx.registry.hold(ref.id);
    rec.new.push(ref);
    progress.save(rec);
    await engine.connect(source, ref.id);
    return ref;
  }).catch((err: Error) => {
    progress.step(rec, 'create', names, 'failed', err.message);
    throw new DeployFailure(`could not create new containers: ${err.message}`, { cause: err });
  });
  progress.step(rec, 'create', names, 'done');
  progress.step(rec, 'start', names, 'started');
  await mapLimit(created, CONCURRENCY, (c) => engine.start(c.id)).catch((err: Error) => {
    progress.step(rec, 'start', names, 'failed', err.message);
    throw new DeployFailure(`could not start new containers: ${err.message}`, { cause: err });
  });
  progress.step(rec, 'start', names, 'done');
  return created;
}

/** Starts stopped containers again (rollback paths), in parallel: on a rollback this is time the service may have
 *  nothing healthy to serve. Returns the ones that started. */
export async function startExisting(
  ctx: DeployContext,
  rec: DeployRecord,
  refs: ContainerRef[],
  action: string,
): Promise<ContainerRef[]> {
  const names = namesOf(refs);
  ctx.progress.step(rec, action, names, 'started');
  const started = await mapLimit(refs, CONCURRENCY, async (r): Promise<ContainerRef | null> => {
    try {
      await ctx.engine.start(r.id);
      r.stopped = false;
      return r;
    } catch (err) {
      ctx.log.error({ deploy: rec.id, container: r.name, err }, 'Could not start container');
      return null;
    }
  });
  ctx.progress.step(rec, action, names, 'done');
  return started.filter((r): r is ContainerRef => r !== null);
}

/** Waits until every container is routed and `healthy` in baton (which includes Docker's HEALTHCHECK when the
 *  image has one: discovery routes a container only once Docker says healthy). Woken by the registry on every
 *  upstream state change; asks the engine every EXIT_CHECK_MS whether a pending container has exited. */
export async function healthGate(
  ctx: DeployContext,
  rec: DeployRecord,
  containers: Named[],
  timeoutMs: number,
): Promise<void> {
  if (containers.length === 0) return;
  const { registry, progress } = ctx;
  const names = namesOf(containers);
  progress.step(rec, 'health gate', names, 'started');
  const deadline = Date.now() + timeoutMs;
  progress.live(rec, { deadline: new Date(deadline).toISOString() });
  let lastCheck = 0;
  for (;;) {
    const pending = containers.filter((c) => registry.upstreamOfContainer(c.id)?.state !== 'healthy');
    if (pending.length === 0) break;
    if (Date.now() - lastCheck >= EXIT_CHECK_MS) {
      lastCheck = Date.now();
      for (const c of pending) {
        const info = await ctx.engine.inspect(c.id).catch(() => null);
        if (info === null || !info.running) {
          const why = info === null ? 'was removed' : `exited with code ${info.exitCode}`;
          progress.step(rec, 'health gate', names, 'failed', `${c.name} ${why}`);
          throw new DeployFailure(`new container ${c.name} ${why} before becoming healthy`);
        }
      }
      continue; // an upstream may have turned healthy while the engine answered: look again before waiting
    }
    if (Date.now() > deadline) {
      const details = pending.map((c) => {
        const u = registry.upstreamOfContainer(c.id);
        if (u === undefined) return `${c.name}: not routed (Docker health or labels)`;
        return `${c.name}: ${withHealthError(registry, u)}`;
      });
      progress.step(rec, 'health gate', names, 'failed', details.join('; '));
      throw new DeployFailure(`new containers not healthy within ${timeoutMs} ms: ${details.join('; ')}`);
    }
    const nextCheck = lastCheck + EXIT_CHECK_MS - Date.now();
    await registry.changed(Math.max(1, Math.min(nextCheck, deadline + 1 - Date.now())), ctx.signal);
    checkAborted(ctx);
  }
  progress.step(rec, 'health gate', names, 'done');
}

/** Drains every container's upstream at once; the step's detail says whether any drain timed out. */
async function drainAll(
  ctx: DeployContext,
  rec: DeployRecord,
  refs: Named[],
  drainTimeout: number | undefined,
  action: string,
  done: string,
): Promise<void> {
  const names = namesOf(refs);
  ctx.progress.step(rec, action, names, 'started');
  const inflight = () => refs.reduce((n, r) => n + ctx.registry.inflightOfContainer(r.id), 0);
  ctx.progress.live(rec, { inflight: inflight() });
  const tick = setInterval(() => ctx.progress.live(rec, { inflight: inflight() }), LIVE_MS);
  let drains: Array<DrainResult | null>;
  try {
    drains = await Promise.all(
      refs.map((r): Promise<DrainResult | null> | null => {
        const u = ctx.registry.upstreamOfContainer(r.id);
        return u === undefined ? null : ctx.registry.drain(u.id, drainTimeout);
      }),
    );
  } finally {
    clearInterval(tick);
  }
  const timedOut = drains.filter((d) => d?.timedOut).map((d) => `${d!.id} (${d!.aborted} aborted)`);
  ctx.progress.step(rec, action, names, 'done', timedOut.length > 0 ? `drain timeout: ${timedOut.join(', ')}` : done);
}

/** Blue-green's switch: every old container out of rotation in the same tick, drained, but left running. */
export async function park(
  ctx: DeployContext,
  rec: DeployRecord,
  containers: DeployContainer[],
  drainTimeout: number | undefined,
): Promise<void> {
  const refs = containers.map((c) => rec.old.find((o) => o.id === c.id)).filter((r) => r !== undefined);
  for (const r of refs) r.parked = true;
  const done = 'in-flight reached zero; kept running until the monitor window passes';
  await drainAll(ctx, rec, refs, drainTimeout, 'switch: drain old', done);
}

/** Out of rotation → in-flight 0 (or drain timeout) → stop with the container's grace period → kept stopped
 *  (or removed). Never SIGTERM first. */
export async function retire(
  ctx: DeployContext,
  rec: DeployRecord,
  containers: DeployContainer[],
  drainTimeout: number | undefined,
  action: string,
  remove = false,
): Promise<void> {
  await retireRefs(ctx, rec, refsOf(rec, containers), drainTimeout, action, remove);
}

/** retire() up to the end of the drain; resolves with the stop, which goes on meanwhile (a rolling deploy's next
 *  batch starts while the old containers, already out of rotation with nothing in flight, exit). */
export async function retireStoppingLater(
  ctx: DeployContext,
  rec: DeployRecord,
  containers: DeployContainer[],
  drainTimeout: number | undefined,
  action: string,
): Promise<{ stopped: Promise<void> }> {
  return drainThenStop(ctx, rec, refsOf(rec, containers), drainTimeout, action, false);
}

function refsOf(rec: DeployRecord, containers: DeployContainer[]): ContainerRef[] {
  return containers.map(
    (c) =>
      rec.old.find((o) => o.id === c.id) ??
      rec.new.find((n) => n.id === c.id) ?? { id: c.id, name: c.name, image: c.image },
  );
}

export async function retireRefs(
  ctx: DeployContext,
  rec: DeployRecord,
  refs: ContainerRef[],
  drainTimeout: number | undefined,
  action: string,
  remove: boolean,
): Promise<void> {
  await (
    await drainThenStop(ctx, rec, refs, drainTimeout, action, remove)
  ).stopped;
}

/** The drain, awaited; then the stop, started and handed back. */
async function drainThenStop(
  ctx: DeployContext,
  rec: DeployRecord,
  refs: ContainerRef[],
  drainTimeout: number | undefined,
  action: string,
  remove: boolean,
): Promise<{ stopped: Promise<void> }> {
  if (refs.length === 0) return { stopped: Promise.resolve() };
  await drainAll(ctx, rec, refs, drainTimeout, `${action}: drain`, 'in-flight reached zero');
  const stopped = stopAll(ctx, rec, refs, action, remove);
  stopped.catch(() => {}); // awaited by the caller, maybe later: never an unhandled rejection meanwhile
  return { stopped };
}

async function stopAll(
  ctx: DeployContext,
  rec: DeployRecord,
  refs: ContainerRef[],
  action: string,
  remove: boolean,
): Promise<void> {
  const names = namesOf(refs);
  ctx.progress.step(rec, `${action}: stop`, names, 'started');
  await Promise.all(
    refs.map(async (r) => {
      const exists = await ctx.engine.stop(r.id);
      r.stopped = true;
      if (remove && exists) {
        await ctx.engine.remove(r.id);
        r.removed = true;
      }
    }),
  );
  ctx.progress.save(rec);
  ctx.progress.step(
    rec,
    `${action}: stop`,
    names,
    'done',
    remove ? 'stopped and removed' : 'stopped (kept for rollback)',
  );
}

/** The monitor window over every new container of this deploy still meant to run: each must stay routed and
 *  healthy, and the 5xx / connect-error ratio of the requests they served must stay within maxFailureRatio. */
export async function monitor(
  ctx: DeployContext,
  rec: DeployRecord,
  windowMs: number,
  maxFailureRatio: number,
): Promise<void> {
  const watched = rec.new.filter((n) => n.removed !== true && n.stopped !== true);
  if (windowMs <= 0 || watched.length === 0) return;
  const { registry, progress } = ctx;
  const names = namesOf(watched);
  progress.step(rec, 'monitor', names, 'started', `${windowMs} ms, maxFailureRatio ${maxFailureRatio}`);
  const base = new Map<string, { requests: number; failures: number }>();
  for (const w of watched) {
    const u = registry.upstreamOfContainer(w.id);
    base.set(w.id, { requests: u?.requests ?? 0, failures: u?.failures ?? 0 });
  }
  const deadline = Date.now() + windowMs;
  const live = { deadline: new Date(deadline).toISOString(), maxFailureRatio };
  let published = 0;
  let requests = 0;
  let failures = 0;
  for (;;) {
    requests = 0;
    failures = 0;
    for (const w of watched) {
      const u = registry.upstreamOfContainer(w.id);
      if (u === undefined || u.state !== 'healthy') {
        const info = await ctx.engine.inspect(w.id).catch(() => null);
        const why =
          info === null
            ? 'was removed'
            : !info.running
              ? `exited with code ${info.exitCode}`
              : `is ${u?.state ?? 'out of rotation'}`;
        progress.step(rec, 'monitor', names, 'failed', `${w.name} ${why}`);
        throw new DeployFailure(`during the monitor window, ${w.name} ${why}`);
      }
      const b = base.get(w.id)!;
      requests += u.requests - b.requests;
      failures += u.failures - b.failures;
    }
    rec.monitor = { requests, failures };
    if (Date.now() - published >= LIVE_MS) {
      published = Date.now();
      progress.live(rec, { ...live, requests, failures });
    }
    const detail = tooManyFailures(requests, failures, maxFailureRatio);
    if (detail !== null) {
      progress.step(rec, 'monitor', names, 'failed', detail);
      throw new DeployFailure(`during the monitor window, ${detail}`);
    }
    if (Date.now() >= deadline) break;
    await registry.changed(Math.min(MONITOR_SAMPLE_MS, deadline - Date.now()), ctx.signal);
    if (ctx.signal.aborted) {
      const why = abortReason(ctx.signal);
      progress.step(rec, 'monitor', names, 'failed', `ended early: ${why.message}`);
      throw why;
    }
  }
  progress.step(rec, 'monitor', names, 'done', `${requests} requests, ${failures} failures`);
}

/** The monitor's verdict: why `failures` of `requests` are over `maxFailureRatio` (any failure at all counts only
 *  above the ratio), or null when they are within it. */
export function tooManyFailures(requests: number, failures: number, maxFailureRatio: number): string | null {
  const ratio = failures / Math.max(requests, 1);
  if (failures === 0 || ratio <= maxFailureRatio) return null;
  return `${failures} of ${requests} requests failed (ratio ${ratio.toFixed(3)} > ${maxFailureRatio})`;
}

/** An upstream's state, with its last health-check error if it has one. */
export function withHealthError(registry: Registry, u: Upstream): string {
  const err = registry.serviceOf(u)?.lastHealthError(u);
  return err ? `${u.state} (${err})` : u.state;
}

/** After success: generations older than the one just retired are removed (or that one too, when keepPrevious is
 *  false). The previous version is never lost unless asked. */
export async function cleanupGenerations(ctx: DeployContext, rec: DeployRecord, keepPrevious: boolean): Promise<void> {
  const { stopped } = await ctx.engine.listService(rec.service);
  const justRetired = new Set(rec.old.map((o) => o.id));
  const remove = stopped.filter((c) => c.generation < rec.generation && !(keepPrevious && justRetired.has(c.id)));
  if (remove.length === 0) return;
  const names = namesOf(remove);
  ctx.progress.step(rec, 'remove older generations', names, 'started');
  await Promise.all(remove.map((c) => ctx.engine.remove(c.id)));
  for (const o of rec.old) if (remove.some((c) => c.id === o.id)) o.removed = true;
  const detail = keepPrevious ? 'the previous generation is kept stopped for `baton rollback`' : undefined;
  ctx.progress.step(rec, 'remove older generations', names, 'done', detail);
}
