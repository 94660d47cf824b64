// Docker labels → the routes a container asks for. Pure: no I/O, no clock, no globals; table-tested in
// test/labels.test.ts.
//
// Three label families are read, per field in this order of precedence:
//   baton.*            baton's own (baton.enable, .service, .rule, .priority, .port, .health.*, .drain.timeout, ...)
//   traefik.http.*     Traefik v2/v3 routers and services
//   traefik.frontend.* Traefik v1 (docker-compose era): frontend.rule, traefik.port, traefik.backend, ...
// Label keys are case-insensitive (as in Traefik). A problem never throws: it is reported with the container's
// name and only that container is left out. A few problems are notes on a container that is still routed
// (e.g. a v1 PathPrefixStrip, which baton routes as PathPrefix without stripping).
import { parseDuration } from '../config/units.ts';
import { escapeRegExp, parseRule, templateSource } from '../routing/rule.ts';

export interface ContainerView {
  /** full container id */
  id: string;
  /** without leading '/' */
  name: string;
  labels: Record<string, string>;
  running: boolean;
  paused: boolean;
  /** Docker HEALTHCHECK status if the container has one: 'starting' | 'healthy' | 'unhealthy'; null if no healthcheck */
  health: string | null;
  /** network name → IP address ('' if none) */
  networks: Record<string, string>;
  /** exposed container ports, e.g. ['8080/tcp'] (from Config.ExposedPorts) */
  exposedPorts: string[];
  /** "8080/tcp" → host bindings from NetworkSettings.Ports */
  publishedPorts: Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
  /** ISO creation time (for deterministic ordering) */
  created: string;
}

export interface DockerProviderOptions {
  exposedByDefault: boolean;
  network: string;
  publishedPorts: boolean;
}

export interface LabelProblem {
  /** the container's name */
  container: string;
  message: string;
}

export interface HealthCheckLabels {
  path?: string;
  interval?: number;
  timeout?: number;
  rise?: number;
  fall?: number;
}

export interface ContainerRoute {
  container: ContainerView;
  /** service name */
  service: string;
  /** Traefik v2/v3 syntax rule (v1 rules translated) */
  rule: string;
  priority?: number;
  /** http://IP:port or http://127.0.0.1:hostPort */
  url: string;
  /** ms numbers; only what labels set */
  healthCheck: HealthCheckLabels;
  /** ms, from baton.drain.timeout */
  drainTimeout?: number;
  passHostHeader?: boolean;
  loadBalancer?: 'round-robin' | 'least-connections';
}

const COMPOSE_SERVICE = 'com.docker.compose.service';
const COMPOSE_PROJECT = 'com.docker.compose.project';
/** Traefik router / service names in label keys. */
const LABEL_NAME = /^[A-Za-z0-9_-]+$/;
/** What the config schema accepts as a service name. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const V2_ROUTER = /^traefik\.http\.routers\.([^.]*)\.(.+)$/;
const V2_SERVICE = /^traefik\.http\.services\.([^.]*)\.(.+)$/;
const V2_ROUTER_FIELDS = new Set(['rule', 'service', 'priority', 'middlewares']);

/** Traefik's `normalize`: every run of characters other than ASCII letters and digits becomes one '-', trimmed. */
export function normalize(name: string): string {
  return name.split(/[^A-Za-z0-9]+/).filter((p) => p !== '').join('-');
}

// ---------------------------------------------------------------------------------------------------------------
// Reading labels

interface Label {
  /** the key as written on the container, for problem messages */
  key: string;
  /** trimmed; never '' (an empty label counts as unset) */
  value: string;
}

class Reader {
  readonly errors: string[] = [];
  readonly notes: string[] = [];
  /** lower-cased key → label, for the baton.*, traefik.* and compose keys only */
  readonly #labels = new Map<string, Label>();

