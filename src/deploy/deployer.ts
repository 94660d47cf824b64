// What happens in a deploy, top to bottom (see #runDeploy):
//
//   validate (service has running containers, image present or pulled, no other deploy of it: else 409)
//   plan (plan.ts, pure) → for each batch:
//       start-first: create + start new (cloned spec, clone.ts) → health gate (baton's rise + Docker's HEALTHCHECK)
//                    → retire old: out of rotation → in-flight 0 (or drain timeout) → SIGTERM (stop) → kept stopped
//       stop-first:  retire old first, then start new + health gate
//       monitor window: new upstreams' health, container exits, 5xx / connect-error ratio measured by baton
//       delay
//   success → older generations removed, the previous one kept stopped for an instant rollback
//   failure → failureAction: rollback (restart the old containers, health gate, drain + remove the new) | pause | continue
//
// Every step is written to the journal BEFORE it runs, with the containers it touches; a restarted baton rolls
// an interrupted deploy back (recover()), so a service is never left half-routed or with no version running.
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { parseBody } from '../config/schema.ts';
import { BadRequestError, BatonError, ConflictError, NotFoundError } from '../errors.ts';
import { containerView, mapLimit, type DockerProvider } from '../providers/docker.ts';
import { serviceNamesOf, type DockerProviderOptions } from '../providers/labels.ts';
import type { Registry } from '../upstream/registry.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { cloneSpec } from './clone.ts';
import { TERMINAL_STATES, type ContainerRef, type DeployRecord, type DeployState, Journal } from './journal.ts';
import { deployRequestSchema, planDeploy, scaleRequestSchema, type DeployRequest } from './plan.ts';

export const GENERATION_LABEL = 'baton.generation';
export const DEPLOY_LABEL = 'baton.deploy';
const POLL_MS = 50;
const DEFAULT_STOP_TIMEOUT_S = 10;

/** A deploy step that failed in a way the failure action handles. */
export class DeployFailure extends BatonError {
  override code = 'BATON_DEPLOY_FAILED';
}

export interface DeployerInit {
  docker: Docker;
  provider: DockerProvider;
  registry: Registry;
  journal: Journal;
  providerOptions: DockerProviderOptions;
  log: Logger;
  emit: (type: string, data: unknown) => void;
}

type Inspect = Docker.ContainerInspectInfo;

