// The config file's schema (zod). Durations and sizes are normalised to milliseconds / bytes here, so the
// rest of baton only ever sees numbers. Unknown keys are errors: a typo must not silently change nothing.
import { z } from 'zod';
import * as D from './defaults.ts';
import {
  certificatesResolversSchema,
  entrypointHttpSchema,
  http2Schema,
  nameKey,
  routeTlsSchema,
  tlsSchema,
} from './tls-schema.ts';
import { deployHooksSchema } from './hooks-schema.ts';
import { middlewareRefs, middlewaresSchema, pluginsSchema } from './middleware-schema.ts';
import { MAX_DURATION_MS, parseDuration, parseSize } from './units.ts';
import { stickySchema, weightedProblems, weightedSchema } from './weighted-schema.ts';

/** A duration value: "500ms", "2s", "1m" or milliseconds, normalised to milliseconds (optional: no default). */
export const durationValue = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({
      code: 'custom',
      message:
        `invalid duration ${JSON.stringify(v)} ` +
        `(use e.g. "500ms", "2s", "1m" or milliseconds; at most ${MAX_DURATION_MS} ms, about 24 days)`,
    });
    return z.NEVER;
  }
  return ms;
});

/** A duration field with a default. */
export const duration = (fallback: number) => durationValue.default(fallback);

const size = (fallback: number) =>
  z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      const bytes = parseSize(v);
      if (bytes === null) {
        ctx.addIssue({
          code: 'custom',
          message: `invalid size ${JSON.stringify(v)} (use e.g. "16kb", "10mb" or bytes)`,
        });
        return z.NEVER;
      }
      return bytes;
    })
    .default(fallback);

/** "host:port", "[v6]:port" or ":port". */
export const listenAddress = z.string().refine((v) => parseListenAddress(v) !== null, {
  message: 'expected "host:port" (e.g. "0.0.0.0:8080", "127.0.0.1:0", "[::1]:8080")',
});

export function parseListenAddress(v: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/[\]]*)):(\d{1,5})$/.exec(v.trim());
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]), port };
}

const upstreamUrl = z.string().refine(
  (v) => {
    try {
      const u = new URL(v);
      return (
        u.protocol === 'http:' &&
        u.hostname !== '' &&
        (u.pathname === '/' || u.pathname === '') &&
        u.search === '' &&
        u.username === ''
      );
    } catch {
      return false;
    }
  },
  { message: 'expected an upstream URL like "http://127.0.0.1:3001" (http, host, optional port, no path)' },
);

const cidr = z.string().refine(
  (v) => {
    const [addr, bits, ...rest] = v.split('/');
    if (rest.length > 0) return false;
    const isV4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(addr) && addr.split('.').every((o) => Number(o) <= 255);
    const isV6 = !isV4 && /^[0-9a-fA-F:.]+$/.test(addr) && addr.includes(':');
    if (!isV4 && !isV6) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d+$/.test(bits) && n <= (isV4 ? 32 : 128);
  },
  { message: 'expected an IP address or CIDR (e.g. "10.0.0.0/8", "::1")' },
);

export const healthCheckSchema = z.strictObject({
  /** HTTP GET probe path (2xx/3xx = pass); without a path the probe is a TCP connect. */
  path: z.string().startsWith('/', { message: 'must start with "/"' }).optional(),
  interval: duration(D.DEFAULT_HEALTH_INTERVAL_MS),
  timeout: duration(D.DEFAULT_HEALTH_TIMEOUT_MS),
  rise: z.number().int().min(1).max(100).default(D.DEFAULT_HEALTH_RISE),
  fall: z.number().int().min(1).max(100).default(D.DEFAULT_HEALTH_FALL),
  /** Host header sent with probes (default: the upstream's host:port). */
  hostname: z.string().optional(),
});

