// After a restart: an interrupted deploy's journal record is brought in line with what the engine has now, so the
// deployer can roll it back (deployer.ts, recover()).
import type { DeployRecord } from './journal.ts';
import type { DeployContext } from './steps.ts';

/** baton may have died between asking the engine for something and journaling the answer: a container created
 *  (Docker went on after the client vanished) but never recorded in `new`, or an old container stopped but not yet
 *  marked `stopped` — a blue/green switch stops every old container at once, so trusting the flags alone left the
 *  service with nothing running. The engine is the truth: every container carrying this deploy's label is one of
 *  its new ones, and every old container (all of them ran when it began) that no longer runs was stopped by it,
 *  so the rollback starts it again. */
export async function reconcileWithEngine(ctx: DeployContext, rec: DeployRecord): Promise<void> {
  for (const c of await ctx.engine.listDeploy(rec.id)) {
    if (rec.new.some((n) => n.id === c.id) || rec.old.some((o) => o.id === c.id)) continue;
    ctx.log.warn(
      { deploy: rec.id, container: c.name },
      'Found a container of the interrupted deploy that the journal did not record',
    );
    rec.new.push({ id: c.id, name: c.name, image: c.image });
  }
  for (const o of rec.old) {
    if (o.removed === true) continue;
    const info = await ctx.engine.inspect(o.id);
    if (info === null) o.removed = true;
    else if (!info.running) o.stopped = true;
  }
  ctx.progress.save(rec);
}
