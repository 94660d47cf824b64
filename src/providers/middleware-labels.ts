// Middlewares in Docker labels (pure; table-tested in test/middleware-labels.test.ts).
//   definitions  traefik.http.middlewares.<name>.<type>.<option...>=<value>, and baton's own
//                baton.middlewares.<name>.<type>.<option...>=<value> (which wins for a name both define): a
//                MiddlewareDef whose options are the label tree, checked on the container that defines it;
//   references   traefik.http.routers.<r>.middlewares=a,b@docker,c@file per router and baton.middlewares=a,b for
//                the container's service, kept as written on its routes (service-spec.ts);
//   across containers (resolveMiddlewares): every container's definitions merged, as Traefik merges its Docker
//                provider's (one name, one definition), and each container's references checked against them.
// The labels are the Docker provider's (containers, `name@docker`) or the Swarm provider's (services, `name@swarm`):
// a plain `name` is the labels' own provider's, as in Traefik.

import { builtinTypes } from '../middleware/builtins.ts';
import { builtinFactory, chainMembers, checkDefinition, type Factory } from '../middleware/compile.ts';
import { FILE_PROVIDER, qualify, validName, type MiddlewareDef } from '../middleware/definitions.ts';
import type { Label, Reader } from './label-reader.ts';
import type { ContainerRoute, ContainerView, LabelProblem } from './labels.ts';

/** The provider name Docker labels' middlewares have (`auth@docker`). */
export const DOCKER_PROVIDER = 'docker';
/** The provider name Swarm service labels' middlewares have (`auth@swarm`). */
export const SWARM_PROVIDER = 'swarm';

/** The providers whose labels this file reads. */
export type LabelProvider = typeof DOCKER_PROVIDER | typeof SWARM_PROVIDER;

/** What a reference is checked against: the config file's middleware names (undefined: not checked) and the labels'
 *  own provider (default docker). */
export interface RefContext {
  fileMiddlewares?: readonly string[];
  provider?: LabelProvider;
}

/** The label families that define middlewares, in order of precedence, and where the name is in their keys. */
const FAMILIES = [
  { prefix: 'baton.middlewares.', nameAt: 2 },
  { prefix: 'traefik.http.middlewares.', nameAt: 3 },
];

/** The middlewares one container's labels define. */
export interface LabelMiddlewares {
  /** the valid ones, by name */
  defined: Record<string, MiddlewareDef>;
  /** names defined with a problem (reported on the container, which is then not routed) */
  invalid: string[];
}

/** What the labels of one container give (routesForContainer). */
export interface ContainerLabels {
  container: ContainerView;
  routes: ContainerRoute[];
  problems: LabelProblem[];
  middlewares: LabelMiddlewares;
}

/** Baton's built-in middleware types, by lower-cased name (DockerProviderOptions.middlewareFactories unset). */
export function builtinFactories(): Map<string, Factory> {
  return new Map(builtinTypes().map((t) => [t.name.toLowerCase(), builtinFactory(t)]));
}