export const passiveSchema = z.strictObject({
  /** Consecutive connect errors or 5xx answers that eject an upstream; 0 turns passive ejection off. */
  failures: z.number().int().min(0).default(D.DEFAULT_PASSIVE_FAILURES),
  cooldown: duration(D.DEFAULT_PASSIVE_COOLDOWN_MS),
});

/** Holding requests instead of failing them (src/upstream/hold.ts): a paused service, a deploy's gap, and with
 *  `whenUnavailable` any moment the service has no upstream taking traffic. */
export const holdSchema = z.strictObject({
  maxRequests: z.number().int().min(0).max(1_000_000).default(D.DEFAULT_HOLD_MAX_REQUESTS),
  maxBytes: size(D.DEFAULT_HOLD_MAX_BYTES),
  timeout: duration(D.DEFAULT_HOLD_TIMEOUT_MS),
  whenUnavailable: z.boolean().default(false),
});

export const serviceSchema = z.strictObject({
  rule: z.string().min(1),
  priority: z.number().int().optional(),
  upstreams: z.array(upstreamUrl).default([]),
  loadBalancer: z.enum(['round-robin', 'least-connections']).default('round-robin'),
  passHostHeader: z.boolean().default(true),
  healthCheck: healthCheckSchema.optional(),
  passive: passiveSchema.prefault({}),
  retries: z.number().int().min(0).max(10).default(D.DEFAULT_RETRIES),
  retryBudget: duration(D.DEFAULT_RETRY_BUDGET_MS),
  drainTimeout: duration(D.DEFAULT_DRAIN_TIMEOUT_MS),
  hold: holdSchema.prefault({}),
  maxConnectionsPerUpstream: z.number().int().min(1).default(D.DEFAULT_UPSTREAM_MAX_CONNECTIONS),
  /** the entrypoints this route is served on (default: every entrypoint) */
  entrypoints: z.array(nameKey('entrypoint')).min(1).optional(),
  /** TLS for this route: served only over TLS (with the entrypoint's default TLS when unset there) */
  tls: routeTlsSchema.optional(),
  /** middlewares run on this route, in order (after the entrypoint's) */
  middlewares: middlewareRefs.optional(),
  /** deploy hooks of this service: a stage given here replaces the global hooks of that stage */
  hooks: deployHooksSchema.optional(),
  /** a weighted service (Traefik's): no upstreams, requests split across these services by weight */
  weighted: weightedSchema.optional(),
  /** Traefik's sticky.cookie of a weighted service: a client keeps the child service it was first sent to */
  sticky: stickySchema.optional(),
});

const entrypointSchema = z.strictObject({
  address: listenAddress,
  forwardedHeaders: z
    .strictObject({
      /** Peers whose X-Forwarded-* headers are trusted (appended to); everyone else's are replaced. */
      trustedIPs: z.array(cidr).default([]),
      /** Trust every peer (only behind another proxy that sanitises). */
      insecure: z.boolean().default(false),
    })
    .prefault({}),
  http: entrypointHttpSchema,
  http2: http2Schema,
});

const dockerSchema = z.strictObject({
  enabled: z.boolean().default(false),
  endpoint: z.string().default('unix:///var/run/docker.sock'),
  exposedByDefault: z.boolean().default(false),
  publishedPorts: z.boolean().default(false),
  network: z.string().default(''),
});

const swarmSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** a manager node's engine */
  endpoint: z.string().default('unix:///var/run/docker.sock'),
  exposedByDefault: z.boolean().default(false),
  /** which network's task IP to use when a service's labels name none (and it is on several) */
  network: z.string().default(''),
  /** seconds between task reconciles when nothing moves (Traefik's name; it polls every 15 s): a fraction is fine */
  refreshSeconds: z.number().min(0.1).default(D.DEFAULT_SWARM_REFRESH_SECONDS),
});

