// What `baton deploy` deploys: one service or several (`web,worker`), each with its image (`--image app:v2` for
// all, or `--image web=app:v2,worker=worker:v2`) and, for docker-compose services, its config hash; or, with
// `--compose`, whatever the compose file on this host says: each compose service's `image:` and its
// `docker-compose config --hash`, mapped to the baton service its containers are routed as (GET /api/services
// names the containers behind each upstream). docker-compose is run in the current folder and finds its file and
// project name the usual way (-f via --compose-file, COMPOSE_FILE, COMPOSE_PROJECT_NAME, .env).
import { execFile } from 'node:child_process';
import { parse } from 'yaml';

/** How long one docker-compose call may take. */
const COMPOSE_TIMEOUT_MS = 60_000;

export interface DeployTarget {
  /** the baton service */
  name: string;
  image: string;
  configHash?: string;
}

/** A service as GET /api/services shows it: the containers behind its upstreams. */
export interface RoutedService {
  name: string;
  upstreams: Array<{ containerId?: string }>;
}

/** `a,b` → ['a', 'b'], or what is wrong with it. */
export function serviceList(arg: string): string[] | string {
  const names = arg.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) return `expected service names separated by commas (got ${JSON.stringify(arg)})`;
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) return `${twice[0]} is named more than once`;
  return names;
}

/** The targets of `baton deploy <services> --image <ref | svc=ref,…> [--config-hash h]`, or what is wrong. */
export function imageTargets(names: string[], image: string, configHash?: string): DeployTarget[] | string {
  if (configHash !== undefined && names.length > 1) return '--config-hash goes with one service (use --compose)';
  if (!image.includes('=')) {
    return names.map((name) => (configHash !== undefined ? { name, image, configHash } : { name, image }));
  }
  const byService = new Map<string, string>();
  for (const pair of image.split(',')) {
    const eq = pair.indexOf('=');
    const svc = pair.slice(0, eq).trim();
    const ref = pair.slice(eq + 1).trim();
    if (eq <= 0 || ref === '' || ref.includes('='))
      return `--image: expected <service>=<ref>, got ${JSON.stringify(pair)}`;
    if (!names.includes(svc)) return `--image names ${svc}, which is not one of the services to deploy`;
    if (byService.has(svc)) return `--image names ${svc} twice`;
    byService.set(svc, ref);
  }
  const without = names.filter((n) => !byService.has(n));
  if (without.length > 0) return `--image gives no image for ${without.join(', ')}`;
  return names.map((name) => ({
    name,
    image: byService.get(name)!,
    ...(configHash !== undefined ? { configHash } : {}),
  }));
}

export type ComposeRunner = (args: string[]) => Promise<string>;

/** Runs `docker-compose [-f file] <args>` here; its stdout, or an Error with what it printed. */
export function composeRunner(file: string | undefined, env: NodeJS.ProcessEnv): ComposeRunner {
  return (args) =>
    new Promise((resolve, reject) => {
      const all = [...(file !== undefined ? ['-f', file] : []), ...args];
      execFile('docker-compose', all, { timeout: COMPOSE_TIMEOUT_MS, env }, (err, stdout, stderr) => {
        if (err === null) return resolve(stdout);
        const what = stderr.trim().split('\n').at(-1) || err.message;
        reject(new Error(`docker-compose ${all.join(' ')} failed: ${what}`));
      });
    });
}

/** `docker-compose config --hash=a,b` output → service → hash */
export function parseHashes(out: string): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^(\S+) ([a-f0-9]{64})$/.exec(line.trim());
    if (m !== null) hashes.set(m[1], m[2]);
  }
  return hashes;
}

/** The targets `--compose` deploys: the compose services named (all of them when none are, skipping the ones baton
 *  does not route), each with its image and config hash from the compose file, as the baton service its
 *  containers are routed as. `skipped` says which were left out, and why. */
export async function composeTargets(
  names: string[] | null,
  run: ComposeRunner,
  routed: RoutedService[],
  pull = false,
): Promise<{ targets: DeployTarget[]; skipped: string[] }> {
  const config = parse(await run(['config'])) as { services?: Record<string, { image?: string }> } | null;
  const services = config?.services ?? {};
  const wanted = names ?? Object.keys(services);
  const unknown = wanted.filter((n) => !Object.hasOwn(services, n));
  if (unknown.length > 0) throw new Error(`no service ${unknown.join(', ')} in the compose file`);
  // the hash covers the image's id: the image must be here before it is hashed
  if (pull) await run(['pull', ...wanted]);
  const hashes = parseHashes(await run(['config', `--hash=${wanted.join(',')}`]));
  const targets: DeployTarget[] = [];
  const skipped: string[] = [];
  for (const compose of wanted) {
    const ids = (await run(['ps', '-q', compose])).split('\n').filter((l) => l.trim() !== '');
    const owner = routed.find((s) => s.upstreams.some((u) => ids.some((id) => u.containerId?.startsWith(id))));
    const image = services[compose].image;
    const hash = hashes.get(compose);
    const problem =
      owner === undefined
        ? `compose service ${compose}: none of its containers is routed by baton`
        : image === undefined
          ? `compose service ${compose} has no image: (baton deploys images: build and tag it, then name it there)`
          : hash === undefined
            ? `compose service ${compose}: docker-compose config --hash printed no hash`
            : null;
    if (problem !== null) {
      if (names !== null) throw new Error(problem);
      skipped.push(problem);
      continue;
    }
    targets.push({ name: owner!.name, image: image!, configHash: hash! });
  }
  if (targets.length === 0) throw new Error(`nothing to deploy: ${skipped.join('; ') || 'no services'}`);
  return { targets, skipped };
}
