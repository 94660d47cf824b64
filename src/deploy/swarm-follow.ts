// What happens in a deploy of a Swarm service, top to bottom (see follow()): Swarm's own updater replaces the tasks
// — honouring the service's update_config (parallelism, delay, order, monitor, failure_action, max_failure_ratio) —
// and baton follows it, task by task, on every replica at once:
//
//   a replacement task appears        (start-first) its old task leaves rotation now, while the new one starts
//   an old task's desired state drops  it leaves rotation at once, ~2 s before Swarm signals its container
//   the old task's container stops     its in-flight count (here) is recorded: 0 when the drain made it in time
//   a new task runs in Swarm           it joins through baton's health gate; not healthy within healthTimeout: a
//                                      failure
//   every new task that is healthy     counts in the HTTP monitor: 5xx / connect errors over requests, against
//                                      maxFailureRatio, through the update and `monitor` ms after it completes
//   Swarm's UpdateStatus               completed → monitor window → succeeded; paused → paused; rollback_* → the
//                                      rollback is followed to its end → rolled_back
//
// A failure baton sees (health gate, HTTP monitor) is handled as failure_action says: rollback → Swarm's own
// rollback (`rollback=previous`, with the service's rollback_config) is started and followed; continue → noted;
// pause → Swarm cannot be paused from outside (it pauses only on its own task failures), so baton says so and
// leaves the update to Swarm. Which tasks are in rotation is the Swarm provider's (providers/swarm-view.ts); this
// file only watches and records.
import type Docker from 'dockerode';
import { sleep } from '../async.ts';
import type { Registry } from '../upstream/registry.ts';
import type { ContainerRef, DeployRecord } from './journal.ts';
import type { Progress } from './progress.ts';
import { TASK_ENDED, taskName, type SwarmService, type SwarmTask } from '../providers/swarm-view.ts';
import { tooManyFailures, withHealthError } from './steps.ts';
import type { SwarmPeers } from './swarm-peers.ts';
import { phaseOf, withoutDigest, type SwarmSettings } from './swarm-plan.ts';

/** How often the service and its tasks are read while a deploy runs. */
const POLL_MS = 250;

export interface FollowContext {
  docker: Docker;
  registry: Registry;
  progress: Progress;
  signal: AbortSignal;
  /** the other baton replicas, asked what they still have in flight to an old task when it stops */
  peers: SwarmPeers | null;
}

/** A task as the deploy follows it. */
export interface Tracked {
  ref: ContainerRef;
  /** new tasks: when Swarm first reported it running, when baton's health gate passed, and its counters then */
  runningAt?: number;
  healthyAt?: number;
  base?: { requests: number; failures: number };
  /** new tasks: failed baton's health gate (recorded once; no longer waited for) */
  gateFailed?: boolean;
  /** new tasks: Swarm reported it failed (recorded once) */
  failed?: boolean;
  /** old tasks: out of rotation here, stopped; any task: it runs no more */
  left?: boolean;
  ended?: boolean;
}

export interface FollowGoal {
  serviceId: string;
  /** the image the update runs (new tasks are the ones running it), or null (a scale or a rollback: any task
   *  created after the start is new) */
  image: string | null;
  settings: Pick<SwarmSettings, 'monitor' | 'maxFailureRatio' | 'failureAction'>;
  healthTimeout: number;
  /** tasks running when the deploy started */
  old: ContainerRef[];
  startedAt: number;
  /** a scale: done once this many tasks run and are healthy (no UpdateStatus to wait for) */
  replicas?: number;
  /** `baton rollback`: Swarm's rollback is the goal (its new tasks are health-gated like a deploy's) */
  rollback?: boolean;
}

export type FollowOutcome =
  | { state: 'succeeded' }
  | { state: 'paused' | 'rolled_back' | 'failed'; error: string }
  | { state: 'monitor_failed'; error: string };

/** A task as GET /tasks lists it (the fields read here). */
type TaskInfo = SwarmTask & { Status?: { State?: string; Err?: string } };

/** Follows the service's update (or scale, or rollback) to its end; journals each task's steps as they happen.
 *  `tracked`: what an earlier follow of the same update saw (failure_action continue goes on with it), so no task
 *  is recorded twice. */
