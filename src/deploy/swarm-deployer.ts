// Deploys, rollbacks and scales of Swarm services (the admin API's, when the service is a Swarm one): each posts
// one spec update to the engine — with the service's own version, so a concurrent change by anyone (another baton
// replica, a `docker service update`) makes it a 409 instead of a lost update — and then follows it to its end
// (swarm-follow.ts reads top to bottom). Swarm itself keeps the state: the update's progress is UpdateStatus, the
// previous version is PreviousSpec (`baton rollback` is Swarm's rollback), and a baton that restarts mid-deploy
// only notes that it stopped following: Swarm's update goes on without it. Records go to a journal of their own
// (<stateDir>/swarm), never touched by the container deployer's crash recovery.
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { DEFAULT_HEALTH_GATE_TIMEOUT_MS } from '../config/defaults.ts';
import { taskName, type SwarmService, type SwarmTask } from '../providers/swarm-view.ts';
import { BadRequestError, ConflictError } from '../errors.ts';
import type { Registry } from '../upstream/registry.ts';
import { TERMINAL_STATES, type ContainerRef, type DeployRecord, type Journal } from './journal.ts';
import type { Progress, RecordInit } from './progress.ts';
import { follow, type FollowGoal, type FollowOutcome, type Tracked } from './swarm-follow.ts';
import type { SwarmPeers } from './swarm-peers.ts';
import {
  deploySpec,
  scaleSpec,
  settingsFor,
  withoutDigest,
  type SwarmDeployRequest,
  type SwarmScaleRequest,
  type SwarmSpec,
} from './swarm-plan.ts';

export interface SwarmDeployerInit {
  docker: Docker;
  /** the other baton replicas (null: not asked) */
  peers: SwarmPeers | null;
  registry: Registry;
  journal: Journal;
  progress: Progress;
  log: Logger;
}

interface ServiceInfo {
  ID: string;
  Version: { Index: number };
  Spec: SwarmSpec;
  PreviousSpec?: SwarmSpec;
  UpdateStatus?: { State?: string; Message?: string };
}

const ACTIVE_UPDATE = new Set(['updating', 'rollback_started']);

export class SwarmDeployer {
  readonly #docker: Docker;
  readonly #peers: SwarmPeers | null;
  readonly #registry: Registry;
  readonly #journal: Journal;
  readonly #progress: Progress;
  readonly #log: Logger;
  readonly #locks = new Map<string, string>();
  readonly #records = new Map<string, DeployRecord>();
  readonly #running = new Set<Promise<void>>();
  readonly #abort = new AbortController();

  constructor(init: SwarmDeployerInit) {
    this.#docker = init.docker;
    this.#peers = init.peers;
    this.#registry = init.registry;
    this.#journal = init.journal;
    this.#progress = init.progress;
    this.#log = init.log;
    for (const r of init.journal.list()) {
      this.#records.set(r.id, r);
      if (!TERMINAL_STATES.has(r.state) && r.state !== 'paused') {
        // a previous baton stopped following it; Swarm did not stop
        r.error =
          `baton restarted in state ${r.state} and stopped following; ` +
          "Swarm's update went on by itself (see docker service ps)";
        init.progress.setState(r, 'failed');
      }
    }
  }

