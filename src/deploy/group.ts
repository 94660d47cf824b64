// Several services deployed in one call (POST /api/deploys, `baton deploy web,worker …`): one lock over all of
// them, one group record, one rollback.
//
//   validate every service (running containers, image present, compose hash) → lock ALL of them (else 409)
//   → deploy each, one after the other in the order given (each a deploy record of its own, `group` = the group's
//     id; its steps mirrored into the group's record as "<service>: <step>")
//   → a failure (that service's own deploy rolls it back) → the services already deployed are rolled back too, in
//     reverse order (`baton rollback` of each: its previous generation, kept stopped, starts again)
//   → the locks go.
//
// So a group never ends with some services on the new version and some on the old. A baton restart in the middle
// rolls back the interrupted service's deploy (the deployer's recover()), then the services the group had already
// deployed (recover() here).
import type { Logger } from 'pino';
import { z } from 'zod';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import { checkComposeRequest } from './compose-steps.ts';
import { CONFIG_HASH } from './compose.ts';
import type { Engine } from './engine.ts';
import { TERMINAL_STATES, type DeployRecord, type Journal } from './journal.ts';
import { deployFields, type DeployRequest } from './plan.ts';
import { Progress } from './progress.ts';

/** the most services one group deploys */
export const MAX_GROUP_SERVICES = 20;

const member = z.strictObject({
  name: z.string().min(1).max(200),
  image: deployFields.shape.image,
  configHash: z.string().regex(CONFIG_HASH, 'a sha256 hex digest (docker-compose config --hash=<service>)').optional(),
  replicas: deployFields.shape.replicas,
});

/** POST /api/deploys: the services (each its image, config hash and replica count) and the settings they share. */
/** (no canary: a group switches each service whole) */
export const groupDeployRequestSchema = deployFields
  .omit({ image: true, configHash: true, replicas: true })
  .omit({ canary: true, canaryHeader: true, canaryDuration: true, stickyFor: true })
  .extend({ services: z.array(member).min(1).max(MAX_GROUP_SERVICES) });

export type GroupDeployRequest = z.output<typeof groupDeployRequestSchema>;

/** What a group needs of the deployer. */
export interface GroupHost {
  startDeploy(service: string, req: DeployRequest, group: string): Promise<DeployRecord>;
  startRollback(service: string, group: string): Promise<DeployRecord>;
  readonly signal: AbortSignal;
}

export interface GroupInit {
  engine: Engine;
  journal: Journal;
  events: EventBus;
  log: Logger;
  /** the deployer's locks (service → holder id) and records (id → record), shared */
  locks: Map<string, string>;
  records: Map<string, DeployRecord>;
}

/** Why a group request cannot run as given (pure): names repeated, settings a group cannot honour. */
export function groupProblems(req: GroupDeployRequest): string[] {
  const problems: string[] = [];
  const names = req.services.map((s) => s.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) problems.push(`services: ${[...new Set(twice)].join(', ')} given more than once`);
  if (req.failureAction === 'pause') {
    problems.push('failureAction: "pause" cannot pause a group (its other services would stay half-done)');
  }
  if (!req.keepPrevious) {
    problems.push('keepPrevious: a group keeps the previous generations (its rollback starts them again)');
  }
  return problems;
}

/** The services a group's members left on their new version: each service's last member a succeeded deploy
 *  (pure). */
export function deployedServices(rec: DeployRecord, get: (id: string) => DeployRecord | null | undefined): string[] {
  const last = new Map<string, DeployRecord>();
  for (const id of rec.members ?? []) {
    const m = get(id);
    if (m) last.set(m.service, m);
  }
  return [...last.values()].filter((m) => m.kind === 'deploy' && m.state === 'succeeded').map((m) => m.service);
}

export class GroupDeploys {
  readonly #host: GroupHost;
  readonly #init: GroupInit;
  readonly #progress: Progress;
  readonly #running = new Set<Promise<void>>();
  /** groups a previous process left unfinished, for recover() */
  readonly #interrupted: DeployRecord[] = [];

