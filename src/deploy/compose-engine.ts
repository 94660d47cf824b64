// The Docker side of compose-aware deploys (compose.ts says why): the naming a clone source of a compose service
// carries (the next free container-number), and re-creating a stopped container under another name with changed
// labels (Docker cannot relabel a container) — same image, config, network aliases, host ports and volumes
// (anonymous ones kept by name); its writable layer is not kept, as with compose's own recreate.
import type Docker from 'dockerode';
import { cloneSpec } from './clone.ts';
import {
  COMPOSE_CONFIG_HASH,
  COMPOSE_PROJECT,
  COMPOSE_SERVICE,
  ComposeNaming,
  composeIdentity,
  nextNumber,
} from './compose.ts';

const ANONYMOUS_VOLUME = /^[a-f0-9]{64}$/;

/** The compose naming for clones of `container`, or null when compose did not create it. */
export async function composeNaming(
  docker: Docker,
  container: Docker.ContainerInspectInfo,
  configHash: string | null | undefined,
): Promise<ComposeNaming | null> {
  const identity = composeIdentity(container.Config.Labels ?? undefined);
  if (identity === null) return null;
  const hash = configHash === undefined ? (container.Config.Labels?.[COMPOSE_CONFIG_HASH] ?? null) : configHash;
  const labels = [`${COMPOSE_PROJECT}=${identity.project}`, `${COMPOSE_SERVICE}=${identity.service}`];
  const list = await docker.listContainers({ all: true, filters: { label: labels } });
  return new ComposeNaming(identity, nextNumber(list.map((c) => c.Labels)), hash);
}

/** Re-creates stopped container `id` as `name` with `labels` changed (null: removed); the old one is removed.
 *  Returns the new container's id. */
export async function recreateStopped(
  docker: Docker,
  id: string,
  name: string,
  labels: Record<string, string | null>,
): Promise<string> {
  const info = await docker.getContainer(id).inspect();
  if (info.State.Running) throw new Error(`container ${info.Name.replace(/^\//, '')} is running`);
  const oldImage = await docker
    .getImage(info.Image)
    .inspect()
    .catch(() => null);
  // the reference it was created from, unless the tag has moved on since (then the image itself, by id)
  const byRef = await docker
    .getImage(info.Config.Image)
    .inspect()
    .catch(() => null);
  const image = byRef?.Id === info.Image ? info.Config.Image : info.Image;
  const spec = cloneSpec({ container: info, oldImage, image, name, labels });
  const host = spec.create.HostConfig!;
  // stopped: nothing holds its host ports, they stay as they were
  if (info.HostConfig.PortBindings) host.PortBindings = structuredClone(info.HostConfig.PortBindings);
  const anonymous = (info.Mounts ?? []).filter((m) => m.Type === 'volume' && ANONYMOUS_VOLUME.test(m.Name ?? ''));
  if (anonymous.length > 0) {
    const binds = anonymous.map((m) => `${m.Name}:${m.Destination}${m.RW ? '' : ':ro'}`);
    host.Binds = [...(host.Binds ?? []), ...binds];
  }
  const c = await docker.createContainer(spec.create);
  try {
    for (const n of spec.connect) {
      await docker.getNetwork(n.network).connect({ Container: c.id, EndpointConfig: n.config });
    }
  } catch (err) {
    await c.remove({ force: true }).catch(() => {});
    throw err;
  }
  await docker.getContainer(id).remove({ force: true, v: false });
  return c.id;
}