function generationOf(c: Inspect): number {
  const n = Number(c.Config?.Labels?.[GENERATION_LABEL] ?? 0);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** Newest container first (by creation time). */
function newestFirst(list: readonly Inspect[]): Inspect[] {
  return [...list].sort((a, b) => b.Created.localeCompare(a.Created));
}

function nameOf(c: Inspect): string {
  return c.Name.replace(/^\//, '');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

export class Deployer {
  readonly #d: DeployerInit;
  readonly #log: Logger;
  /** service → id of the deploy/rollback/scale running on it */
  readonly #locks = new Map<string, string>();
  readonly #records = new Map<string, DeployRecord>();
  readonly #running = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  /** ids of interrupted deploys waiting for recover() */
  readonly #recovering = new Set<string>();

  constructor(init: DeployerInit) {
    this.#d = init;
    this.#log = init.log;
    for (const r of init.journal.list()) {
      this.#records.set(r.id, r);
      // an interrupted deploy holds its service's lock until recover() has rolled it back
      if (!TERMINAL_STATES.has(r.state) && r.state !== 'paused') {
        this.#locks.set(r.service, r.id);
        this.#recovering.add(r.id);
      }
    }
  }

  get(id: string): DeployRecord | null {
    return this.#records.get(id) ?? this.#d.journal.read(id);
  }

  list(service?: string): DeployRecord[] {
    return [...this.#records.values()].filter((r) => service === undefined || r.service === service);
  }

  // ── entry points (admin API) ──────────────────────────────────────────────────────────────────

  /** Validates, takes the service's lock and starts the deploy in the background. Throws 400/404/409 errors
   *  before anything changes. */
  async startDeploy(service: string, body: unknown): Promise<DeployRecord> {
    const req = parseBody(deployRequestSchema, body);
    const drainTimeout = req.drainTimeout;
    this.#checkLock(service);
    const { running, stopped } = await this.#containersOf(service);
    if (running.length === 0) throw new NotFoundError(`no running container belongs to service ${JSON.stringify(service)}`);
    await this.#ensureImage(req.image, req.pull);
    this.#checkLock(service); // checked again: the awaits above let another request in
    const generation = Math.max(...[...running, ...stopped].map(generationOf)) + 1;
    const rec = this.#newRecord('deploy', service, req.image, generation, { ...req });
    rec.old = running.map((c) => ({ id: c.Id, name: nameOf(c), image: c.Config.Image }));
    this.#launch(rec, () => this.#runDeploy(rec, req, running, drainTimeout));
    return rec;
  }

  /** Starts the previous generation (kept stopped) again and retires the current one. */
  async startRollback(service: string): Promise<DeployRecord> {
    this.#checkLock(service);
    const { running, stopped } = await this.#containersOf(service);
    const currentGen = running.length > 0 ? Math.max(...running.map(generationOf)) : Infinity;
    const candidates = stopped.filter((c) => generationOf(c) !== currentGen);
    if (candidates.length === 0) throw new ConflictError(`service ${service} has no previous generation kept to roll back to`);
    const prevGen = Math.max(...candidates.map(generationOf));
    const previous = candidates.filter((c) => generationOf(c) === prevGen);
    this.#checkLock(service);
    const rec = this.#newRecord('rollback', service, previous[0].Config.Image, prevGen, {});
    rec.old = running.map((c) => ({ id: c.Id, name: nameOf(c), image: c.Config.Image }));
    rec.new = previous.map((c) => ({ id: c.Id, name: nameOf(c), image: c.Config.Image }));
    this.#launch(rec, () => this.#runRollback(rec, running));
    return rec;
  }

  /** Scales a service to `replicas` running containers (clones of the newest one; removes the newest extra). */
  async startScale(service: string, body: unknown): Promise<DeployRecord> {
    const { replicas, healthTimeout, drainTimeout } = parseBody(scaleRequestSchema, body);
    this.#checkLock(service);
    const { running } = await this.#containersOf(service);
    if (running.length === 0) throw new NotFoundError(`no running container belongs to service ${JSON.stringify(service)} (scale clones a running one)`);
    this.#checkLock(service);
    const gen = Math.max(...running.map(generationOf));
    const rec = this.#newRecord('scale', service, null, gen, { replicas, healthTimeout, drainTimeout });
    rec.old = running.map((c) => ({ id: c.Id, name: nameOf(c), image: c.Config.Image }));
    this.#launch(rec, () => this.#runScale(rec, running, replicas, healthTimeout, drainTimeout));
    return rec;
  }

  // ── the deploy, top to bottom ─────────────────────────────────────────────────────────────────

  async #runDeploy(rec: DeployRecord, req: DeployRequest, current: Inspect[], drainTimeout: number | undefined): Promise<void> {
    const template = newestFirst(current)[0];
    const oldImage = await this.#d.docker.getImage(template.Image).inspect().catch(() => null);
    const batches = planDeploy(current.map((c) => c.Id), req);
    this.#setState(rec, 'running');
    const byId = new Map(current.map((c) => [c.Id, c]));
    let retiredAny = false;
    try {
      for (const [i, batch] of batches.entries()) {
        const retire = batch.retire.map((id) => byId.get(id)!);
        if (batch.order === 'stop-first' && retire.length > 0) {
          await this.#retire(rec, retire, drainTimeout, 'retire old');
          retiredAny = true;
        }
        const fresh = await this.#startClones(rec, template, oldImage, req.image, batch.start);
        await this.#healthGate(rec, fresh, req.healthTimeout);
        const blueGreen = req.strategy === 'blue-green';
        if (batch.order === 'start-first' && retire.length > 0) {
          retiredAny = true;
          // blue-green: one atomic switch; the old containers stay running (drained) through the monitor window,
          // so a failure puts them straight back instead of waiting for them to restart
          if (blueGreen) await this.#park(rec, retire, drainTimeout);
          else await this.#retire(rec, retire, drainTimeout, 'retire old');
        }
        try {
          await this.#monitor(rec, req.monitor, req.maxFailureRatio);
        } catch (err) {
          if (!(err instanceof DeployFailure) || req.failureAction !== 'continue') throw err;
          this.#step(rec, 'monitor failure ignored (failureAction: continue)', [], 'done', err.message);
        }
        if (blueGreen && retire.length > 0) await this.#retire(rec, retire, drainTimeout, 'retire old');
        if (req.delay > 0 && i < batches.length - 1) await sleep(req.delay, this.#abort.signal);
      }
    } catch (err) {
      const reason = (err as Error).message;
      rec.error = reason;
      this.#log.warn({ deploy: rec.id, service: rec.service, reason }, 'Deploy failed');
      if (req.failureAction === 'pause' && err instanceof DeployFailure) {
        this.#setState(rec, 'paused');
        return;
      }
      await this.#undo(rec, drainTimeout);
      this.#setState(rec, retiredAny ? 'rolled_back' : 'failed');
      return;
    }
    await this.#cleanupGenerations(rec, req.keepPrevious);
    this.#setState(rec, 'succeeded');
  }

  /** Rollback of a failed deploy: the old containers this deploy stopped run again (health-gated) before the
   *  new ones are drained, stopped and removed. */
  async #undo(rec: DeployRecord, drainTimeout: number | undefined): Promise<void> {
    this.#setState(rec, 'rolling_back');
    // parked (drained, still running) old containers were serving seconds ago: back in rotation at once
    const parked = rec.old.filter((o) => o.parked === true && o.stopped !== true && o.removed !== true);
    if (parked.length > 0) {
      this.#step(rec, 'switch back', parked.map((p) => p.name), 'started');
      for (const p of parked) {
        const u = this.#upstreamOf(p.id);
        if (u !== undefined) this.#d.registry.enable(u.id, { skipGate: true });
        else p.stopped = true; // gone from rotation meanwhile (it exited): restarted below
        p.parked = false;
      }
      this.#step(rec, 'switch back', parked.map((p) => p.name), 'done');
    }
    const restart = rec.old.filter((o) => o.stopped === true && o.removed !== true);
    if (restart.length > 0) {
      const started = await this.#startExisting(rec, restart, 'restart old');
      try {
        await this.#healthGate(rec, started, 60_000);
      } catch (err) {
        this.#log.error({ deploy: rec.id, err }, 'Old containers did not become healthy again during rollback');
      }
    }
    const fresh = rec.new.filter((n) => n.removed !== true);
    await this.#retireRefs(rec, fresh, drainTimeout, 'remove new', true);
  }

  async #runRollback(rec: DeployRecord, current: Inspect[]): Promise<void> {
    this.#setState(rec, 'running');
    const started = await this.#startExisting(rec, rec.new, 'start previous');
    try {
      await this.#healthGate(rec, started, 60_000);
    } catch (err) {
      rec.error = (err as Error).message;
      await this.#retireRefs(rec, rec.new, undefined, 'stop previous again', false);
      this.#setState(rec, 'failed');
      return;
    }
    await this.#retire(rec, current, undefined, 'retire current');
    this.#setState(rec, 'succeeded');
  }

  async #runScale(rec: DeployRecord, current: Inspect[], replicas: number, healthTimeout: number, drainTimeout: number | undefined): Promise<void> {
    this.#setState(rec, 'running');
    try {
      if (replicas > current.length) {
        const template = newestFirst(current)[0];
        const oldImage = await this.#d.docker.getImage(template.Image).inspect().catch(() => null);
        const fresh = await this.#startClones(rec, template, oldImage, template.Config.Image, replicas - current.length);
        await this.#healthGate(rec, fresh, healthTimeout);
      } else if (replicas < current.length) {
        const extra = newestFirst(current).slice(0, current.length - replicas);
        await this.#retire(rec, extra, drainTimeout, 'scale down', true);
      }
    } catch (err) {
      rec.error = (err as Error).message;
      await this.#retireRefs(rec, rec.new.filter((n) => n.removed !== true), drainTimeout, 'remove new', true);
      this.#setState(rec, 'failed');
      return;
    }
    this.#setState(rec, 'succeeded');
  }

  // ── steps ─────────────────────────────────────────────────────────────────────────────────────

  /** Creates and starts `count` clones of `template` running `image`, labelled with the generation. */
  async #startClones(rec: DeployRecord, template: Inspect, oldImage: Docker.ImageInspectInfo | null, image: string, count: number): Promise<Inspect[]> {
    if (count <= 0) return [];
    const names = Array.from({ length: count }, () => `${rec.service}-g${rec.generation}-${randomBytes(3).toString('hex')}`);
    this.#step(rec, 'create', names, 'started', `image ${image}`);
    const created = await mapLimit(names, 4, async (name) => {
      const spec = cloneSpec({
        container: template,
        oldImage: oldImage as never,
        image,
        name,
        labels: { [GENERATION_LABEL]: String(rec.generation), [DEPLOY_LABEL]: rec.id },
      });
      const c = await this.#d.docker.createContainer(spec.create);
      const ref: ContainerRef = { id: c.id, name, image };
      rec.new.push(ref);
      this.#d.journal.write(rec);
      for (const n of spec.connect) await this.#d.docker.getNetwork(n.network).connect({ Container: c.id, EndpointConfig: n.config });
      return c;
    }).catch((err) => {
      this.#step(rec, 'create', names, 'failed', (err as Error).message);
      throw new DeployFailure(`could not create new containers: ${(err as Error).message}`, { cause: err });
    });
    this.#step(rec, 'create', names, 'done');
    this.#step(rec, 'start', names, 'started');
    try {
      await mapLimit(created, 4, (c) => c.start());
    } catch (err) {
      this.#step(rec, 'start', names, 'failed', (err as Error).message);
      throw new DeployFailure(`could not start new containers: ${(err as Error).message}`, { cause: err });
    }
    const infos = await mapLimit(created, 4, (c) => c.inspect());
    for (const c of infos) await this.#d.provider.sync(c.Id);
    this.#step(rec, 'start', names, 'done');
    return infos;
  }

  /** Starts stopped containers again (rollback paths). */
  async #startExisting(rec: DeployRecord, refs: ContainerRef[], action: string): Promise<Inspect[]> {
    const names = refs.map((r) => r.name);
    this.#step(rec, action, names, 'started');
    // in parallel (like #startClones): on a rollback this is time the service may have nothing healthy to serve
    const started = await mapLimit(refs, 4, async (r): Promise<Inspect | null> => {
      try {
        const c = this.#d.docker.getContainer(r.id);
        await c.start().catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 304) throw err; // 304: already running
        });
        r.stopped = false;
        const info = await c.inspect();
        await this.#d.provider.sync(r.id);
        return info;
      } catch (err) {
        this.#log.error({ deploy: rec.id, container: r.name, err }, 'Could not start container');
        return null;
      }
    });
    this.#step(rec, action, names, 'done');
    return started.filter((i): i is Inspect => i !== null);
  }

  /** Waits until every container is routed and `healthy` in baton (which includes Docker's HEALTHCHECK when the
   *  image has one: the provider routes a container only once Docker says healthy). */
  async #healthGate(rec: DeployRecord, containers: Inspect[], timeoutMs: number): Promise<void> {
    if (containers.length === 0) return;
    const names = containers.map(nameOf);
    this.#step(rec, 'health gate', names, 'started');
    const deadline = Date.now() + timeoutMs;
    let lastCheck = 0;
    for (;;) {
      const pending = containers.filter((c) => this.#upstreamOf(c.Id)?.state !== 'healthy');
      if (pending.length === 0) break;
      if (Date.now() - lastCheck > 500) {
        lastCheck = Date.now();
        for (const c of pending) {
          const info = await this.#d.docker.getContainer(c.Id).inspect().catch(() => null);
          if (info === null || !info.State.Running) {
            const why = info === null ? 'was removed' : `exited with code ${info.State.ExitCode}`;
            this.#step(rec, 'health gate', names, 'failed', `${nameOf(c)} ${why}`);
            throw new DeployFailure(`new container ${nameOf(c)} ${why} before becoming healthy`);
          }
        }
      }
      if (Date.now() > deadline) {
        const details = pending.map((c) => {
          const u = this.#upstreamOf(c.Id);
          if (u === undefined) return `${nameOf(c)}: not routed (Docker health or labels)`;
          const err = this.#d.registry.serviceOf(u)?.lastHealthError(u);
          return `${nameOf(c)}: ${u.state}${err ? ` (${err})` : ''}`;
        });
        this.#step(rec, 'health gate', names, 'failed', details.join('; '));
        throw new DeployFailure(`new containers not healthy within ${timeoutMs} ms: ${details.join('; ')}`);
      }
      await sleep(POLL_MS, this.#abort.signal);
      if (this.#abort.signal.aborted) throw new DeployFailure('baton is shutting down');
    }
    this.#step(rec, 'health gate', names, 'done');
  }

  /** Blue-green's switch: every old container out of rotation in the same tick, drained, but left running. */
  async #park(rec: DeployRecord, containers: Inspect[], drainTimeout: number | undefined): Promise<void> {
    const refs = containers.map((c) => rec.old.find((o) => o.id === c.Id)!).filter((r) => r !== undefined);
    const names = refs.map((r) => r.name);
    this.#step(rec, 'switch: drain old', names, 'started');
    for (const r of refs) r.parked = true;
    const drains = await Promise.all(refs.map((r) => {
      const u = this.#upstreamOf(r.id);
      return u === undefined ? null : this.#d.registry.drain(u.id, drainTimeout);
    }));
    const timedOut = drains.filter((d) => d?.timedOut).map((d) => `${d!.id} (${d!.aborted} aborted)`);
    this.#step(rec, 'switch: drain old', names, 'done', timedOut.length > 0 ? `drain timeout: ${timedOut.join(', ')}` : 'in-flight reached zero; kept running until the monitor window passes');
  }

  /** Out of rotation → in-flight 0 (or drain timeout) → stop with the container's grace period → kept stopped
   *  (or removed). Never SIGTERM first. */
  async #retire(rec: DeployRecord, containers: Inspect[], drainTimeout: number | undefined, action: string, remove = false): Promise<void> {
    const refs = containers.map((c) => rec.old.find((o) => o.id === c.Id) ?? rec.new.find((n) => n.id === c.Id) ?? { id: c.Id, name: nameOf(c), image: c.Config.Image });
    await this.#retireRefs(rec, refs, drainTimeout, action, remove);
  }

  async #retireRefs(rec: DeployRecord, refs: ContainerRef[], drainTimeout: number | undefined, action: string, remove: boolean): Promise<void> {
    if (refs.length === 0) return;
    const names = refs.map((r) => r.name);
    this.#step(rec, `${action}: drain`, names, 'started');
    const drains = await Promise.all(
      refs.map(async (r) => {
        const u = this.#upstreamOf(r.id);
        if (u === undefined) return null;
        return this.#d.registry.drain(u.id, drainTimeout);
      }),
    );
    const timedOut = drains.filter((d) => d?.timedOut).map((d) => `${d!.id} (${d!.aborted} aborted)`);
    this.#step(rec, `${action}: drain`, names, 'done', timedOut.length > 0 ? `drain timeout: ${timedOut.join(', ')}` : 'in-flight reached zero');
    this.#step(rec, `${action}: stop`, names, 'started');
    await Promise.all(
      refs.map(async (r) => {
        const c = this.#d.docker.getContainer(r.id);
        const info = await c.inspect().catch(() => null);
        if (info !== null && info.State.Running) {
          const t = (info.Config as { StopTimeout?: number }).StopTimeout ?? DEFAULT_STOP_TIMEOUT_S;
          await c.stop({ t }).catch((err: { statusCode?: number }) => {
            if (err.statusCode !== 304) throw err;
          });
        }
        r.stopped = true;
        if (remove && info !== null) {
          await c.remove({ force: true, v: false }).catch(() => {});
          r.removed = true;
        }
      }),
    );
    this.#d.journal.write(rec);
    this.#step(rec, `${action}: stop`, names, 'done', remove ? 'stopped and removed' : 'stopped (kept for rollback)');
  }

  /** The monitor window over every new container of this deploy still meant to run. */
  async #monitor(rec: DeployRecord, windowMs: number, maxFailureRatio: number): Promise<void> {
    const watched = rec.new.filter((n) => n.removed !== true && n.stopped !== true);
    if (windowMs <= 0 || watched.length === 0) return;
    const names = watched.map((w) => w.name);
    this.#step(rec, 'monitor', names, 'started', `${windowMs} ms, maxFailureRatio ${maxFailureRatio}`);
    const base = new Map<string, { requests: number; failures: number }>();
    for (const w of watched) {
      const u = this.#upstreamOf(w.id);
      base.set(w.id, { requests: u?.requests ?? 0, failures: u?.failures ?? 0 });
    }
    const deadline = Date.now() + windowMs;
    let requests = 0;
    let failures = 0;
    for (;;) {
      requests = 0;
      failures = 0;
      for (const w of watched) {
        const u = this.#upstreamOf(w.id);
        if (u === undefined || u.state !== 'healthy') {
          const info = await this.#d.docker.getContainer(w.id).inspect().catch(() => null);
          const why = info === null ? 'was removed' : !info.State.Running ? `exited with code ${info.State.ExitCode}` : `is ${u?.state ?? 'out of rotation'}`;
          this.#step(rec, 'monitor', names, 'failed', `${w.name} ${why}`);
          throw new DeployFailure(`during the monitor window, ${w.name} ${why}`);
        }
        const b = base.get(w.id)!;
        requests += u.requests - b.requests;
        failures += u.failures - b.failures;
      }
      rec.monitor = { requests, failures };
      if (failures > 0 && failures / Math.max(requests, 1) > maxFailureRatio) {
        const detail = `${failures} of ${requests} requests failed (ratio ${(failures / Math.max(requests, 1)).toFixed(3)} > ${maxFailureRatio})`;
        this.#step(rec, 'monitor', names, 'failed', detail);
        throw new DeployFailure(`during the monitor window, ${detail}`);
      }
      if (Date.now() >= deadline) break;
      await sleep(Math.min(100, deadline - Date.now()), this.#abort.signal);
      if (this.#abort.signal.aborted) throw new DeployFailure('baton is shutting down');
    }
    this.#step(rec, 'monitor', names, 'done', `${requests} requests, ${failures} failures`);
  }

  /** After success: generations older than the one just retired are removed (or that one too, when
   *  keepPrevious is false). The previous version is never lost unless asked. */
  async #cleanupGenerations(rec: DeployRecord, keepPrevious: boolean): Promise<void> {
    const { stopped } = await this.#containersOf(rec.service);
    const justRetired = new Set(rec.old.map((o) => o.id));
    const remove = stopped.filter((c) => generationOf(c) < rec.generation && !(keepPrevious && justRetired.has(c.Id)));
    if (remove.length === 0) return;
    const names = remove.map(nameOf);
    this.#step(rec, 'remove older generations', names, 'started');
    await Promise.all(remove.map((c) => this.#d.docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
    for (const o of rec.old) if (remove.some((c) => c.Id === o.id)) o.removed = true;
    this.#step(rec, 'remove older generations', names, 'done', keepPrevious ? 'the previous generation is kept stopped for `baton rollback`' : undefined);
  }

  // ── crash recovery ────────────────────────────────────────────────────────────────────────────

  /** Rolls back every deploy a previous baton process left unfinished. Call after the provider's first sync. */
  async recover(): Promise<void> {
    for (const rec of this.#d.journal.list()) {
      if (TERMINAL_STATES.has(rec.state) || rec.state === 'paused') continue;
      this.#records.set(rec.id, rec);
      this.#log.warn({ deploy: rec.id, service: rec.service, state: rec.state }, 'Recovering an interrupted deploy: rolling it back');
      rec.error = `interrupted in state ${rec.state} (baton restarted); rolled back to the previous containers`;
      this.#locks.set(rec.service, rec.id);
      try {
        await this.#reconcileWithDocker(rec);
        if (rec.kind === 'rollback') {
          // the current generation was the "old" one: make sure it runs, then stop what the rollback started
          const restart = rec.old.filter((o) => o.stopped === true && o.removed !== true);
          await this.#startExisting(rec, restart, 'restart current');
          await this.#retireRefs(rec, rec.new.filter((n) => n.stopped !== true), undefined, 'stop previous again', false);
        } else {
          await this.#undo(rec, undefined);
        }
        this.#setState(rec, 'failed');
      } catch (err) {
        this.#log.error({ deploy: rec.id, err }, 'Recovery of an interrupted deploy failed');
        rec.error += `; recovery failed: ${(err as Error).message}`;
        this.#setState(rec, 'failed');
      } finally {
        this.#locks.delete(rec.service);
        this.#recovering.delete(rec.id);
      }
    }
  }

  /** Brings an interrupted record in line with what Docker has now. baton may have died between asking Docker for
   *  something and journaling the answer: a container created (Docker went on after the client vanished) but never
   *  recorded in `new`, or an old container stopped but not yet marked `stopped` — a blue/green switch stops every
   *  old container at once, so trusting the flags alone left the service with nothing running. Docker is the
   *  truth: every container carrying this deploy's label is one of its new ones, and every old container (all of
   *  them ran when it began) that no longer runs was stopped by it, so the rollback starts it again. */
  async #reconcileWithDocker(rec: DeployRecord): Promise<void> {
    const labelled = await this.#d.docker.listContainers({ all: true, filters: { label: [`${DEPLOY_LABEL}=${rec.id}`] } });
    for (const c of labelled) {
      if (rec.new.some((n) => n.id === c.Id) || rec.old.some((o) => o.id === c.Id)) continue;
      const name = (c.Names?.[0] ?? c.Id).replace(/^\//, '');
      this.#log.warn({ deploy: rec.id, container: name }, 'Found a container of the interrupted deploy that the journal did not record');
      rec.new.push({ id: c.Id, name, image: c.Image });
    }
    for (const o of rec.old) {
      if (o.removed === true) continue;
      const info = await this.#d.docker.getContainer(o.id).inspect().catch((err: { statusCode?: number }) => {
        if (err.statusCode === 404) return null;
        throw err;
      });
      if (info === null) o.removed = true;
      else if (!info.State.Running) o.stopped = true;
    }
    this.#d.journal.write(rec);
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────────

  #upstreamOf(containerId: string): Upstream | undefined {
    for (const u of this.#d.registry.upstreams.values()) if (u.containerId === containerId) return u;
    return undefined;
  }

  async #containersOf(service: string): Promise<{ running: Inspect[]; stopped: Inspect[] }> {
    const list = await this.#d.docker.listContainers({ all: true });
    const infos = await mapLimit(list, 8, (c) => this.#d.docker.getContainer(c.Id).inspect().catch(() => null));
    const running: Inspect[] = [];
    const stopped: Inspect[] = [];
    for (const info of infos) {
      if (info === null) continue;
      if (!serviceNamesOf(containerView(info), this.#d.providerOptions).includes(service)) continue;
      if (info.State.Running) running.push(info);
      else if (info.State.Status === 'exited' || info.State.Status === 'created') stopped.push(info);
    }
    return { running, stopped };
  }

  async #ensureImage(ref: string, pull: boolean): Promise<void> {
    try {
      await this.#d.docker.getImage(ref).inspect();
      return;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    if (!pull) throw new BadRequestError(`image ${ref} is not present on this Docker host (build or pull it first, or set "pull": true)`);
    try {
      const stream = await this.#d.docker.pull(ref);
      await new Promise<void>((resolve, reject) => this.#d.docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve())));
      await this.#d.docker.getImage(ref).inspect();
    } catch (err) {
      throw new BadRequestError(`image ${ref} could not be pulled: ${(err as Error).message}`);
    }
  }

  #checkLock(service: string): void {
    const holder = this.#locks.get(service);
    if (holder === undefined) return;
    const what = this.#recovering.has(holder) ? 'being recovered after a restart' : 'running';
    throw new ConflictError(`a deploy, rollback or scale of ${service} is already ${what} (${holder})`);
  }

  #newRecord(kind: DeployRecord['kind'], service: string, image: string | null, generation: number, settings: Record<string, unknown>): DeployRecord {
    const now = new Date().toISOString();
    const rec: DeployRecord = {
      id: `d-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
      kind,
      service,
      state: 'pending',
      image,
      settings,
      generation,
      createdAt: now,
      updatedAt: now,
      old: [],
      new: [],
      steps: [],
    };
    this.#locks.set(service, rec.id);
    this.#records.set(rec.id, rec);
    this.#d.journal.write(rec);
    this.#emit(rec, null);
    return rec;
  }

  #launch(rec: DeployRecord, run: () => Promise<void>): void {
    const p = run()
      .catch((err) => {
        this.#log.error({ deploy: rec.id, err }, 'Deploy crashed');
        rec.error = (err as Error).message;
        this.#setState(rec, 'failed');
      })
      .finally(() => {
        if (this.#locks.get(rec.service) === rec.id) this.#locks.delete(rec.service);
        this.#running.delete(p);
      });
    this.#running.add(p);
  }

  #step(rec: DeployRecord, action: string, containers: string[], status: 'started' | 'done' | 'failed', detail?: string): void {
    const step = { n: rec.steps.length + 1, at: new Date().toISOString(), action, containers, status, ...(detail !== undefined ? { detail } : {}) };
    rec.steps.push(step);
    this.#d.journal.write(rec);
    this.#log.info({ deploy: rec.id, service: rec.service, action, containers, status, detail }, 'Deploy step');
    this.#emit(rec, step);
  }

  #setState(rec: DeployRecord, state: DeployState): void {
    rec.state = state;
    if (TERMINAL_STATES.has(state) || state === 'paused') rec.finishedAt = new Date().toISOString();
    this.#d.journal.write(rec);
    this.#log.info({ deploy: rec.id, service: rec.service, state, error: rec.error }, 'Deploy state');
    this.#emit(rec, null);
  }

  #emit(rec: DeployRecord, step: DeployRecord['steps'][number] | null): void {
    this.#d.emit('deploy', { id: rec.id, kind: rec.kind, service: rec.service, state: rec.state, step, error: rec.error ?? null });
  }

  /** Stops waiting loops; running deploys end as failed and are rolled back by recover() on the next start. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled([...this.#running]);
  }
}
