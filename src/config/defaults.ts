// Every default in one place, each named with its unit.

export const DEFAULT_CONFIG_PATH = 'config/baton.yaml';
export const DEFAULT_ENTRYPOINT_ADDRESS = '0.0.0.0:8080';
export const DEFAULT_ADMIN_ADDRESS = '127.0.0.1:8081';
export const DEFAULT_STATE_DIR = '.baton';
export const ADMIN_TOKEN_FILE_NAME = 'admin-token';

// Client side (entrypoints)
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000; // whole request head must arrive within this
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000; // whole request (head + body) must arrive within this
export const DEFAULT_IDLE_TIMEOUT_MS = 5_000; // keep-alive idle between requests
export const DEFAULT_SOCKET_TIMEOUT_MS = 120_000; // no byte moved either way on a client socket
export const DEFAULT_MAX_HEADER_SIZE_BYTES = 16 * 1024;
export const DEFAULT_MAX_BODY_SIZE_BYTES = 100 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 10_000;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

// Upstream side
export const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS = 60_000; // until response headers
export const DEFAULT_UPSTREAM_BODY_TIMEOUT_MS = 60_000; // idle between response body chunks
/** idle pooled socket lifetime (shortened by the upstream's own Keep-Alive hints) */
export const DEFAULT_UPSTREAM_KEEPALIVE_TIMEOUT_MS = 4_000;
export const DEFAULT_UPSTREAM_MAX_CONNECTIONS = 256; // per upstream

// Services
export const DEFAULT_RETRIES = 2;
export const DEFAULT_RETRY_BUDGET_MS = 10_000; // overall deadline for a request's retries
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
export const DEFAULT_HOLD_MAX_REQUESTS = 1000;
export const DEFAULT_HOLD_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_HOLD_TIMEOUT_MS = 30_000;
export const DEFAULT_HEALTH_INTERVAL_MS = 2_000;
export const DEFAULT_HEALTH_TIMEOUT_MS = 1_000;
export const DEFAULT_HEALTH_RISE = 2;
export const DEFAULT_HEALTH_FALL = 2;
export const DEFAULT_PASSIVE_FAILURES = 5; // consecutive connect errors / 5xx before ejection
export const DEFAULT_PASSIVE_COOLDOWN_MS = 10_000;
/** how long a deploy's new containers (and a rollback's restarted ones) get to pass the health gate */
export const DEFAULT_HEALTH_GATE_TIMEOUT_MS = 60_000;

// Providers
/** the Swarm provider's task reconcile period when nothing moves (faster while a service updates) */
export const DEFAULT_SWARM_REFRESH_SECONDS = 1;

// HTTPS
export const DEFAULT_H2_MAX_CONCURRENT_STREAMS = 250;
export const DEFAULT_ACME_CA_SERVER = 'https://acme-v02.api.letsencrypt.org/directory';
export const DEFAULT_ACME_RENEW_BEFORE_MS = 30 * 86_400_000; // 30 days
/** certificates expiring within this are warned about (log, /api/certificates) */
export const CERT_EXPIRY_WARNING_MS = 14 * 86_400_000;

/** Request duration histogram buckets (seconds): prom-client's defaults. */
export const DEFAULT_METRICS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