  constructor(labels: Record<string, string>) {
    for (const key of Object.keys(labels).sort()) {
      const lower = key.toLowerCase();
      if (!lower.startsWith('baton.') && !lower.startsWith('traefik.') && !lower.startsWith('com.docker.compose.')) continue;
      const raw = labels[key];
      const value = typeof raw === 'string' ? raw.trim() : '';
      if (value === '') continue;
      const prev = this.#labels.get(lower);
      if (prev === undefined) this.#labels.set(lower, { key, value });
      else if (prev.value !== value) this.errors.push(`labels ${prev.key} and ${key} differ only in case but have different values`);
    }
  }

  get(lowerKey: string): Label | undefined {
    return this.#labels.get(lowerKey);
  }

  /** The first of these (lower-case) keys that is set, in order of precedence. */
  first(...lowerKeys: string[]): Label | undefined {
    for (const k of lowerKeys) {
      const l = this.#labels.get(k);
      if (l !== undefined) return l;
    }
    return undefined;
  }

  entries(): IterableIterator<[string, Label]> {
    return this.#labels.entries();
  }

  error(label: Label, message: string): undefined {
    this.errors.push(`${label.key}: ${message}`);
    return undefined;
  }

  bool(label: Label | undefined): boolean | undefined {
    if (label === undefined) return undefined;
    const v = label.value.toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
    return this.error(label, `expected true or false, got ${JSON.stringify(label.value)}`);
  }

  int(label: Label | undefined, min: number, max: number, what = 'a whole number'): number | undefined {
    if (label === undefined) return undefined;
    const n = /^[+-]?\d+$/.test(label.value) ? Number(label.value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = Number.isFinite(min) && Number.isFinite(max) ? ` from ${min} to ${max}` : '';
      return this.error(label, `expected ${what}${range}, got ${JSON.stringify(label.value)}`);
    }
    return n;
  }

  port(label: Label | undefined): number | undefined {
    return this.int(label, 1, 65535, 'a port');
  }

  /**
   * Milliseconds. baton labels read like the config file ("500ms", "2s", bare number = ms); Traefik labels are Go
   * durations, where a bare number means seconds (as Traefik reads them).
   */
  duration(label: Label | undefined, opts: { positive?: boolean } = {}): number | undefined {
    if (label === undefined) return undefined;
    const traefik = label.key.toLowerCase().startsWith('traefik.');
    const text = traefik && /^\d+$/.test(label.value) ? `${label.value}s` : label.value;
    const ms = parseDuration(text);
    if (ms === null) {
      const hint = traefik ? 'e.g. "10s", "500ms" or seconds' : 'e.g. "500ms", "2s", "1m" or milliseconds';
      return this.error(label, `invalid duration ${JSON.stringify(label.value)} (${hint})`);
    }
    if (opts.positive && ms === 0) return this.error(label, 'must be more than 0');
    return ms;
  }

