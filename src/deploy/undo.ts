// A failed deploy's rollback: the old containers it parked go straight back into rotation, the ones it stopped
// start again (health-gated), then the new ones are drained, stopped and removed.
import type { Logger } from 'pino';
import { DEFAULT_HEALTH_GATE_TIMEOUT_MS } from '../config/defaults.ts';
import type { ContainerRef, DeployRecord } from './journal.ts';
import { healthGate, retireRefs, startExisting, type DeployContext } from './steps.ts';

const notRemoved = (r: ContainerRef): boolean => r.removed !== true;

export async function undoDeploy(
  ctx: DeployContext,
  log: Logger,
  rec: DeployRecord,
  drainTimeout: number | undefined,
): Promise<void> {
  ctx.progress.setState(rec, 'rolling_back');
  // parked (drained, still running) old containers were serving seconds ago: back in rotation at once
  const parked = rec.old.filter((o) => o.parked === true && o.stopped !== true && notRemoved(o));
  if (parked.length > 0) {
    const names = parked.map((p) => p.name);
    ctx.progress.step(rec, 'switch back', names, 'started');
    for (const p of parked) {
      const u = ctx.registry.upstreamOfContainer(p.id);
      if (u !== undefined) ctx.registry.enable(u.id, { skipGate: true });
      else p.stopped = true; // gone from rotation meanwhile (it exited): restarted below
      p.parked = false;
    }
    ctx.progress.step(rec, 'switch back', names, 'done');
  }
  const restart = rec.old.filter((o) => o.stopped === true && notRemoved(o));
  if (restart.length > 0) {
    const started = await startExisting(ctx, rec, restart, 'restart old');
    try {
      await healthGate(ctx, rec, started, DEFAULT_HEALTH_GATE_TIMEOUT_MS);
    } catch (err) {
      log.error({ deploy: rec.id, err }, 'Old containers did not become healthy again during rollback');
    }
  }
  await retireRefs(ctx, rec, rec.new.filter(notRemoved), drainTimeout, 'remove new', true);
}
