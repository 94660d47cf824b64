// What happens in a deploy, top to bottom (see #runDeploy):
//
//   validate (service has running containers, image present or pulled, no other deploy of it: else 409)
//   hooks (hooks.ts: config, and the labels of the newest container) loaded → preDeploy hooks
//   plan (plan.ts, pure) → for each batch:
//       start-first: create + start new (cloned spec, clone.ts) → health gate (baton's rise + Docker's HEALTHCHECK)
//                    → postHealthy hooks → preStop hooks
//                    → retire old: out of rotation → in-flight 0 (or drain timeout) → SIGTERM (stop) → kept stopped
//       stop-first:  preStop hooks, retire old first, then start new + health gate + postHealthy hooks
//       monitor window: new upstreams' health, container exits, 5xx / connect-error ratio measured by baton;
//                       postSwitch hooks alongside
//       delay
//   success → older generations removed, the previous one kept stopped for an instant rollback
//   failure → failureAction: rollback (restart the old containers, health gate, drain + remove the new) | pause |
//             continue
//
// Every step is written to the journal BEFORE it runs, with the containers it touches (steps.ts); a restarted
// baton rolls an interrupted deploy back (recover()), so a service is never left half-routed or with no version
// running. The engine (engine.ts) is the only way to the containers.
import type { Logger } from 'pino';
import { sleep } from '../async.ts';
import { DEFAULT_HEALTH_GATE_TIMEOUT_MS } from '../config/defaults.ts';
import { ConflictError, DeployFailure, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { Registry } from '../upstream/registry.ts';
import * as compose from './compose-steps.ts';
import type { Splits } from '../upstream/splits.ts';
import { Canaries, isSteeredDeploy } from './canary.ts';
import type { DeployContainer, Engine } from './engine.ts';
import { GroupDeploys } from './group.ts';
import { DeployHooks, type HookSettings } from './hooks.ts';
import { TERMINAL_STATES, type ContainerRef, type DeployRecord, type Journal } from './journal.ts';
import { planDeploy, type DeployRequest, type ScaleRequest } from './plan.ts';
import { Progress, type RecordInit } from './progress.ts';
import { reconcileWithEngine } from './recovery.ts';
import * as step from './steps.ts';
import { undoDeploy } from './undo.ts';

export interface DeployerInit {
  engine: Engine;
  registry: Registry;
  journal: Journal;
  events: EventBus;
  log: Logger;
  /** deploy hooks from the config (a stage the labels of the service's containers name is theirs instead) */
  hooks?: HookSettings;
  splits?: Splits; // where canary deploys set their traffic splits (default: this registry's, no workers)
}

/** Newest container first (by creation time). */
function newestFirst(list: readonly DeployContainer[]): DeployContainer[] {
  return [...list].sort((a, b) => b.created.localeCompare(a.created));
}

function refOf(c: DeployContainer): ContainerRef {
  return { id: c.id, name: c.name, image: c.image };
}

const notRemoved = (r: ContainerRef): boolean => r.removed !== true;
/** the containers of the list still meant to run */
const live = (list: ContainerRef[]): ContainerRef[] => list.filter((r) => r.stopped !== true && notRemoved(r));

export class Deployer {
  readonly #journal: Journal;
  readonly #log: Logger;
  readonly #ctx: step.DeployContext;
  readonly #hooks: HookSettings | undefined;
  /** service → id of the deploy/rollback/scale running on it */
  readonly #locks = new Map<string, string>();
  readonly #records = new Map<string, DeployRecord>();
  readonly #running = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  /** ids of interrupted deploys waiting for recover() */
  readonly #recovering = new Set<string>();
  /** several services in one call, under one lock (group.ts) */
  readonly groups: GroupDeploys;
  readonly #canaries: Canaries;

  constructor(init: DeployerInit) {
    this.#journal = init.journal;
    this.#log = init.log;
    this.#hooks = init.hooks;
    const counts = (service: string) => init.registry.services.get(service)?.upstreams ?? [];
    const progress = new Progress(init.journal, init.events, init.log, counts);
    this.#ctx = { engine: init.engine, registry: init.registry, progress, log: init.log, signal: this.#abort.signal };
    this.groups = new GroupDeploys(this, { ...init, locks: this.#locks, records: this.#records });
    this.#canaries = new Canaries(this.#ctx, init.splits);
    for (const r of init.journal.list()) {
      this.#records.set(r.id, r);
      // an interrupted deploy holds its service's lock until recover() has rolled it back
      if (!TERMINAL_STATES.has(r.state) && r.state !== 'paused') {
        this.#locks.set(r.service, r.id);
        this.#recovering.add(r.id);
      }
    }
  }

  /** Aborted by close(): every wait of a running deploy ends. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get(id: string): DeployRecord | null {
    return this.#records.get(id) ?? this.#journal.read(id);
  }

  list(service?: string): DeployRecord[] {
    return [...this.#records.values()].filter((r) => service === undefined || r.service === service);
  }

  // ── entry points (admin API) ──────────────────────────────────────────────────────────────────

  /** Validates, takes the service's lock and starts the deploy in the background. Throws 400/404/409 errors
   *  before anything changes. */
  async startDeploy(service: string, req: DeployRequest, group?: string): Promise<DeployRecord> {
    this.#checkLock(service, group);
    const { running, stopped } = await this.#ctx.engine.listService(service);
    if (running.length === 0)
      throw new NotFoundError(`no running container belongs to service ${JSON.stringify(service)}`);
    compose.checkComposeRequest(service, running, req);
    await this.#ctx.engine.ensureImage(req.image, req.pull);
    this.#checkLock(service, group); // checked again: the awaits above let another request in
    const generation = Math.max(...[...running, ...stopped].map((c) => c.generation)) + 1;
    const init = { kind: 'deploy', service, image: req.image, generation, settings: { ...req } } as const;
    const rec = this.#newRecord(init, group);
    rec.old = running.map(refOf);
    this.#canaries.expect(rec, req); // promote / rollback taken from now on
    const hold = req.hold || req.order === 'stop-first'; // requests wait through the gap instead of a 503
    this.#launch(rec, () => step.holding(this.#ctx, rec.service, hold, () => this.#runDeploy(rec, req, running)));
    return rec;
  }

  /** Starts the previous generation (kept stopped) again and retires the current one. */
  async startRollback(service: string, group?: string): Promise<DeployRecord> {
    const canary = this.#canaries.end(service, 'rollback'); // a canary running: its containers go
    if (canary !== null) return canary;
    this.#checkLock(service, group);
    const { running, stopped } = await this.#ctx.engine.listService(service);
    const currentGen = running.length > 0 ? Math.max(...running.map((c) => c.generation)) : Infinity;
    const candidates = stopped.filter((c) => c.generation !== currentGen);
    if (candidates.length === 0)
      throw new ConflictError(`service ${service} has no previous generation kept to roll back to`);
    const prevGen = Math.max(...candidates.map((c) => c.generation));
    const previous = candidates.filter((c) => c.generation === prevGen);
    this.#checkLock(service, group);
    const init = { kind: 'rollback', service, image: previous[0].image, generation: prevGen, settings: {} } as const;
    const rec = this.#newRecord(init, group);
    rec.old = running.map(refOf);
    rec.new = previous.map(refOf);
    this.#launch(rec, () => this.#runRollback(rec, running));
    return rec;
  }

  promote(service: string): DeployRecord {
    return this.#canaries.end(service, 'promote')!;
  }

  /** Scales a service to `replicas` running containers (clones of the newest one; removes the newest extra). */
  async startScale(service: string, req: ScaleRequest): Promise<DeployRecord> {
    this.#checkLock(service);
    const { running } = await this.#ctx.engine.listService(service);
    if (running.length === 0) {
      throw new NotFoundError(
        `no running container belongs to service ${JSON.stringify(service)} (scale clones a running one)`,
      );
    }
    this.#checkLock(service);
    const gen = Math.max(...running.map((c) => c.generation));
    const rec = this.#newRecord({ kind: 'scale', service, image: null, generation: gen, settings: { ...req } });
    rec.old = running.map(refOf);
    this.#launch(rec, () => this.#runScale(rec, running, req));
    return rec;
  }

  // ── the deploy, top to bottom ─────────────────────────────────────────────────────────────────

  async #runDeploy(rec: DeployRecord, req: DeployRequest, current: DeployContainer[]): Promise<void> {
    const ctx = this.#ctx;
    const { drainTimeout } = req;
    const newest = newestFirst(current)[0];
    const source = await ctx.engine.cloneSource(newest, { configHash: req.configHash ?? null });
    const batches = planDeploy(
      current.map((c) => c.id),
      req,
    );
    const blueGreen = req.strategy === 'blue-green';
    ctx.progress.setState(rec, 'running');
    // the hooks (the newest container's labels: the new ones are cloned from it), then preDeploy: before anything
    // changes, so a failure of either ends the deploy with nothing to undo
    let hooks: DeployHooks;
    try {
      hooks = await DeployHooks.load(ctx, rec, this.#hooks, newest.labels, req.image);
      await hooks.run('preDeploy', [], current);
    } catch (err) {
      rec.error = (err as Error).message;
      ctx.progress.setState(rec, 'failed');
      return;
    }
    if (isSteeredDeploy(req)) return this.#canaries.run(rec, req, current, source, hooks);
    const byId = new Map(current.map((c) => [c.id, c]));
    let retiredAny = false;
    // rolling start-first: the old containers of a batch are out of rotation with nothing in flight before the
    // next batch starts; their stop (SIGTERM, exit) goes on meanwhile, and the deploy ends or rolls back after it
    let stopping: Promise<void> = Promise.resolve();
    try {
      for (const [i, batch] of batches.entries()) {
        ctx.progress.live(rec, { batch: { n: i + 1, of: batches.length } });
        const retire = batch.retire.map((id) => byId.get(id)!);
        if (batch.order === 'stop-first' && retire.length > 0) {
          await hooks.run('preStop', live(rec.new), retire); // preStop: a failure is recorded, the deploy goes on
          await step.retire(ctx, rec, retire, drainTimeout, 'retire old');
          retiredAny = true;
        }
        // with postHealthy hooks, the new containers take no request before the hooks pass
        const hold = hooks.has('postHealthy');
        const fresh = await step.startClones(ctx, rec, source, req.image, batch.start, hold);
        // a failure is the health gate's: the new ones go (and stay held meanwhile, never served)
        await step.healthGate(ctx, rec, fresh, req.healthTimeout);
        await hooks.run('postHealthy', fresh, retire);
        if (hold) ctx.registry.release(fresh.map((c) => c.id));
        if (batch.order === 'start-first' && retire.length > 0) {
          await hooks.run('preStop', live(rec.new), retire);
          retiredAny = true;
          // blue-green: one atomic switch; the old containers stay running (drained) through the monitor window,
          // so a failure puts them straight back instead of waiting for them to restart
          if (blueGreen) await step.park(ctx, rec, retire, drainTimeout);
          else {
            await stopping;
            stopping = (await step.retireStoppingLater(ctx, rec, retire, drainTimeout, 'retire old')).stopped;
          }
        }
        try {
          // postSwitch hooks run alongside the monitor window: a failure of either is a monitor failure
          await hooks.alongside('postSwitch', live(rec.new), retire, (signal) =>
            step.monitor({ ...ctx, signal }, rec, req.monitor, req.maxFailureRatio),
          );
        } catch (err) {
          if (!(err instanceof DeployFailure) || req.failureAction !== 'continue') throw err;
          ctx.progress.step(rec, 'monitor failure ignored (failureAction: continue)', [], 'done', err.message);
        }
        if (blueGreen && retire.length > 0) await step.retire(ctx, rec, retire, drainTimeout, 'retire old');
        if (req.delay > 0 && i < batches.length - 1) await sleep(req.delay, ctx.signal);
      }
      await stopping;
    } catch (err) {
      await stopping.catch(() => {});
      const reason = (err as Error).message;
      rec.error = reason;
      this.#log.warn({ deploy: rec.id, service: rec.service, reason }, 'Deploy failed');
      if (req.failureAction === 'pause' && err instanceof DeployFailure) {
        ctx.progress.setState(rec, 'paused');
        return;
      }
      await undoDeploy(this.#ctx, this.#log, rec, drainTimeout);
      ctx.progress.setState(rec, retiredAny ? 'rolled_back' : 'failed');
      return;
    }
    await step.cleanupGenerations(ctx, rec, req.keepPrevious);
    await compose.hideRetired(ctx, rec, rec.old);
    ctx.progress.setState(rec, 'succeeded');
  }

  /** Rollback of a failed deploy: the old containers this deploy stopped run again (health-gated) before the
   *  new ones are drained, stopped and removed. */
  async #runRollback(rec: DeployRecord, current: DeployContainer[]): Promise<void> {
    const ctx = this.#ctx;
    ctx.progress.setState(rec, 'running');
    await compose.restoreRetired(ctx, rec, rec.new);
    const started = await step.startExisting(ctx, rec, rec.new, 'start previous');
    try {
      await step.healthGate(ctx, rec, started, DEFAULT_HEALTH_GATE_TIMEOUT_MS);
    } catch (err) {
      rec.error = (err as Error).message;
      await step.retireRefs(ctx, rec, rec.new, undefined, 'stop previous again', false);
      await compose.hideRetired(ctx, rec, rec.new);
      ctx.progress.setState(rec, 'failed');
      return;
    }
    await step.retire(ctx, rec, current, undefined, 'retire current');
    await compose.hideRetired(ctx, rec, rec.old);
    ctx.progress.setState(rec, 'succeeded');
  }

  async #runScale(rec: DeployRecord, current: DeployContainer[], req: ScaleRequest): Promise<void> {
    const ctx = this.#ctx;
    const { replicas, healthTimeout, drainTimeout } = req;
    ctx.progress.setState(rec, 'running');
    try {
      if (replicas > current.length) {
        const template = newestFirst(current)[0];
        const source = await ctx.engine.cloneSource(template);
        const fresh = await step.startClones(ctx, rec, source, template.image, replicas - current.length);
        await step.healthGate(ctx, rec, fresh, healthTimeout);
      } else if (replicas < current.length) {
        const extra = newestFirst(current).slice(0, current.length - replicas);
        await step.retire(ctx, rec, extra, drainTimeout, 'scale down', true);
      }
    } catch (err) {
      rec.error = (err as Error).message;
      await step.retireRefs(ctx, rec, rec.new.filter(notRemoved), drainTimeout, 'remove new', true);
      ctx.progress.setState(rec, 'failed');
      return;
    }
    ctx.progress.setState(rec, 'succeeded');
  }

  // ── crash recovery ────────────────────────────────────────────────────────────────────────────

  /** Rolls back every deploy a previous baton process left unfinished. Call after the provider's first sync. */
  async recover(): Promise<void> {
    const ctx = this.#ctx;
    for (const rec of this.#journal.list()) {
      if (TERMINAL_STATES.has(rec.state) || rec.state === 'paused') continue;
      this.#records.set(rec.id, rec);
      this.#log.warn(
        { deploy: rec.id, service: rec.service, state: rec.state },
        'Recovering an interrupted deploy: rolling it back',
      );
      rec.error = `interrupted in state ${rec.state} (baton restarted); rolled back to the previous containers`;
      this.#locks.set(rec.service, rec.id);
      try {
        await reconcileWithEngine(ctx, rec);
        if (rec.kind === 'rollback') {
          // the current generation was the "old" one: make sure it runs, then stop what the rollback started
          const restart = rec.old.filter((o) => o.stopped === true && notRemoved(o));
          await step.startExisting(ctx, rec, restart, 'restart current');
          const started = rec.new.filter((n) => n.stopped !== true);
          await step.retireRefs(ctx, rec, started, undefined, 'stop previous again', false);
        } else {
          await undoDeploy(this.#ctx, this.#log, rec, undefined);
        }
        ctx.progress.setState(rec, 'failed');
      } catch (err) {
        this.#log.error({ deploy: rec.id, err }, 'Recovery of an interrupted deploy failed');
        rec.error += `; recovery failed: ${(err as Error).message}`;
        ctx.progress.setState(rec, 'failed');
      } finally {
        this.#locks.delete(rec.service);
        this.#recovering.delete(rec.id);
      }
    }
    await this.groups.recover();
  }

  // ── bookkeeping ───────────────────────────────────────────────────────────────────────────────

  #checkLock(service: string, group?: string): void {
    const holder = this.#locks.get(service);
    if (holder === undefined || holder === group) return;
    const what = this.#recovering.has(holder) ? 'being recovered after a restart' : 'running';
    throw new ConflictError(`a deploy, rollback or scale of ${service} is already ${what} (${holder})`);
  }

  /** A new record (journaled), holding its service's lock (a group's member: the group holds it). */
  #newRecord(init: RecordInit, group?: string): DeployRecord {
    const rec = this.#ctx.progress.create(init);
    if (group !== undefined) rec.group = group;
    else this.#locks.set(rec.service, rec.id);
    this.#records.set(rec.id, rec);
    return rec;
  }

  #launch(rec: DeployRecord, run: () => Promise<void>): void {
    const p = run()
      .catch((err) => {
        this.#log.error({ deploy: rec.id, err }, 'Deploy crashed');
        rec.error = (err as Error).message;
        this.#ctx.progress.setState(rec, 'failed');
      })
      .finally(() => {
        if (this.#locks.get(rec.service) === rec.id) this.#locks.delete(rec.service);
        this.#running.delete(p);
      });
    this.#running.add(p);
  }

  /** Stops waiting loops; running deploys end as failed and are rolled back by recover() on the next start. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled([...this.#running, this.groups.close()]);
  }
}