  /** Checks a rule with baton's parser; false (and a problem naming the label) if it does not parse. */
  rule(label: Label | null, rule: string): boolean {
    try {
      parseRule(rule);
      return true;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const shown = label === null || label.value !== rule ? ` ${JSON.stringify(rule)}` : '';
      this.errors.push(`${label === null ? 'rule' : label.key}: invalid rule${shown}: ${why}`);
      return false;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Traefik v1 rules

/** Splits on `sep` outside `{...}` (v1 templates like `{id:[0-9]{1,3}}` may hold commas). */
function splitOutside(text: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth = Math.max(0, depth - 1);
    else if (c === sep && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** A rule string argument: backticks unless the value holds one, then a Go-escaped double-quoted string. */
function quote(s: string): string {
  return s.includes('`') ? JSON.stringify(s) : `\`${s}\``;
}

const TEMPLATE = /\{[A-Za-z_]/;

function pathMatcher(values: string[], prefix: boolean): string {
  if (!values.some((v) => TEMPLATE.test(v))) return `${prefix ? 'PathPrefix' : 'Path'}(${values.map(quote).join(', ')})`;
  return `PathRegexp(${values.map((v) => quote(templateSource(v, '[^/]+') + (prefix ? '' : '$'))).join(', ')})`;
}

/**
 * Translates a Traefik v1 frontend rule (`Host:a.com,b.com;PathPrefix:/api`) into v2 syntax
 * (``Host(`a.com`, `b.com`) && PathPrefix(`/api`)``). `notes` lists what baton does not do (path stripping and
 * rewriting: the matcher is kept, the request path is passed on unchanged). The result still has to be checked
 * with parseRule.
 */
export function translateV1Rule(text: string): { rule: string; notes: string[] } | { error: string } {
  const parts = splitOutside(text, ';').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) return { error: 'empty rule' };
  const matchers: string[] = [];
  const notes: string[] = [];
  try {
    for (const part of parts) {
      const colon = part.indexOf(':');
      if (colon <= 0) return { error: `expected "Matcher:value" but found ${JSON.stringify(part)}` };
      const name = part.slice(0, colon).trim();
      const values = splitOutside(part.slice(colon + 1), ',').map((v) => v.trim());
      if (values.some((v) => v === '')) return { error: `empty value in ${JSON.stringify(part)}` };
      const strip = (to: string) =>
        notes.push(`${name} strips the path prefix, which baton does not do: routed as ${to}, the upstream gets the full path`);
      switch (name.toLowerCase()) {
        case 'host':
          matchers.push(`Host(${values.map(quote).join(', ')})`);
          break;
        case 'hostregexp':
          // v1 HostRegexp values are templates; parseRule reads several arguments or `{name...}` as templates,
          // a single plain value is made an exact, anchored regexp here
          matchers.push(
            values.length === 1 && !TEMPLATE.test(values[0])
              ? `HostRegexp(${quote(`^${escapeRegExp(values[0])}$`)})`
              : `HostRegexp(${values.map(quote).join(', ')})`,
          );
          break;
        case 'path':
          matchers.push(pathMatcher(values, false));
          break;
        case 'pathstrip':
        case 'pathstripregex':
          matchers.push(pathMatcher(values, false));
          strip('Path');
          break;
        case 'pathprefix':
          matchers.push(pathMatcher(values, true));
          break;
        case 'pathprefixstrip':
        case 'pathprefixstripregex':
          matchers.push(pathMatcher(values, true));
          strip('PathPrefix');
          break;
        case 'method':
          matchers.push(`Method(${values.map(quote).join(', ')})`);
          break;
        case 'headers':
        case 'headersregexp': {
          if (values.length !== 2) return { error: `${name} takes a header name and a value, got ${JSON.stringify(part)}` };
          matchers.push(`${name.toLowerCase() === 'headers' ? 'Headers' : 'HeadersRegexp'}(${quote(values[0])}, ${quote(values[1])})`);
          break;
        }
        case 'query':
          // v1 `Query:a=1,b=2` needs every pair
          for (const v of values) matchers.push(`Query(${quote(v)})`);
          break;
        case 'addprefix':
        case 'replacepath':
        case 'replacepathregex':
          notes.push(`${name} rewrites the path, which baton does not do: ignored, the upstream gets the request path`);
          break;
        default:
          return { error: `unknown matcher ${JSON.stringify(name)}` };
      }
    }
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  if (matchers.length === 0) return { error: 'no matcher (only path modifiers)' };
  return { rule: matchers.join(' && '), notes };
}

// ---------------------------------------------------------------------------------------------------------------
// One container's labels → service specs (no addresses yet)

interface Spec {
  service: string;
  rule: string;
  priority?: number;
  port: number;
  healthCheck: HealthCheckLabels;
  drainTimeout?: number;
  passHostHeader?: boolean;
  loadBalancer?: 'round-robin' | 'least-connections';
}

interface Analysis {
  enabled: boolean;
  specs: Spec[];
  /** the container is left out if there is any */
  errors: string[];
  /** the container is still routed */
  notes: string[];
  reader: Reader | null;
}

interface Router {
  name: string;
  rule?: Label;
  service?: Label;
  priority?: Label;
  middlewares?: Label;
}

interface Group {
  /** service name as the labels spell it */
  name: string;
  /** lower-cased name, to find `traefik.http.services.<name>.*` */
  lower: string;
  routers: Router[];
}

function enabled(r: Reader, byDefault: boolean): boolean | undefined {
  const label = r.first('baton.enable', 'traefik.enable');
  return label === undefined ? byDefault : r.bool(label);
}

/** The service name Traefik gives a container's implicit service: v1 backend, compose service, container name. */
function implicitName(r: Reader, c: ContainerView): string {
  const label = r.first('traefik.backend', COMPOSE_SERVICE);
  const name = normalize(label?.value ?? c.name);
  if (name === '') {
    if (label !== undefined) r.error(label, 'no letters or digits to name a service with');
    else r.errors.push(`container name ${JSON.stringify(c.name)} has no letters or digits to name a service with`);
  }
  return name;
}

function analyse(c: ContainerView, opts: DockerProviderOptions): Analysis {
  const r = new Reader(c.labels);
  const on = enabled(r, opts.exposedByDefault);
  if (on === undefined) return { enabled: true, specs: [], errors: r.errors, notes: r.notes, reader: r };
  if (!on) return { enabled: false, specs: [], errors: [], notes: [], reader: null };
  const fail = (): Analysis => ({ enabled: true, specs: [], errors: unique(r.errors), notes: unique(r.notes), reader: r });

  // Traefik v2/v3 routers and services declared on this container
  const routers = new Map<string, Router>();
  const services = new Map<string, string>(); // lower → name as first written
  let onlyTcpUdp = false;
  for (const [lower, label] of r.entries()) {
    if (lower.startsWith('traefik.tcp.') || lower.startsWith('traefik.udp.')) onlyTcpUdp = true;
    const rm = V2_ROUTER.exec(lower);
    const sm = rm === null ? V2_SERVICE.exec(lower) : null;
    const m = rm ?? sm;
    if (m === null) continue;
    const name = label.key.split('.')[3];
    if (!LABEL_NAME.test(name)) {
      r.error(label, `${rm ? 'router' : 'service'} names are letters, digits, '-' and '_'`);
      continue;
    }
    if (sm !== null) {
      if (!services.has(m[1])) services.set(m[1], name);
      continue;
    }
    let router = routers.get(m[1]);
    if (router === undefined) routers.set(m[1], (router = { name }));
    const field = m[2];
    if (V2_ROUTER_FIELDS.has(field)) router[field as 'rule' | 'service' | 'priority' | 'middlewares'] = label;
  }
  const hasV2 = routers.size > 0 || services.size > 0;
  // Traefik creates no HTTP router for a container that only has TCP/UDP ones
  if (onlyTcpUdp && !hasV2 && r.first('baton.rule', 'baton.service', 'baton.port', 'traefik.frontend.rule') === undefined) {
    return { enabled: false, specs: [], errors: [], notes: [], reader: null };
  }

  // Routers → services, as Traefik does
  const groups = new Map<string, Group>();
  const group = (name: string): Group => {
    const lower = name.toLowerCase();
    let g = groups.get(lower);
    if (g === undefined) groups.set(lower, (g = { name, lower, routers: [] }));
    return g;
  };
  for (const [lower, name] of services) groups.set(lower, { name, lower, routers: [] });
  const serviceNames = [...services.values()];
  for (const router of routers.values()) {
    if (router.middlewares !== undefined) {
      // an auth or allow-list middleware dropped silently would expose the service: fail closed
      r.error(router.middlewares, 'middlewares are not supported by baton; the container is not routed rather than routed without them');
      continue;
    }
    if (router.service !== undefined) {
      let target = router.service.value;
      if (/@docker$/i.test(target)) target = target.slice(0, -'@docker'.length);
      if (target.includes('@')) {
        r.error(router.service, `service ${JSON.stringify(router.service.value)} is another provider's; baton routes a container to its own services only`);
      } else if (!LABEL_NAME.test(target)) {
        r.error(router.service, `service names are letters, digits, '-' and '_', got ${JSON.stringify(router.service.value)}`);
      } else {
        group(services.get(target.toLowerCase()) ?? target).routers.push(router);
      }
    } else if (serviceNames.length === 1) {
      group(serviceNames[0]).routers.push(router);
    } else if (serviceNames.length === 0) {
      group(implicitName(r, c)).routers.push(router);
    } else {
      r.errors.push(
        `router ${router.name} has no service and the container defines several (${serviceNames.join(', ')}); ` +
          `set traefik.http.routers.${router.name}.service`,
      );
    }
  }
  if (!hasV2) group(implicitName(r, c));
  if (r.errors.length > 0) return fail();

  const list = [...groups.values()].sort((a, b) => (a.lower < b.lower ? -1 : a.lower > b.lower ? 1 : 0));
  const single = list.length === 1;
  if (!single) {
    for (const key of ['baton.service', 'baton.rule', 'baton.port']) {
      const label = r.get(key);
      if (label !== undefined) r.error(label, `cannot apply to several services (${list.map((g) => g.name).join(', ')}) defined by Traefik labels`);
    }
    if (r.errors.length > 0) return fail();
  }

  // the only TCP port the container exposes, when no label names one (computed once)
  let exposed: number | undefined | null = null;
  const setPort = single ? 'set baton.port' : 'set traefik.http.services.<name>.loadbalancer.server.port';
  const onlyExposedPort = (): number | undefined => {
    if (exposed !== null) return exposed;
    const ports = new Set<number>();
    for (const p of [...c.exposedPorts, ...Object.keys(c.publishedPorts ?? {})]) {
      const m = /^(\d+)(?:\/tcp)?$/i.exec(p);
      if (m !== null) ports.add(Number(m[1]));
    }
    const sorted = [...ports].sort((a, b) => a - b);
    if (sorted.length === 1) return (exposed = sorted[0]);
    if (sorted.length === 0) r.errors.push(`no TCP port exposed; ${setPort}`);
    else r.errors.push(`several ports exposed (${sorted.map((p) => `${p}/tcp`).join(', ')}); ${setPort}`);
    return (exposed = undefined);
  };

  const specs: Spec[] = [];
  for (const g of list) {
    const svc = (field: string) => r.get(`traefik.http.services.${g.lower}.loadbalancer.${field}`);

    let name = g.name;
    const renamed = single ? r.get('baton.service') : undefined;
    if (renamed !== undefined) {
      name = normalize(renamed.value);
      if (name === '') r.error(renamed, 'no letters or digits to name a service with');
    }
    if (name !== '' && !SERVICE_NAME.test(name)) {
      r.errors.push(`service name ${JSON.stringify(name)} must start with a letter or digit`);
      continue;
    }
    const defaultRule = `Host(${quote(name)})`;

    let rule: string | undefined;
    const batonRule = single ? r.get('baton.rule') : undefined;
    const v1Rule = single ? r.get('traefik.frontend.rule') : undefined;
    if (batonRule !== undefined) {
      if (r.rule(batonRule, batonRule.value)) rule = batonRule.value;
    } else if (g.routers.length > 0) {
      const parts: string[] = [];
      for (const router of [...g.routers].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (router.rule === undefined) parts.push(defaultRule);
        else if (r.rule(router.rule, router.rule.value)) parts.push(router.rule.value);
      }
      if (parts.length === g.routers.length) {
        const unique = [...new Set(parts)];
        rule = unique.length === 1 ? unique[0] : unique.map((p) => `(${p})`).join(' || ');
        if (unique.length > 1 && !r.rule(null, rule)) rule = undefined;
      }
    } else if (v1Rule !== undefined) {
      const t = translateV1Rule(v1Rule.value);
      if ('error' in t) r.error(v1Rule, `cannot translate the Traefik v1 rule ${JSON.stringify(v1Rule.value)}: ${t.error}`);
      else if (r.rule(v1Rule, t.rule)) {
        rule = t.rule;
        for (const note of t.notes) r.notes.push(`${v1Rule.key}: ${note} (still routed)`);
      }
    } else {
      rule = defaultRule;
    }

    let priority = r.int(r.get('baton.priority'), -Infinity, Infinity);
    if (r.get('baton.priority') === undefined) {
      for (const router of g.routers) {
        const p = r.int(router.priority, -Infinity, Infinity);
        if (p !== undefined) priority = priority === undefined ? p : Math.max(priority, p);
      }
      if (priority === undefined && g.routers.length === 0) priority = r.int(r.get('traefik.frontend.priority'), -Infinity, Infinity);
    }
    if (priority !== undefined && !Number.isSafeInteger(priority)) priority = undefined;

    const portLabel = (single ? r.get('baton.port') : undefined) ?? svc('server.port') ?? r.get('traefik.port');
    const port = portLabel !== undefined ? r.port(portLabel) : onlyExposedPort();

    const scheme = svc('server.scheme');
    if (scheme !== undefined && scheme.value.toLowerCase() !== 'http') r.error(scheme, 'baton talks plain HTTP to upstreams only');

    const healthCheck: HealthCheckLabels = {};
    const path = r.first('baton.health.path') ?? svc('healthcheck.path') ?? r.get('traefik.backend.healthcheck.path');
    if (path !== undefined) {
      if (path.value.startsWith('/') && !/\s/.test(path.value)) healthCheck.path = path.value;
      else r.error(path, `health check path must start with "/" and hold no spaces, got ${JSON.stringify(path.value)}`);
    }
    const interval = r.duration(
      r.get('baton.health.interval') ?? svc('healthcheck.interval') ?? r.get('traefik.backend.healthcheck.interval'),
      { positive: true },
    );
    if (interval !== undefined) healthCheck.interval = interval;
    const timeout = r.duration(r.get('baton.health.timeout') ?? svc('healthcheck.timeout'), { positive: true });
    if (timeout !== undefined) healthCheck.timeout = timeout;
    const rise = r.int(r.get('baton.health.rise'), 1, 100);
    if (rise !== undefined) healthCheck.rise = rise;
    const fall = r.int(r.get('baton.health.fall'), 1, 100);
    if (fall !== undefined) healthCheck.fall = fall;

    const drainTimeout = r.duration(r.get('baton.drain.timeout'));
    const passHostHeader = r.bool(r.get('baton.passhostheader') ?? svc('passhostheader') ?? r.get('traefik.frontend.passhostheader'));
    let loadBalancer: Spec['loadBalancer'];
    const lb = r.get('baton.loadbalancer');
    if (lb !== undefined) {
      const v = lb.value.toLowerCase();
      if (v === 'round-robin' || v === 'least-connections') loadBalancer = v;
      else r.error(lb, `expected round-robin or least-connections, got ${JSON.stringify(lb.value)}`);
    }

    if (rule === undefined || port === undefined || name === '') continue;
    const spec: Spec = { service: name, rule, port, healthCheck };
    if (priority !== undefined) spec.priority = priority;
    if (drainTimeout !== undefined) spec.drainTimeout = drainTimeout;
    if (passHostHeader !== undefined) spec.passHostHeader = passHostHeader;
    if (loadBalancer !== undefined) spec.loadBalancer = loadBalancer;
    specs.push(spec);
  }
  if (r.errors.length > 0) return fail();
  specs.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
  return { enabled: true, specs, errors: [], notes: unique(r.notes), reader: r };
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses

function hostOf(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

/** The URL baton reaches `port` of the container at, or a problem. */
function upstreamUrl(c: ContainerView, port: number, r: Reader, opts: DockerProviderOptions): string | { error: string } {
  if (opts.publishedPorts) {
    const bindings = (c.publishedPorts?.[`${port}/tcp`] ?? []).filter((b) => /^\d+$/.test(b.HostPort ?? ''));
    // an IPv4 binding first: Docker lists 0.0.0.0 and :: for the same port
    const b = bindings.find((b) => !(b.HostIp ?? '').includes(':')) ?? bindings[0];
    if (b === undefined) return { error: `port ${port}/tcp is not published on the host (publishedPorts is on)` };
    const ip = b.HostIp ?? '';
    const host = ip === '' || ip === '0.0.0.0' ? '127.0.0.1' : ip === '::' ? '[::1]' : hostOf(ip);
    return `http://${host}:${b.HostPort}`;
  }
  const networks = c.networks ?? {};
  const label = r.first('baton.network', 'traefik.docker.network');
  const wanted = label?.value ?? opts.network;
  if (wanted !== '') {
    if (!Object.hasOwn(networks, wanted)) {
      const why = `not attached to network ${wanted}`;
      return { error: label === undefined ? why : `${label.key}: ${why}` };
    }
    if (!networks[wanted]) return { error: `no IP address on network ${wanted}` };
    return `http://${hostOf(networks[wanted])}:${port}`;
  }
  const names = Object.keys(networks).sort();
  const project = r.get(COMPOSE_PROJECT)?.value;
  const preferred = project !== undefined ? `${project}_default` : undefined;
  const name =
    preferred !== undefined && networks[preferred] ? preferred : names.find((n) => networks[n]);
  if (name === undefined) {
    const where = names.length === 0 ? 'no network' : `networks ${names.join(', ')}`;
    return { error: `no IP address (${where}; network_mode host or none?); attach it to a network or turn publishedPorts on` };
  }
  return `http://${hostOf(networks[name])}:${port}`;
}

// ---------------------------------------------------------------------------------------------------------------
// API

/** One container's labels → its routes (usually 0 or 1; a container with Traefik routers for several services gives several). */
export function routesForContainer(c: ContainerView, opts: DockerProviderOptions): { routes: ContainerRoute[]; problems: LabelProblem[] } {
  // not (yet) able to take traffic: silently out; it joins once running and, if it has a HEALTHCHECK, healthy
  if (!c.running || c.paused) return { routes: [], problems: [] };
  if (c.health !== null && c.health !== undefined && c.health !== '' && c.health !== 'none' && c.health !== 'healthy') {
    return { routes: [], problems: [] };
  }
  let a: Analysis;
  try {
    a = analyse(c, opts);
  } catch (err) {
    // a bug here must not take the other containers down
    return { routes: [], problems: [{ container: c.name, message: `labels could not be read: ${err instanceof Error ? err.message : String(err)}` }] };
  }
  const problem = (message: string): LabelProblem => ({ container: c.name, message });
  if (!a.enabled) return { routes: [], problems: [] };
  if (a.errors.length > 0 || a.reader === null) return { routes: [], problems: [...a.notes, ...a.errors].map(problem) };
  const routes: ContainerRoute[] = [];
  const errors: string[] = [];
  for (const s of a.specs) {
    const url = upstreamUrl(c, s.port, a.reader, opts);
    if (typeof url !== 'string') {
      if (!errors.includes(url.error)) errors.push(url.error);
      continue;
    }
    const { port: _port, ...rest } = s;
    routes.push({ container: c, ...rest, healthCheck: { ...s.healthCheck }, url });
  }
  if (errors.length > 0) return { routes: [], problems: [...a.notes, ...errors].map(problem) };
  return { routes, problems: a.notes.map(problem) };
}

/**
 * The service a container belongs to, for grouping (same label logic as routesForContainer; null if it is not
 * routed or its labels have a problem). Stopped, paused and unhealthy containers count too, and addresses are not
 * looked at. A container routed to several services gives the first by name.
 */
export function serviceNameOf(c: ContainerView, opts: DockerProviderOptions): string | null {
  try {
    const a = analyse(c, opts);
    return a.enabled && a.errors.length === 0 && a.specs.length > 0 ? a.specs[0].service : null;
  } catch {
    return null;
  }
}

/** Every service a container belongs to (sorted; [] if not routed or its labels have a problem), as serviceNameOf. */
export function serviceNamesOf(c: ContainerView, opts: DockerProviderOptions): string[] {
  try {
    const a = analyse(c, opts);
    return a.enabled && a.errors.length === 0 ? a.specs.map((s) => s.service) : [];
  } catch {
    return [];
  }
}