  /** The Swarm service `name` stands for: a Swarm service of that name, or the one whose tasks baton routes as
   *  service `name`; null when it is neither (a container service, or nothing). */
  async resolve(name: string): Promise<ServiceInfo | null> {
    let list: ServiceInfo[];
    try {
      list = (await this.#docker.listServices({ filters: { name: [name] } })) as unknown as ServiceInfo[];
    } catch (err) {
      // 503: this engine is in no swarm, or not a manager — the service can only be a container one
      if ((err as { statusCode?: number }).statusCode === 503) return null;
      throw err;
    }
    const exact = list.find((s) => s.Spec.Name === name);
    if (exact !== undefined) return exact;
    const ids = new Set<string>();
    for (const u of this.#registry.services.get(name)?.upstreams ?? []) {
      if (u.containerId === undefined) continue;
      const task = await this.#docker
        .getTask(u.containerId)
        .inspect()
        .catch(() => null);
      if (task !== null) ids.add((task as { ServiceID: string }).ServiceID);
    }
    if (ids.size > 1) {
      throw new ConflictError(
        `baton service ${name} is routed to ${ids.size} Swarm services: deploy each by its Swarm name`,
      );
    }
    if (ids.size === 0) return null;
    return (await this.#docker.getService([...ids][0]).inspect()) as unknown as ServiceInfo;
  }

  get(id: string): DeployRecord | null {
    return this.#records.get(id) ?? this.#journal.read(id);
  }

  list(service?: string): DeployRecord[] {
    return [...this.#records.values()].filter((r) => service === undefined || r.service === service);
  }

  async startDeploy(svc: ServiceInfo, req: SwarmDeployRequest): Promise<DeployRecord> {
    const name = svc.Spec.Name ?? svc.ID;
    this.#check(svc);
    if (!req.pull) await this.#imagePresent(req.image);
    let spec: SwarmSpec;
    try {
      spec = deploySpec(svc.Spec, req);
    } catch (err) {
      throw new BadRequestError((err as Error).message);
    }
    const settings = settingsFor(svc.Spec.UpdateConfig, req);
    const old = await this.#runningTasks(svc);
    const rec = this.#newRecord(
      {
        kind: 'deploy',
        service: name,
        image: req.image,
        generation: svc.Version.Index,
        settings: { ...req, swarm: settings },
      },
      old,
    );
    await this.#update(rec, svc, spec, {});
    const goal: FollowGoal = {
      serviceId: svc.ID,
      image: req.image,
      settings,
      healthTimeout: req.healthTimeout,
      old,
      startedAt: Date.now(),
    };
    this.#launch(rec, () => this.#run(rec, goal, svc.ID));
    return rec;
  }

  async startRollback(svc: ServiceInfo): Promise<DeployRecord> {
    const name = svc.Spec.Name ?? svc.ID;
    this.#check(svc);
    if (svc.PreviousSpec === undefined)
      throw new ConflictError(`Swarm service ${name} has no previous spec to roll back to`);
    const image = withoutDigest(svc.PreviousSpec.TaskTemplate?.ContainerSpec?.Image ?? '');
    const old = await this.#runningTasks(svc);
    const settings = settingsFor(svc.Spec.RollbackConfig, {});
    const rec = this.#newRecord(
      { kind: 'rollback', service: name, image, generation: svc.Version.Index, settings: { swarm: settings } },
      old,
    );
    await this.#update(rec, svc, svc.Spec, { rollback: 'previous' });
    const goal: FollowGoal = {
      serviceId: svc.ID,
      image,
      // a rollback that goes wrong is Swarm's to handle (rollback_config's failure_action)
      settings: { ...settings, monitor: 0, failureAction: 'continue' },
      healthTimeout: DEFAULT_HEALTH_GATE_TIMEOUT_MS,
      old,
      startedAt: Date.now(),
      rollback: true,
    };
    this.#launch(rec, () => this.#run(rec, goal, svc.ID));
    return rec;
  }

  async startScale(svc: ServiceInfo, req: SwarmScaleRequest): Promise<DeployRecord> {
    const name = svc.Spec.Name ?? svc.ID;
    this.#check(svc);
    let spec: SwarmSpec;
    try {
      spec = scaleSpec(svc.Spec, req.replicas);
    } catch (err) {
      throw new BadRequestError((err as Error).message);
    }
    const old = await this.#runningTasks(svc);
    const rec = this.#newRecord(
      { kind: 'scale', service: name, image: null, generation: svc.Version.Index, settings: { ...req } },
      old,
    );
    await this.#update(rec, svc, spec, {});
    const settings = { monitor: 0, maxFailureRatio: 1, failureAction: 'continue' as const };
    const goal: FollowGoal = {
      serviceId: svc.ID,
      image: null,
      settings,
      healthTimeout: req.healthTimeout,
      old,
      startedAt: Date.now(),
      replicas: req.replicas,
    };
    this.#launch(rec, () => this.#run(rec, goal, svc.ID));
    return rec;
  }

  // ── the run ───────────────────────────────────────────────────────────────────────────────────────