export async function follow(
  ctx: FollowContext,
  rec: DeployRecord,
  goal: FollowGoal,
  tracked: Map<string, Tracked> = new Map(),
): Promise<FollowOutcome> {
  const { progress, registry } = ctx;
  for (const ref of goal.old) if (!tracked.has(ref.id)) tracked.set(ref.id, { ref });
  const oldIds = new Set(goal.old.map((o) => o.id));
  let completedAt: number | null = null;
  let rollingBack = false;
  const announced = { started: false, done: false };
  for (;;) {
    if (ctx.signal.aborted)
      return { state: 'failed', error: "baton is shutting down; Swarm's update goes on by itself" };
    const svc = await ctx.docker.getService(goal.serviceId).inspect();
    const service = svc as unknown as SwarmService;
    const tasks = (await ctx.docker.listTasks({ filters: { service: [goal.serviceId] } })) as TaskInfo[];
    const now = Date.now();
    // new tasks: created since the start (running the new image, for a deploy)
    for (const t of tasks) {
      if (tracked.has(t.ID) || oldIds.has(t.ID)) continue;
      const created = Date.parse(t.CreatedAt ?? '') || 0;
      // a second of slack for the engine's clock; a task from before the start on its way out is not new
      if (created < goal.startedAt - 1000 || (created < goal.startedAt && t.DesiredState !== 'running')) continue;
      const image = t.Spec?.ContainerSpec?.Image ?? '';
      if (goal.image !== null && !rollingBack && withoutDigest(image) !== withoutDigest(goal.image)) continue;
      const ref: ContainerRef = { id: t.ID, name: taskName(service, t), image: withoutDigest(image) };
      rec.new.push(ref);
      tracked.set(t.ID, { ref });
      progress.step(
        rec,
        'task created',
        [ref.name],
        'done',
        `Swarm placed it${t.NodeID ? ` on node ${t.NodeID.slice(0, 12)}` : ''}`,
      );
    }
    for (const t of tasks) {
      const tr = tracked.get(t.ID);
      if (tr === undefined) continue;
      const state = t.Status?.State ?? '';
      if (oldIds.has(t.ID)) {
        const u = registry.upstreamOfContainer(t.ID);
        if (!tr.left && (u === undefined || u.state === 'drained' || u.state === 'draining')) {
          tr.left = true;
          const inflight = registry.inflightOfContainer(t.ID);
          progress.step(
            rec,
            'old task leaves rotation',
            [tr.ref.name],
            'done',
            `desired state ${t.DesiredState}, ${inflight} in flight here`,
          );
        }
        if (!tr.ended && (TASK_ENDED.has(state) || (t.DesiredState !== 'running' && state !== 'running'))) {
          tr.ended = true;
          tr.ref.stopped = true;
          const here = registry.inflightOfContainer(t.ID);
          const peers = ctx.peers === null ? null : await ctx.peers.inflight([t.ID]);
          const everywhere = here + (peers?.inflight ?? 0);
          const onPeers =
            peers === null || peers.peers === 0
              ? ''
              : `, on ${peers.answered} of ${peers.peers} other replicas: ${peers.inflight}`;
          const drained = everywhere === 0 && (peers === null || peers.answered === peers.peers);
          const detail = `${state}; in flight when it stopped: here ${here}${onPeers}`;
          progress.step(rec, 'old task stopped', [tr.ref.name], drained ? 'done' : 'failed', detail);
        }
        continue;
      }
      // a new task
      if (tr.runningAt === undefined && state === 'running') {
        tr.runningAt = now;
        progress.step(rec, 'task running (Swarm)', [tr.ref.name], 'done');
      }
      if (TASK_ENDED.has(state) && !tr.ended) tr.ended = true;
      if (TASK_ENDED.has(state) && tr.ended && t.DesiredState === 'running' && !tr.failed) {
        tr.failed = true; // a failure: Swarm handles it per its failure_action (its own task monitor)
        progress.step(
          rec,
          'task failed (Swarm)',
          [tr.ref.name],
          'failed',
          `${state}${t.Status?.Err ? `: ${t.Status.Err}` : ''}`,
        );
      }
      const u = registry.upstreamOfContainer(t.ID);
      if (tr.healthyAt === undefined && u?.state === 'healthy') {
        tr.healthyAt = now;
        tr.base = { requests: u.requests, failures: u.failures };
        progress.step(
          rec,
          'health gate (baton)',
          [tr.ref.name],
          'done',
          `${now - (tr.runningAt ?? now)} ms after Swarm ran it`,
        );
      }
      if (
        !rollingBack &&
        tr.runningAt !== undefined &&
        tr.healthyAt === undefined &&
        tr.gateFailed !== true &&
        t.DesiredState === 'running' &&
        now - tr.runningAt > goal.healthTimeout
      ) {
        const err =
          u === undefined ? 'not routed (labels, or no address on the network)' : withHealthError(registry, u);
        progress.step(rec, 'health gate (baton)', [tr.ref.name], 'failed', err);
        tr.gateFailed = true;
        return {
          state: 'monitor_failed',
          error: `new task ${tr.ref.name} not healthy in baton within ${goal.healthTimeout} ms: ${err}`,
        };
      }
    }
    // a task no longer listed (removed, or past the task history limit) has ended
    const listed = new Set(tasks.map((t) => t.ID));
    for (const [id, tr] of tracked) if (!listed.has(id)) tr.ended = true;
    // the HTTP monitor over the new tasks that passed the health gate
    if (!rollingBack) {
      let requests = 0;
      let failures = 0;
      for (const tr of tracked.values()) {
        if (tr.base === undefined) continue;
        const u = registry.upstreamOfContainer(tr.ref.id);
        if (u === undefined) continue;
        requests += u.requests - tr.base.requests;
        failures += u.failures - tr.base.failures;
      }
      rec.monitor = { requests, failures };
      const detail = tooManyFailures(requests, failures, goal.settings.maxFailureRatio);
      if (detail !== null) {
        progress.step(
          rec,
          'monitor',
          rec.new.map((n) => n.name),
          'failed',
          detail,
        );
        return { state: 'monitor_failed', error: `HTTP monitor: ${detail}` };
      }
    }
    // where Swarm's update stands
    const phase =
      goal.replicas !== undefined ? null : phaseOf((svc.UpdateStatus as { State?: string } | undefined)?.State);
    const message = (svc.UpdateStatus as { Message?: string } | undefined)?.Message ?? '';
    if (phase === 'paused') return { state: 'paused', error: `Swarm paused the update: ${message}` };
    if (phase === 'rollback_paused') return { state: 'paused', error: `Swarm paused its rollback: ${message}` };
    // a rollback baton asked for (goal.rollback) is followed like an update, its tasks health-gated; one Swarm
    // started by itself ends the deploy once it completed
    if (phase === 'rolling_back' && !announced.started) {
      announced.started = true;
      if (goal.rollback !== true) rollingBack = true;
      progress.step(rec, 'Swarm rolls back', [], 'started', message);
    }
    if (phase === 'rolled_back') {
      if (!announced.done) {
        announced.done = true;
        progress.step(rec, 'Swarm rolls back', [], 'done', message);
      }
      if (goal.rollback !== true) return { state: 'rolled_back', error: `Swarm rolled the update back: ${message}` };
    }
    const done =
      goal.replicas !== undefined
        ? scaled(tasks, tracked, goal.replicas, registry)
        : (phase === 'completed' || (goal.rollback === true && phase === 'rolled_back')) &&
          [...tracked.values()].every(
            (tr) => oldIds.has(tr.ref.id) || tr.ended || tr.healthyAt !== undefined || tr.gateFailed === true,
          );
    if (done && completedAt === null) {
      completedAt = now;
      if (goal.settings.monitor > 0 && !rollingBack) {
        progress.step(
          rec,
          'monitor',
          rec.new.map((n) => n.name),
          'started',
          `${goal.settings.monitor} ms, maxFailureRatio ${goal.settings.maxFailureRatio}`,
        );
      }
    }
    if (completedAt !== null && now - completedAt >= goal.settings.monitor) {
      if (goal.settings.monitor > 0) {
        const m = rec.monitor ?? { requests: 0, failures: 0 };
        progress.step(
          rec,
          'monitor',
          rec.new.map((n) => n.name),
          'done',
          `${m.requests} requests, ${m.failures} failures`,
        );
      }
      return { state: 'succeeded' };
    }
    await Promise.race([registry.changed(POLL_MS, ctx.signal), sleep(POLL_MS, ctx.signal)]);
  }
}

/** A scale is done once exactly `replicas` tasks run, each healthy in baton, and no task of the service is on its
 *  way out. */
function scaled(tasks: TaskInfo[], tracked: Map<string, Tracked>, replicas: number, registry: Registry): boolean {
  const running = tasks.filter((t) => t.DesiredState === 'running');
  if (running.length !== replicas) return false;
  if (tasks.some((t) => t.DesiredState !== 'running' && t.Status?.State === 'running')) return false;
  return running.every(
    (t) => registry.upstreamOfContainer(t.ID)?.state === 'healthy' || tracked.get(t.ID)?.healthyAt !== undefined,
  );
}