/** An own property, whatever the key ("__proto__" included). */
function put(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Definitions

/** One option in the label tree: a value, options under it, or both (`ipstrategy=true` next to `ipstrategy.depth`,
 *  as Traefik allows). Keys merge case-insensitively and keep their first spelling (label keys sorted), as Traefik's
 *  label parser does: header names in customrequestheaders.<name> keep the case they are written in. */
interface OptionNode {
  key: string;
  label?: Label;
  children: Map<string, OptionNode>;
}

interface Draft {
  name: string;
  type: string;
  /** `<prefix><name>.<type>` as written, for problems */
  at: string;
  root: OptionNode;
}

/** One family's middlewares as label trees (lower-cased name → draft), and the names with a malformed label. */
function drafts(r: Reader, prefix: string, nameAt: number): { drafts: Map<string, Draft>; bad: Map<string, string> } {
  const out = new Map<string, Draft>();
  const bad = new Map<string, string>();
  for (const [lower, label] of r.entries()) {
    if (!lower.startsWith(prefix)) continue;
    const parts = label.key.split('.');
    const name = parts[nameAt];
    if (!validName(name)) {
      r.error(label, `middleware names are letters, digits, '-' and '_', got ${JSON.stringify(name)}`);
      continue;
    }
    const id = name.toLowerCase();
    const path = parts.slice(nameAt + 1);
    if (path.length === 0 || path.some((p) => p === '')) {
      const form = `${prefix}${name}.<type>.<option>=<value>`;
      r.error(label, path.length === 0 ? `no middleware type (${form})` : `empty part in the key (${form})`);
      if (!bad.has(id)) bad.set(id, name);
      continue;
    }
    let d = out.get(id);
    if (d === undefined) {
      const at = parts.slice(0, nameAt + 2).join('.');
      out.set(id, (d = { name, type: path[0], at, root: { key: path[0], children: new Map() } }));
    } else if (d.type.toLowerCase() !== path[0].toLowerCase()) {
      r.error(label, `middleware ${d.name} is a ${d.type} already (${d.at}); a middleware has one type`);
      if (!bad.has(id)) bad.set(id, d.name);
      continue;
    }
    let node = d.root;
    for (const part of path.slice(1)) {
      let child = node.children.get(part.toLowerCase());
      if (child === undefined) node.children.set(part.toLowerCase(), (child = { key: part, children: new Map() }));
      node = child;
    }
    node.label = label;
  }
  return { drafts: out, bad };
}

/** A node's value: its label's text, or its options (a value next to them may only be "true"). */
function optionValue(r: Reader, n: OptionNode, paths: Set<string>, path: string): unknown {
  paths.add(path.toLowerCase());
  if (n.children.size === 0) return n.label!.value;
  if (n.label !== undefined && n.label.value.toLowerCase() !== 'true') {
    r.error(n.label, `has options under it, so its own value can only be "true", got ${JSON.stringify(n.label.value)}`);
  }
  const o: Record<string, unknown> = {};
  for (const c of n.children.values()) {
    put(o, c.key, optionValue(r, c, paths, path === '' ? c.key : `${path}.${c.key}`));
  }
  return o;
}

/** A problem of checkDefinition, placed at the label it is about: `<at>.<option path>: ...` when it names one. */
function located(d: Draft, paths: Set<string>, problem: string): string {
  const m = /^([^:\s]+): /.exec(problem);
  return m !== null && paths.has(m[1].toLowerCase()) ? `${d.at}.${problem}` : `${d.at}: ${problem}`;
}

/** One draft → its definition, checked; undefined after a problem (recorded on `r`). */
function definition(
  r: Reader,
  d: Draft,
  factories: ReadonlyMap<string, Factory>,
  known: RefContext,
): MiddlewareDef | undefined {
  const before = r.errors.length;
  const { root } = d;
  if (root.children.size === 0 && root.label!.value.toLowerCase() !== 'true') {
    const why = `expected "true" (the type with its defaults) or options (${d.at}.<option>=<value>)`;
    r.error(root.label!, `${why}, got ${JSON.stringify(root.label!.value)}`);
    return undefined;
  }
  const paths = new Set<string>();
  const options = root.children.size === 0 ? {} : (optionValue(r, root, paths, '') as Record<string, unknown>);
  paths.delete('');
  if (r.errors.length > before) return undefined;
  if (d.type.toLowerCase() === 'plugin') {
    const why = "Traefik's plugins do not run in baton: write a baton plugin (plugins: in the config file)";
    r.errors.push(`${d.at}: ${why} and use it as <name>@file`);
    return undefined;
  }
  const def: MiddlewareDef = { type: d.type, options };
  const checked = checkDefinition(def, factories);
  for (const e of checked.errors) r.errors.push(located(d, paths, e));
  const membersAt = `${d.at}.${root.children.get('middlewares')?.key ?? 'middlewares'}`;
  for (const m of checked.members ?? []) {
    const why = referenceProblem(m, known);
    if (why !== null) r.errors.push(`${membersAt}: ${why}`);
  }
  return r.errors.length > before ? undefined : def;
}

/**
 * The middlewares a container's labels define, each checked against `factories` (a problem names the label and
 * leaves the container out, whether or not its own routes use that middleware). A name both families define is
 * baton's (`baton.middlewares.<name>.*` replaces `traefik.http.middlewares.<name>.*` as a whole).
 */
export function labelMiddlewares(
  r: Reader,
  factories: ReadonlyMap<string, Factory>,
  known: RefContext = {},
): LabelMiddlewares {
  const defined: Record<string, MiddlewareDef> = {};
  const invalid: string[] = [];
  const taken = new Set<string>();
  for (const { prefix, nameAt } of FAMILIES) {
    const family = drafts(r, prefix, nameAt);
    const ids = new Set([...family.drafts.keys(), ...family.bad.keys()]);
    for (const id of [...ids].sort()) {
      if (taken.has(id)) continue;
      const d = family.drafts.get(id);
      const bad = family.bad.get(id);
      const def = bad === undefined && d !== undefined ? definition(r, d, factories, known) : undefined;
      if (def !== undefined) put(defined, d!.name, def);
      else invalid.push(bad ?? d!.name);
    }
    for (const id of ids) taken.add(id);
  }
  return { defined, invalid };
}

// ---------------------------------------------------------------------------------------------------------------
// References

/**
 * Why a middleware reference cannot be used in a label, or null: it must be `name`, `name@docker`, `name@swarm` or
 * `name@file` (the config file's middlewares and plugins, checked against `known.fileMiddlewares` when given). The
 * other label provider's middlewares are checked by the registry (they are in its snapshot, not in these labels).
 */
export function referenceProblem(ref: string, known: RefContext = {}): string | null {
  const q = qualify(ref, known.provider ?? DOCKER_PROVIDER);
  if (typeof q !== 'string') return q.error;
  const at = q.lastIndexOf('@');
  const provider = q.slice(at + 1);
  if (provider === DOCKER_PROVIDER || provider === SWARM_PROVIDER) return null;
  if (provider !== FILE_PROVIDER) {
    const list = `${DOCKER_PROVIDER}, ${SWARM_PROVIDER} (labels) and ${FILE_PROVIDER} (the config file)`;
    return `middleware ${JSON.stringify(ref)}: baton has no such provider (${provider}); its providers are ${list}`;
  }
  const name = q.slice(0, at);
  const fileNames = known.fileMiddlewares;
  if (fileNames === undefined || fileNames.includes(name)) return null;
  const there = [...fileNames].sort().join(', ') || 'none';
  return `middleware ${name}@file is not defined in the config file (middlewares and plugins there: ${there})`;
}

/** A `middlewares` label's references as written (comma-separated, trimmed, empty items dropped), each checked by
 *  referenceProblem; undefined for none or after a problem (recorded on `r`). */
export function middlewareRefs(r: Reader, label: Label | undefined, known: RefContext = {}): string[] | undefined {
  if (label === undefined) return undefined;
  const refs = label.value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  let ok = true;
  for (const ref of refs) {
    const why = referenceProblem(ref, known);
    if (why === null) continue;
    r.error(label, why);
    ok = false;
  }
  return ok && refs.length > 0 ? refs : undefined;
}

/** References as the middlewares they name, for comparing routers ("a" and "a@docker" are one): "a@docker, b@file",
 *  or "none". */
export function shownRefs(refs: readonly string[] | undefined, provider: LabelProvider = DOCKER_PROVIDER): string {
  if (refs === undefined || refs.length === 0) return 'none';
  return refs
    .map((ref) => qualify(ref, provider))
    .map((q) => (typeof q === 'string' ? q : q.error))
    .join(', ');
}

// ---------------------------------------------------------------------------------------------------------------
// Across containers

/** A definition in a canonical form: type and option names lower-cased (both are case-insensitive), keys sorted. */
function canonical(v: unknown): string {
  const sorted = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sorted);
    if (x === null || typeof x !== 'object') return x;
    const entries = Object.entries(x).map(([k, y]) => [k.toLowerCase(), sorted(y)] as const);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const o: Record<string, unknown> = {};
    for (const [k, y] of entries) put(o, k, y);
    return o;
  };
  return JSON.stringify(sorted(v));
}

