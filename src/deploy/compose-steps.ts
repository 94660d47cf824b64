// The deploy steps of compose-aware deploys (compose.ts says why), journaled like the others: after a deploy,
// the old containers kept stopped for rollback are hidden from compose (re-created as oneoff=True under another
// name); a rollback turns the previous generation back into numbered service containers before starting it.
import { BadRequestError } from '../errors.ts';
import { composeIdentity, hiddenSpec, nextNumber, restoredSpec } from './compose.ts';
import type { DeployContainer } from './engine.ts';
import type { ContainerRef, DeployRecord } from './journal.ts';
import type { DeployRequest } from './plan.ts';
import type { DeployContext } from './steps.ts';

/** A configHash only makes sense for a service docker-compose created. */
export function checkComposeRequest(service: string, running: DeployContainer[], req: DeployRequest): void {
  if (req.configHash === undefined) return;
  if (running.some((c) => composeIdentity(c.labels) === null)) {
    throw new BadRequestError(
      `configHash: service ${service} was not created by docker-compose (no com.docker.compose.* labels)`,
    );
  }
}

/** Re-creates each of `refs` with new labels and name (it must be stopped), updating the ref; journaled. */
async function relabel(
  ctx: DeployContext,
  rec: DeployRecord,
  action: string,
  jobs: Array<{ ref: ContainerRef; name: string; labels: Record<string, string | null> }>,
): Promise<void> {
  const relabelOne = ctx.engine.relabel?.bind(ctx.engine);
  if (jobs.length === 0 || relabelOne === undefined) return;
  const names = jobs.map((j) => j.ref.name);
  ctx.progress.step(rec, action, names, 'started', `as ${jobs.map((j) => j.name).join(', ')}`);
  const problems: string[] = [];
  for (const j of jobs) {
    try {
      j.ref.id = await relabelOne(j.ref.id, j.name, j.labels);
      j.ref.name = j.name;
      ctx.progress.save(rec);
    } catch (err) {
      problems.push(`${j.ref.name}: ${(err as Error).message}`);
    }
  }
  ctx.progress.step(rec, action, names, problems.length > 0 ? 'failed' : 'done', problems.join('; ') || undefined);
}

/** The compose containers of `refs` that are stopped (and not removed) now, with their labels. */
async function stoppedCompose(ctx: DeployContext, refs: ContainerRef[]) {
  const out: Array<{ ref: ContainerRef; c: DeployContainer }> = [];
  for (const ref of refs) {
    if (ref.removed === true) continue;
    const c = await ctx.engine.inspect(ref.id).catch(() => null);
    if (c !== null && !c.running && composeIdentity(c.labels) !== null) out.push({ ref, c });
  }
  return out;
}

/** Hides the stopped compose containers of `refs` from docker-compose (kept for `baton rollback`). */
export async function hideRetired(ctx: DeployContext, rec: DeployRecord, refs: ContainerRef[]): Promise<void> {
  const found = await stoppedCompose(ctx, refs);
  const jobs = found
    .filter(({ c }) => composeIdentity(c.labels)?.retired === false)
    .map(({ ref, c }) => ({ ref, ...hiddenSpec(c.name, c.generation) }));
  await relabel(ctx, rec, 'compose: hide retired', jobs);
}

/** Turns the hidden containers of `refs` (a rollback's previous generation) back into compose service
 *  containers with fresh container-numbers, before they start. */
export async function restoreRetired(ctx: DeployContext, rec: DeployRecord, refs: ContainerRef[]): Promise<void> {
  const found = (await stoppedCompose(ctx, refs)).filter(({ c }) => composeIdentity(c.labels)?.retired === true);
  if (found.length === 0) return;
  const { running, stopped } = await ctx.engine.listService(rec.service);
  let n = nextNumber([...running, ...stopped].map((c) => c.labels));
  const jobs = found.map(({ ref, c }) => ({ ref, ...restoredSpec(composeIdentity(c.labels)!, n++) }));
  await relabel(ctx, rec, 'compose: restore previous', jobs);
}