  constructor(host: GroupHost, init: GroupInit) {
    this.#host = host;
    this.#init = init;
    this.#progress = new Progress(init.journal, init.events, init.log);
    // a group a previous baton process left unfinished ends failed here (so the deployer does not take it for a
    // deploy to recover); recover() then rolls back the services it had deployed
    for (const rec of init.journal.list()) {
      if (rec.kind !== 'group' || TERMINAL_STATES.has(rec.state)) continue;
      rec.error = `interrupted in state ${rec.state} (baton restarted)`;
      this.#progress.setState(rec, 'failed');
      this.#interrupted.push(rec);
    }
  }

  /** After the deployer's recover() (the interrupted service's deploy rolled back): the services an interrupted
   *  group had deployed are rolled back too, so all of them are on their previous containers. */
  async recover(): Promise<void> {
    for (const rec of this.#interrupted.splice(0)) {
      const deployed = deployedServices(rec, (id) => this.#init.records.get(id) ?? this.#init.journal.read(id));
      if (deployed.length === 0) continue;
      try {
        this.#checkLocks(deployed);
      } catch (err) {
        rec.error += `; the services it had deployed could not be rolled back: ${(err as Error).message}`;
        this.#progress.save(rec);
        continue;
      }
      this.#init.log.warn({ deploy: rec.id, services: deployed }, 'Rolling back an interrupted group deploy');
      this.#init.records.set(rec.id, rec);
      for (const n of deployed) this.#init.locks.set(n, rec.id);
      try {
        await this.#rollBack(rec, deployed);
      } finally {
        for (const n of deployed) if (this.#init.locks.get(n) === rec.id) this.#init.locks.delete(n);
      }
    }
  }

  /** Validates every service and takes all their locks, then runs the group in the background. Throws 400/404/409
   *  errors before anything changes. */
  async start(req: GroupDeployRequest): Promise<DeployRecord> {
    const problems = groupProblems(req);
    if (problems.length > 0) throw new BadRequestError(problems.join('; '));
    const names = req.services.map((s) => s.name);
    this.#checkLocks(names);
    const { engine } = this.#init;
    const members: Array<{ name: string; req: DeployRequest }> = [];
    for (const s of req.services) {
      const { services: _, ...common } = req;
      const one: DeployRequest = { ...common, image: s.image, configHash: s.configHash, replicas: s.replicas };
      const { running } = await engine.listService(s.name);
      if (running.length === 0) throw new NotFoundError(`no running container belongs to service ${s.name}`);
      checkComposeRequest(s.name, running, one);
      await engine.ensureImage(s.image, req.pull);
      members.push({ name: s.name, req: one });
    }
    this.#checkLocks(names); // again: the awaits above let another request in
    const rec = this.#progress.create({
      kind: 'group',
      service: names.join(','),
      // for the history: each service's image
      image: req.services.map((s) => `${s.name}=${s.image}`).join(','),
      generation: 0,
      settings: { ...req },
    });
    rec.members = [];
    for (const n of names) this.#init.locks.set(n, rec.id);
    this.#init.records.set(rec.id, rec);
    const p = this.#run(rec, members)
      .catch((err: Error) => {
        this.#init.log.error({ deploy: rec.id, err }, 'Group deploy crashed');
        rec.error = err.message;
        this.#progress.setState(rec, 'failed');
      })
      .finally(() => {
        for (const n of names) if (this.#init.locks.get(n) === rec.id) this.#init.locks.delete(n);
        this.#running.delete(p);
      });
    this.#running.add(p);
    return rec;
  }

  async #run(rec: DeployRecord, members: Array<{ name: string; req: DeployRequest }>): Promise<void> {
    const progress = this.#progress;
    progress.setState(rec, 'running');
    const deployed: string[] = [];
    let failure: string | null = null;
    let changed = false;
    for (const m of members) {
      const action = `deploy ${m.name}`;
      progress.step(rec, action, [], 'started', m.req.image);
      const end = await this.#member(rec, m.name, () => this.#host.startDeploy(m.name, m.req, rec.id));
      if (end.state === 'succeeded') {
        deployed.push(m.name);
        progress.step(rec, action, [], 'done', end.id);
        continue;
      }
      if (end.state === 'rolled_back') changed = true;
      failure = `${m.name}: ${end.error ?? end.state}`;
      progress.step(rec, action, [], 'failed', failure);
      break;
    }
    this.#sumTraffic(rec);
    if (failure === null) {
      progress.setState(rec, 'succeeded');
      return;
    }
    rec.error = failure;
    if (deployed.length === 0) {
      progress.setState(rec, changed ? 'rolled_back' : 'failed');
      return;
    }
    if (this.#host.signal.aborted) {
      rec.error += '; baton is shutting down: the services already deployed stay deployed';
      progress.setState(rec, 'failed');
      return;
    }
    await this.#rollBack(rec, deployed);
  }