  async #run(rec: DeployRecord, goal: FollowGoal, serviceId: string): Promise<void> {
    const ctx = {
      docker: this.#docker,
      registry: this.#registry,
      progress: this.#progress,
      signal: this.#abort.signal,
      peers: this.#peers,
    };
    this.#progress.setState(rec, 'running');
    const tracked = new Map<string, Tracked>();
    let out: FollowOutcome = await follow(ctx, rec, goal, tracked);
    if (out.state === 'monitor_failed') {
      rec.error = out.error;
      this.#log.warn({ deploy: rec.id, service: rec.service, reason: out.error }, 'Swarm deploy failed');
      const action = goal.settings.failureAction;
      if (action === 'continue') {
        // followed on with what was seen so far: each later health-gate failure is noted too, none waited for
        while (out.state === 'monitor_failed') {
          this.#progress.step(rec, 'failure ignored (failure_action: continue)', [], 'done', out.error);
          out = await follow(ctx, rec, { ...goal, settings: { ...goal.settings, maxFailureRatio: 1 } }, tracked);
        }
        if (out.state === 'succeeded') delete rec.error;
      } else if (action === 'pause') {
        this.#progress.step(
          rec,
          'pause',
          [],
          'failed',
          'Swarm pauses only on its own task failures, not from outside: its update goes on; ' +
            'roll back with `baton rollback`',
        );
        out = { state: 'failed', error: out.error };
      } else {
        this.#progress.setState(rec, 'rolling_back');
        const svc = (await this.#docker.getService(serviceId).inspect()) as unknown as ServiceInfo;
        await this.#update(rec, svc, svc.Spec, { rollback: 'previous' });
        // the rollback's follow counts nothing of the new tasks: the counts that failed the deploy stay on the record
        const measured = rec.monitor;
        const back = await follow(ctx, rec, {
          ...goal,
          image: null,
          old: rec.new.filter((n) => n.stopped !== true),
          startedAt: Date.now(),
          // done once Swarm's rollback completed and the restored tasks passed baton's health gate
          settings: { ...goal.settings, monitor: 0, maxFailureRatio: 1 },
          rollback: true,
        });
        if (measured !== undefined) rec.monitor = measured;
        out =
          back.state === 'rolled_back' || back.state === 'succeeded'
            ? { state: 'rolled_back', error: out.error }
            : back;
      }
    }
    if (out.state === 'succeeded') this.#progress.setState(rec, 'succeeded');
    else {
      rec.error ??= (out as { error: string }).error;
      this.#progress.setState(rec, out.state === 'monitor_failed' ? 'failed' : out.state);
    }
  }

  // ── the engine ────────────────────────────────────────────────────────────────────────────────────

  /** Posts the spec with the version it was read at (a concurrent change: 409, nothing changed). */
  async #update(rec: DeployRecord, svc: ServiceInfo, spec: SwarmSpec, query: Record<string, string>): Promise<void> {
    const what = query.rollback !== undefined ? 'Swarm rollback (rollback_config)' : 'Swarm update (update_config)';
    this.#progress.step(rec, what, [], 'started', describe(spec, query.rollback !== undefined));
    try {
      await this.#docker
        .getService(svc.ID)
        .update({ _query: { version: svc.Version.Index, ...query }, _body: spec } as never);
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      const message = ((err as { json?: { message?: string } }).json?.message ?? (err as Error).message).trim();
      this.#progress.step(rec, what, [], 'failed', message);
      rec.error = message;
      this.#progress.setState(rec, 'failed');
      this.#unlock(rec);
      if (code === 409 || /out of sequence|update out of/i.test(message)) {
        throw new ConflictError(`Swarm service ${rec.service} changed meanwhile (another update?): ${message}`);
      }
      throw new BadRequestError(`Swarm refused the update of ${rec.service}: ${message}`);
    }
    this.#progress.step(rec, what, [], 'done');
  }

  async #runningTasks(svc: ServiceInfo): Promise<ContainerRef[]> {
    const filters = { service: [svc.ID], 'desired-state': ['running'] };
    const tasks = (await this.#docker.listTasks({ filters })) as SwarmTask[];
    const service = svc as unknown as SwarmService;
    return tasks.map((t) => ({
      id: t.ID,
      name: taskName(service, t),
      image: withoutDigest(t.Spec?.ContainerSpec?.Image ?? ''),
    }));
  }

  async #imagePresent(ref: string): Promise<void> {
    try {
      await this.#docker.getImage(ref).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      throw new BadRequestError(
        `image ${ref} is not on this node (push it where Swarm's nodes pull from, and pass "pull": true)`,
      );
    }
  }

  // ── bookkeeping ───────────────────────────────────────────────────────────────────────────────────

  #check(svc: ServiceInfo): void {
    const name = svc.Spec.Name ?? svc.ID;
    const holder = this.#locks.get(name);
    if (holder !== undefined)
      throw new ConflictError(`a deploy, rollback or scale of ${name} is already running (${holder})`);
    const state = svc.UpdateStatus?.State;
    if (state !== undefined && ACTIVE_UPDATE.has(state)) {
      throw new ConflictError(
        `Swarm is already updating ${name} (UpdateStatus ${state}); wait for it, or see docker service ps`,
      );
    }
  }

  #newRecord(init: RecordInit, old: ContainerRef[]): DeployRecord {
    const rec = this.#progress.create(init);
    rec.old = old;
    this.#locks.set(init.service, rec.id);
    this.#records.set(rec.id, rec);
    return rec;
  }

  #unlock(rec: DeployRecord): void {
    if (this.#locks.get(rec.service) === rec.id) this.#locks.delete(rec.service);
  }

  #launch(rec: DeployRecord, run: () => Promise<void>): void {
    const p = run()
      .catch((err) => {
        this.#log.error({ deploy: rec.id, err }, 'Swarm deploy crashed');
        rec.error = (err as Error).message;
        this.#progress.setState(rec, 'failed');
      })
      .finally(() => {
        this.#unlock(rec);
        this.#running.delete(p);
      });
    this.#running.add(p);
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled([...this.#running]);
  }
}

function describe(spec: SwarmSpec, rollback: boolean): string {
  const c = rollback ? spec.RollbackConfig : spec.UpdateConfig;
  const image = spec.TaskTemplate?.ContainerSpec?.Image ?? '';
  const parts = [
    rollback ? 'to the previous spec' : `image ${image}`,
    `parallelism ${c?.Parallelism ?? 1}`,
    `order ${c?.Order ?? 'stop-first'}`,
    `delay ${(c?.Delay ?? 0) / 1e6} ms`,
    `failure_action ${c?.FailureAction ?? 'pause'}`,
  ];
  return parts.join(', ');
}
