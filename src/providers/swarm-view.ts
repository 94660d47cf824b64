// Swarm services and tasks → which tasks are in rotation, and each one's view for label parsing (pure; table-tested
// in test/swarm-view.test.ts with JSON captured from a real engine). The labels are the service's (Spec.Labels:
// `deploy.labels` in a stack file), read by the same code as a container's (labels.ts); the address is the task's
// own IP on one of its networks, never Swarm's ingress network and never the service's virtual IP.
//
// A running task leaves rotation as soon as
//   - its container is stopping (a `kill`/`stop`/`die`/... event on this node, before the process exits);
//   - Swarm wants it gone: its DesiredState is no longer `running` (Swarm signals it only ~3 s later, after its
//     gossip delay, while its virtual IP still sends it new connections: moby#30321);
//   - its slot (a replicated service's slot, a global service's node) already has a newer task that Swarm wants
//     running: the replacement of a start-first update, which Swarm starts before it stops the old task.
// The last two keep a task that is the last of its service baton could send requests to ("held"): it stays until
// another task of its service is ready (baton's health gate passed), its container stops, or — for a desired state
// — HOLD_MAX_MS passed (then Swarm is about to signal it). So a 1-replica service is never left empty early. A task
// that left is never held back into rotation (the caller passes them in `left`): it was drained already. It comes
// back only when its reason is gone (its replacement failed before Swarm shut it down, e.g. a paused update).

import type { ContainerView } from './labels.ts';

/** How long a task Swarm wants gone may be held as its service's last ready task: moby's gossip delay (2 s) before
 *  it signals the container. */
export const HOLD_MAX_MS = 2_000;

/** The fields of a service (GET /services) read here. */
export interface SwarmService {
  ID: string;
  CreatedAt?: string;
  Spec?: { Name?: string; Labels?: Record<string, string>; Mode?: { Global?: object; Replicated?: object } };
  UpdateStatus?: { State?: string };
}

/** The fields of a task (GET /tasks) read here. */
export interface SwarmTask {
  ID: string;
  ServiceID: string;
  /** replicated services only */
  Slot?: number;
  NodeID?: string;
  CreatedAt?: string;
  DesiredState?: string;
  Status?: { State?: string };
  Spec?: { ContainerSpec?: { Image?: string } };
  NetworksAttachments?: Array<{
    Network?: { ID?: string; Spec?: { Name?: string; Ingress?: boolean } };
    Addresses?: string[];
  }>;
}

/** Task states past which a task never runs again. */
export const TASK_ENDED: ReadonlySet<string> = new Set([
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
]);
/** Service update states during which tasks come and go. */
const UPDATING = new Set(['updating', 'rollback_started']);

/** The container name Swarm gives a task: `<service>.<slot>.<task id>`, `<service>.<node id>.<task id>` (global). */
export function taskName(service: SwarmService, task: SwarmTask): string {
  const name = service.Spec?.Name ?? task.ServiceID;
  return `${name}.${task.Slot !== undefined && task.Slot > 0 ? task.Slot : (task.NodeID ?? '')}.${task.ID}`;
}

/** network name → the task's IP on it (no prefix length); Swarm's ingress network left out. */
export function taskNetworks(task: SwarmTask): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of task.NetworksAttachments ?? []) {
    const spec = a.Network?.Spec;
    const name = spec?.Name ?? a.Network?.ID;
    if (name === undefined || spec?.Ingress === true) continue;
    out[name] = (a.Addresses?.[0] ?? '').replace(/\/\d+$/, '');
  }
  return out;
}

/** A task as label parsing sees it: the service's labels, the task's addresses, the image's exposed ports. */
export function taskView(service: SwarmService, task: SwarmTask, exposedPorts: readonly string[]): ContainerView {
  return {
    id: task.ID,
    name: taskName(service, task),
    service: service.Spec?.Name ?? task.ServiceID,
    labels: service.Spec?.Labels ?? {},
    running: task.Status?.State === 'running',
    paused: false,
    health: null, // Swarm reports a task running only once its container's HEALTHCHECK passes
    networks: taskNetworks(task),
    exposedPorts: [...exposedPorts],
    publishedPorts: {},
    created: task.CreatedAt ?? '',
  };
}

/** The image refs to look a task's image up by locally: as given, then without its `@sha256:` digest. */
export function imageRefs(image: string): string[] {
  const at = image.indexOf('@');
  return at > 0 ? [image, image.slice(0, at)] : [image];
}

/** Whether a service's labels may route it (a baton.* or traefik.* label, or exposedByDefault): only then are its
 *  images looked up. */
export function routable(service: SwarmService, exposedByDefault: boolean): boolean {
  return exposedByDefault || Object.keys(service.Spec?.Labels ?? {}).some((k) => /^(baton|traefik)\./i.test(k));
}