  /** Rolls back the services the group deployed, in reverse order; the group ends rolled_back (or failed). */
  async #rollBack(rec: DeployRecord, deployed: string[]): Promise<void> {
    const progress = this.#progress;
    progress.setState(rec, 'rolling_back');
    const stuck: string[] = [];
    for (const name of [...deployed].reverse()) {
      const action = `roll back ${name}`;
      progress.step(rec, action, [], 'started');
      const end = await this.#member(rec, name, () => this.#host.startRollback(name, rec.id));
      if (end.state !== 'succeeded') stuck.push(`${name}: ${end.error ?? end.state}`);
      progress.step(rec, action, [], end.state === 'succeeded' ? 'done' : 'failed', end.error ?? end.id);
    }
    if (stuck.length > 0) rec.error += `; rollback failed for ${stuck.join('; ')}`;
    this.#sumTraffic(rec);
    progress.setState(rec, stuck.length > 0 ? 'failed' : 'rolled_back');
  }

  /** Starts a member deploy or rollback and follows it to its end, mirroring its steps and live progress into the
   *  group's record. A member refused at the start (an error) ends as failed. */
  async #member(
    rec: DeployRecord,
    service: string,
    start: () => Promise<DeployRecord>,
  ): Promise<Pick<DeployRecord, 'id' | 'state' | 'error'>> {
    let m: DeployRecord;
    try {
      m = await start();
    } catch (err) {
      return { id: '', state: 'failed', error: (err as Error).message };
    }
    rec.members!.push(m.id);
    this.#progress.save(rec);
    let seen = 0;
    const mirror = () => {
      for (; seen < m.steps.length; seen++) {
        const s = m.steps[seen];
        this.#progress.step(rec, `${service}: ${s.action}`, s.containers, s.status, s.detail);
      }
      if (m.live) this.#progress.live(rec, { ...m.live, phase: `${service}: ${m.live.phase}` });
    };
    await new Promise<void>((resolve) => {
      const check = () => {
        mirror();
        if (!TERMINAL_STATES.has(m.state) && m.state !== 'paused') return;
        unsubscribe();
        resolve();
      };
      const unsubscribe = this.#init.events.subscribe((type, data) => {
        if (type === 'deploy' && (data as { id?: string }).id === m.id) check();
      });
      check();
    });
    return m;
  }

  /** The group's traffic: its members' summed. */
  #sumTraffic(rec: DeployRecord): void {
    const traffic = { requests: 0, failures: 0 };
    for (const id of rec.members ?? []) {
      const m = this.#init.records.get(id);
      traffic.requests += m?.traffic?.requests ?? 0;
      traffic.failures += m?.traffic?.failures ?? 0;
    }
    rec.traffic = traffic;
  }

  #checkLocks(services: string[]): void {
    for (const s of services) {
      const holder = this.#init.locks.get(s);
      if (holder !== undefined)
        throw new ConflictError(`a deploy, rollback or scale of ${s} is already running (${holder})`);
    }
  }

  /** Waits for the running groups (their members end when the deployer closes). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#running]);
  }
}
