// A new container's spec, cloned from a running one, pure. Clone what the user gave, not what Docker merged:
// `docker inspect` mixes the image's defaults into Config, so every Env entry, label and field that merely
// repeats the OLD image's value is dropped (the new image brings its own defaults); what the user set is kept.
// HostConfig and network attachments (with their aliases) carry over; host port bindings are re-published on
// fresh host ports so a fixed host port never conflicts.
import type Docker from 'dockerode';

export interface CloneInput {
  container: Docker.ContainerInspectInfo;
  /** the image the container runs (its Config holds the defaults Docker merged in) */
  oldImage: { Config?: Partial<Docker.ContainerInspectInfo['Config']> | null } | null;
  image: string;
  name: string;
  /** labels to add or replace; null removes one */
  labels: Record<string, string | null>;
}

export interface CloneSpec {
  create: Docker.ContainerCreateOptions;
  /** networks to connect after creation (the API takes only one at create time) */
  connect: Array<{ network: string; config: Docker.EndpointSettings }>;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export function cloneSpec(input: CloneInput): CloneSpec {
  const { container: c } = input;
  const cfg = c.Config;
  const img = input.oldImage?.Config ?? {};
  const shortId = c.Id.slice(0, 12);
  const oldName = c.Name.replace(/^\//, '');

  const imageEnv = new Set(img.Env ?? []);
  const env = (cfg.Env ?? []).filter((e) => !imageEnv.has(e));
  const imageLabels = img.Labels ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg.Labels ?? {})) if (imageLabels[k] !== v) labels[k] = v;
  for (const [k, v] of Object.entries(input.labels)) {
    if (v === null) delete labels[k];
    else labels[k] = v;
  }
  const imagePorts = img.ExposedPorts ?? {};
  const exposed: Record<string, {}> = {};
  for (const p of Object.keys(cfg.ExposedPorts ?? {})) if (!(p in imagePorts)) exposed[p] = {};

  const create: Docker.ContainerCreateOptions = {
    name: input.name,
    Image: input.image,
    Env: env,
    Labels: labels,
    Tty: cfg.Tty,
    OpenStdin: cfg.OpenStdin,
    StdinOnce: cfg.StdinOnce,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
  };
  if (Object.keys(exposed).length > 0) create.ExposedPorts = exposed;
  if (!same(cfg.Cmd, img.Cmd)) create.Cmd = cfg.Cmd as string[];
  if (!same(cfg.Entrypoint, img.Entrypoint)) create.Entrypoint = cfg.Entrypoint as string[];
  if (cfg.WorkingDir && cfg.WorkingDir !== (img.WorkingDir ?? '')) create.WorkingDir = cfg.WorkingDir;
  if (cfg.User && cfg.User !== (img.User ?? '')) create.User = cfg.User;
  const health = (cfg as { Healthcheck?: unknown }).Healthcheck;
  if (health !== undefined && !same(health, (img as { Healthcheck?: unknown }).Healthcheck))
    (create as { Healthcheck?: unknown }).Healthcheck = health;
  const stopSignal = (cfg as { StopSignal?: string }).StopSignal;
  if (stopSignal && stopSignal !== (img as { StopSignal?: string }).StopSignal)
    (create as { StopSignal?: string }).StopSignal = stopSignal;
  const stopTimeout = (cfg as { StopTimeout?: number }).StopTimeout;
  if (stopTimeout !== undefined && stopTimeout !== null) (create as { StopTimeout?: number }).StopTimeout = stopTimeout;
  if (cfg.Hostname && cfg.Hostname !== shortId && cfg.Hostname !== c.Id.slice(0, cfg.Hostname.length))
    create.Hostname = cfg.Hostname;
  if (cfg.Domainname) create.Domainname = cfg.Domainname;

  // HostConfig carries over; host ports are re-published on fresh ports (same host IP).
  const host = structuredClone(c.HostConfig) as Docker.HostConfig;
  if (host.PortBindings) {
    const pb: Record<string, Array<{ HostIp?: string; HostPort?: string }>> = {};
    for (const [port, bindings] of Object.entries(
      host.PortBindings as Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>,
    )) {
      pb[port] = (bindings ?? []).map((b) => ({ HostIp: b.HostIp ?? '', HostPort: '' }));
    }
    host.PortBindings = pb;
  }
  create.HostConfig = host;

  // Networks: the first user-defined one at create time, the others connected before start; aliases kept
  // except the ones Docker derived from the old container (its short id and name).
  const connect: CloneSpec['connect'] = [];
  const mode = host.NetworkMode ?? 'default';
  const builtin =
    mode === 'default' || mode === 'bridge' || mode === 'host' || mode === 'none' || mode.startsWith('container:');
  const networks = Object.entries(c.NetworkSettings?.Networks ?? {}).filter(
    ([name]) => !(builtin && (name === 'bridge' || name === mode)),
  );
  const endpoint = (n: Docker.NetworkInfo): Docker.EndpointSettings => {
    const aliases = ((n.Aliases ?? []) as string[]).filter((a: string) => a !== shortId && a !== c.Id && a !== oldName);
    const out: Docker.EndpointSettings = {};
    if (aliases.length > 0) out.Aliases = aliases;
    if (n.Links) out.Links = n.Links;
    // IPAMConfig (a fixed address) is not cloned: old and new run side by side and one address cannot be held twice
    return out;
  };
  if (!mode.startsWith('container:')) {
    const [first, ...rest] = networks;
    if (first !== undefined && !builtin) {
      create.NetworkingConfig = { EndpointsConfig: { [first[0]]: endpoint(first[1]) } };
      for (const [name, n] of rest) connect.push({ network: name, config: endpoint(n) });
    } else {
      for (const [name, n] of networks) connect.push({ network: name, config: endpoint(n) });
    }
  }
  return { create, connect };
}