const byAge = (a: ContainerView, b: ContainerView): number =>
  a.created.localeCompare(b.created) || a.name.localeCompare(b.name);

/**
 * Every container's definitions merged: name → definition, or why that name cannot be used. A name defined the same
 * way everywhere is that definition. Defined differently, it is a conflict and left out (as in Traefik), except when
 * every container defining it is a replica of the same services (a rolling deploy that changes it): the oldest
 * container's definition is used then, as for the service's other settings (dockerSnapshot). Containers not routed
 * for a label problem count only for names no routed container defines, so that a broken new version cannot
 * unsettle the running one; a definition with a problem counts for nothing (a name only defined so is "invalid").
 */
function merged(containers: readonly ContainerLabels[], provider: LabelProvider): Map<string, MiddlewareDef | string> {
  const byName = new Map<string, Array<{ c: ContainerLabels; def: MiddlewareDef; json: string }>>();
  const invalidOn = new Map<string, string[]>();
  for (const c of containers) {
    for (const [name, def] of Object.entries(c.middlewares.defined)) {
      const list = byName.get(name) ?? [];
      list.push({ c, def, json: canonical({ type: def.type, options: def.options }) });
      byName.set(name, list);
    }
    for (const name of c.middlewares.invalid) invalidOn.set(name, [...(invalidOn.get(name) ?? []), c.container.name]);
  }
  const out = new Map<string, MiddlewareDef | string>();
  const servicesOf = (c: ContainerLabels) => [...new Set(c.routes.map((r) => r.service))].sort().join(', ');
  for (const [name, all] of byName) {
    const routed = all.filter((x) => x.c.routes.length > 0);
    const list = (routed.length > 0 ? routed : all).sort((a, b) => byAge(a.c.container, b.c.container));
    const services = list.map((x) => servicesOf(x.c));
    const replicas = services[0] !== '' && services.every((s) => s === services[0]);
    if (replicas || list.every((x) => x.json === list[0].json)) {
      out.set(name, list[0].def);
      continue;
    }
    const on = list.map((x) => x.c.container.name).join(', ');
    out.set(
      name,
      `middleware ${name}@${provider} is defined differently on containers ${on}; Traefik refuses that too`,
    );
  }
  for (const [name, on] of invalidOn) {
    if (!out.has(name)) out.set(name, `middleware ${name}@${provider} is invalid (see the labels of ${on.join(', ')})`);
  }
  return out;
}