/** Whether any service is in a rolling update or rollback (tasks come and go: reconcile fast). */
export function updating(services: readonly SwarmService[]): boolean {
  return services.some((s) => UPDATING.has(s.UpdateStatus?.State ?? ''));
}

export interface RotationInput {
  services: readonly SwarmService[];
  tasks: readonly SwarmTask[];
  /** task id → why its container is stopping (container events on this node) */
  stopping?: ReadonlyMap<string, string>;
  /** the tasks that left rotation earlier: out while they have a reason to be, never held */
  left?: ReadonlySet<string>;
  /** whether baton's health gate passed a task (undefined: every task in rotation counts as ready) */
  ready?: (taskId: string) => boolean;
  /** held tasks whose HOLD_MAX_MS is over (the caller's clock) */
  expired?: ReadonlySet<string>;
}

export interface InRotation {
  service: SwarmService;
  task: SwarmTask;
}

export interface Rotation {
  /** the tasks in rotation (held ones included), by service name and task name */
  tasks: InRotation[];
  /** running tasks out of rotation → why */
  out: Map<string, string>;
  /** tasks kept although they have a reason to leave → that reason; `desired` ones are subject to HOLD_MAX_MS */
  held: Map<string, { reason: string; desired: boolean }>;
}

/** Which running tasks are in rotation (see the top of this file). */
export function rotation(input: RotationInput): Rotation {
  const services = new Map(input.services.map((s) => [s.ID, s]));
  const byService = new Map<string, SwarmTask[]>();
  for (const t of input.tasks) {
    if (!services.has(t.ServiceID)) continue;
    const list = byService.get(t.ServiceID);
    if (list === undefined) byService.set(t.ServiceID, [t]);
    else list.push(t);
  }
  const result: Rotation = { tasks: [], out: new Map(), held: new Map() };
  for (const [id, tasks] of byService) {
    const service = services.get(id)!;
    const stay: SwarmTask[] = [];
    const soft: Array<{ task: SwarmTask; reason: string; desired: boolean }> = [];
    for (const task of tasks) {
      if (task.Status?.State !== 'running') continue;
      const stopping = input.stopping?.get(task.ID);
      const newer = replacement(task, tasks);
      const desired = task.DesiredState !== 'running';
      const reason = desired
        ? `desired state ${task.DesiredState ?? 'unknown'}`
        : newer !== undefined
          ? `${slotOf(task)} replaced by task ${newer.ID}`
          : undefined;
      if (stopping !== undefined) result.out.set(task.ID, `container ${stopping}`);
      else if (reason === undefined) stay.push(task);
      else if (input.left?.has(task.ID) === true) result.out.set(task.ID, reason);
      else soft.push({ task, reason, desired });
    }
    const ready = input.ready ?? (() => true);
    const served = stay.some((t) => ready(t.ID));
    for (const s of soft) {
      if (served || (s.desired && input.expired?.has(s.task.ID) === true)) result.out.set(s.task.ID, s.reason);
      else {
        result.held.set(s.task.ID, { reason: s.reason, desired: s.desired });
        stay.push(s.task);
      }
    }
    for (const task of stay) result.tasks.push({ service, task });
  }
  const key = (r: InRotation) => `${r.service.Spec?.Name ?? ''}\u0000${taskName(r.service, r.task)}`;
  result.tasks.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return result;
}

/** "slot 2" of a replicated service, "node <id>" of a global one. */
function slotOf(task: SwarmTask): string {
  return task.Slot !== undefined && task.Slot > 0 ? `slot ${task.Slot}` : `node ${task.NodeID ?? ''}`;
}

/** A newer task in the same slot that Swarm wants running, or undefined. */
function replacement(task: SwarmTask, tasks: readonly SwarmTask[]): SwarmTask | undefined {
  const slot = slotOf(task);
  return tasks.find(
    (t) =>
      t.ID !== task.ID &&
      t.DesiredState === 'running' &&
      !TASK_ENDED.has(t.Status?.State ?? '') &&
      slotOf(t) === slot &&
      compareTimes(t.CreatedAt ?? '', task.CreatedAt ?? '') > 0,
  );
}

/** Compares two RFC 3339 times with up to nanoseconds (Swarm's CreatedAt; fractions of any length). */
export function compareTimes(a: string, b: string): number {
  const key = (s: string): string => {
    const m = /^(.*?\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(s);
    if (m === null) return s;
    const ms = Date.parse(`${m[1]}${m[3]}`);
    return `${String(Number.isNaN(ms) ? 0 : ms).padStart(16, '0')}.${(m[2] ?? '').padEnd(9, '0')}`;
  };
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