export const configSchema = z.strictObject({
  entrypoints: z
    .record(nameKey('entrypoint'), entrypointSchema)
    .prefault({ web: { address: D.DEFAULT_ENTRYPOINT_ADDRESS } })
    .refine((e) => Object.keys(e).length > 0, { message: 'at least one entrypoint is needed' }),
  admin: z
    .strictObject({
      address: listenAddress.default(D.DEFAULT_ADMIN_ADDRESS),
      /** Bearer token; BATON_ADMIN_TOKEN overrides it. If neither is set baton generates one into tokenFile. */
      token: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
      tokenFile: z.string().optional(),
    })
    .prefault({}),
  /** Event loops serving traffic: 1 (this thread), n worker threads sharing the listeners, or "auto" (one per
   *  core). The control plane (providers, health checks, deploys, the admin API) stays one, in the main thread. */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default(1),
  /** Where baton keeps state (generated admin token, deploy journal). Relative to the config file's folder. */
  stateDir: z.string().default(D.DEFAULT_STATE_DIR),
  /** Reload this file when it changes (its folder is watched); false: only SIGHUP, the admin API or `baton reload`. */
  watch: z.boolean().default(true),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      accessLog: z.boolean().default(true),
      /** json (one JSON object a line) or common (Traefik's Common Log Format line) */
      accessLogFormat: z.enum(['json', 'common']).default('json'),
      /** the access log's file (relative to the config file's folder; reopened on SIGUSR1); stdout when unset */
      accessLogFile: z.string().min(1).optional(),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** request counters and latency histograms on the hot path; off: /metrics has process and state metrics */
      enabled: z.boolean().default(true),
      /** true: GET /metrics answers without the admin bearer token */
      public: z.boolean().default(false),
      /** request duration histogram buckets, in seconds */
      buckets: z
        .array(z.number().positive().finite())
        .min(1)
        .max(40)
        .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]), { message: 'buckets must be increasing' })
        .default(D.DEFAULT_METRICS_BUCKETS),
    })
    .prefault({}),
  timeouts: z
    .strictObject({
      header: duration(D.DEFAULT_HEADER_TIMEOUT_MS),
      request: duration(D.DEFAULT_REQUEST_TIMEOUT_MS),
      idle: duration(D.DEFAULT_IDLE_TIMEOUT_MS),
      socket: duration(D.DEFAULT_SOCKET_TIMEOUT_MS),
      upstreamConnect: duration(D.DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS),
      upstreamResponse: duration(D.DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS),
      upstreamBody: duration(D.DEFAULT_UPSTREAM_BODY_TIMEOUT_MS),
      upstreamKeepAlive: duration(D.DEFAULT_UPSTREAM_KEEPALIVE_TIMEOUT_MS),
      shutdown: duration(D.DEFAULT_SHUTDOWN_TIMEOUT_MS),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxConnections: z.number().int().min(1).default(D.DEFAULT_MAX_CONNECTIONS),
      maxHeaderSize: size(D.DEFAULT_MAX_HEADER_SIZE_BYTES),
      maxBodySize: size(D.DEFAULT_MAX_BODY_SIZE_BYTES),
    })
    .prefault({}),
  providers: z
    .strictObject({
      docker: dockerSchema.prefault({}),
      swarm: swarmSchema.prefault({}),
    })
    .prefault({}),
  tls: tlsSchema,
  certificatesResolvers: certificatesResolversSchema,
  middlewares: middlewaresSchema,
  plugins: pluginsSchema,
  /** deploy hooks for every service (deploy/hooks.ts) */
  deploy: z.strictObject({ hooks: deployHooksSchema.prefault({}) }).prefault({}),
  services: z
    .record(
      z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'service names are letters, digits, ".", "_" and "-"'),
      serviceSchema,
    )
    .superRefine((services, ctx) => {
      for (const p of weightedProblems(services)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
    })
    .default({}),
});

export type Config = z.output<typeof configSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
export type EntrypointConfig = Config['entrypoints'][string];
export type Timeouts = Config['timeouts'];
export type Limits = Config['limits'];
export type Http2Config = EntrypointConfig['http2'];