/** Why a route cannot use a reference (chains followed, loops found), or null. `name@file` references were checked
 *  on the labels already (referenceProblem). */
function referenceChecker(
  usable: Map<string, MiddlewareDef | string>,
  provider: LabelProvider,
): (ref: string) => string | null {
  const done = new Map<string, string | null>();
  const visit = (q: string, path: string[]): string | null => {
    if (!q.endsWith(`@${provider}`)) return null;
    const known = done.get(q);
    if (known !== undefined) return known;
    if (path.includes(q)) return `middleware chain loops: ${[...path, q].join(' → ')}`;
    const name = q.slice(0, q.lastIndexOf('@'));
    const d = usable.get(name);
    let why: string | null = null;
    if (d === undefined) {
      const other = [...usable.keys()].find((n) => n.toLowerCase() === name.toLowerCase());
      const hint = other === undefined ? '' : `; ${other}@${provider} does (names are case-sensitive)`;
      const whose = provider === SWARM_PROVIDER ? "service's (with a running task)" : "running container's";
      why = `middleware ${q} does not exist: no ${whose} labels define it${hint}`;
    } else if (typeof d === 'string') {
      why = d;
    } else {
      for (const m of chainMembers(d)) {
        const mq = qualify(m, provider);
        const w = typeof mq === 'string' ? visit(mq, [...path, q]) : mq.error;
        if (w === null) continue;
        why = w.includes(' (in chain ') || w.startsWith('middleware chain loops') ? w : `${w} (in chain ${q})`;
        break;
      }
    }
    done.set(q, why);
    return why;
  };
  return (ref) => {
    const q = qualify(ref, provider);
    return typeof q === 'string' ? visit(q, []) : q.error;
  };
}

/**
 * Every container's routes and definitions (routesForContainer) → the Docker (or `provider`'s) routes, problems and
 * middlewares (name → definition, for Snapshot.middlewares). A container whose routes use a middleware that no
 * running container defines, that is invalid or defined differently on several containers, is not routed, with a
 * problem naming the service and the middleware.
 */
export function resolveMiddlewares(
  containers: readonly ContainerLabels[],
  provider: LabelProvider = DOCKER_PROVIDER,
): {
  routes: ContainerRoute[];
  problems: LabelProblem[];
  middlewares: Record<string, MiddlewareDef>;
} {
  const usable = merged(containers, provider);
  const middlewares: Record<string, MiddlewareDef> = {};
  for (const [name, d] of [...usable].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (typeof d !== 'string') put(middlewares, name, d);
  }
  const check = referenceChecker(usable, provider);
  const routes: ContainerRoute[] = [];
  const problems: LabelProblem[] = [];
  for (const c of containers) {
    problems.push(...c.problems);
    const why = new Set<string>();
    for (const route of c.routes) {
      for (const ref of [...(route.middlewares ?? []), ...(route.routes ?? []).flatMap((x) => x.middlewares ?? [])]) {
        const w = check(ref);
        if (w !== null) why.add(`service ${route.service}: ${w}`);
      }
    }
    if (why.size === 0) routes.push(...c.routes);
    for (const message of why) problems.push({ container: c.container.name, message });
  }
  return { routes, problems, middlewares };
}
