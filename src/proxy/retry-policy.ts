// What to do when an attempt to forward a request fails: the retry rules of docs/reliability.md as one pure table,
// error kind × attempt state → decision. No I/O, no clock: the caller measures the state (`Forward` in forward.ts)
// and carries the decision out. Choosing *which* upstream a retry goes to is picking, not policy: it stays there.
//
//   - nothing reached the upstream (connect refused / timed out, never written)   → retry, any method
//   - reset or EOF after the request was written, before any response byte        → retry idempotent methods
//     whose body (if any) was never streamed
//   - once a response byte went to the client, after a 101, or with a streamed body → never
//   - every retry needs a retry left in the count and time left in the budget (deadline)
//
// The hot path allocates nothing: classification is a switch, the state a bit set, every decision a frozen
// module-level constant.

/** Why an attempt failed, classified from the error's `code` / `name` (see classifyError). */
export type ErrorKind =
  | 'client_gone'
  /** the request body went over the configured limit */
  | 'body_too_large'
  /** the upstream was taken out of service (its drain timed out) before it answered */
  | 'drain_timeout'
  /** the upstream's response was malformed or could not be relayed */
  | 'bad_response'
  | 'connect_timeout'
  /** headers or body timeout: the upstream was reached but too slow */
  | 'timeout'
  /** the connection reset or hit EOF */
  | 'reset'
  /** connect refused, or anything else */
  | 'other';

// ── attempt state: a bit set, so measuring it allocates nothing ─────────────────────────────────────────────

/** The request was handed to a connected socket and written (undici's onRequestStart ran for this attempt). */
export const WRITTEN = 1;
/** Streaming of the request body started: it can't be replayed. */
export const BODY_STREAMED = 2;
/** Response bytes went to the client (its status line and headers were written). */
export const RESPONSE_STARTED = 4;
/** The method is idempotent (RFC 9110 §9.2.2; see isIdempotent). */
export const IDEMPOTENT = 8;
/** The service's `retries` count is not used up. */
export const RETRIES_LEFT = 16;
/** The service's `retryBudget` deadline has not passed. */
export const BUDGET_LEFT = 32;

/** An OR of WRITTEN, BODY_STREAMED, RESPONSE_STARTED, IDEMPOTENT, RETRIES_LEFT, BUDGET_LEFT. */
export type AttemptState = number;

// ── decisions ───────────────────────────────────────────────────────────────────────────────────────────

/** Answer the client with a page baton makes itself; `code` is sent as x-baton-error. */
export interface Answer {
  readonly kind: 'answer';
  readonly status: number;
  readonly code: string;
  /** the page text; `{maxBodySize}` in it is filled in by answerDetail */
  readonly detail: string;
  /** report a passive failure of the upstream to the service */
  readonly report: boolean;
  /** seconds, sent as Retry-After (0: none) */
  readonly retryAfter: number;
}

/** Send the request again (to another upstream if one is ready); `otherwise` is the answer when none is. */
export interface Retry {
  readonly kind: 'retry';
  readonly report: true;
  readonly otherwise: Answer;
}

/** The response already started: destroy the client's response so it sees the truncation; `code` is the reason. */
export interface Truncate {
  readonly kind: 'truncate';
  readonly code: string;
  readonly report: true;
}

/** The client went away: nothing to answer, the request ends as a 499. */
export interface ClientGone {
  readonly kind: 'client_gone';
  readonly status: 499;
  readonly code: 'client_closed';
  readonly report: false;
}

export type Decision = Retry | Answer | Truncate | ClientGone;

function answer(status: number, code: string, detail: string, report: boolean, retryAfter = 0): Answer {
  return Object.freeze({ kind: 'answer', status, code, detail, report, retryAfter });
}

/** The Retry-After of a hold's 503s. */
const HOLD_RETRY_AFTER_S = 5;

function retry(otherwise: Answer): Retry {
  return Object.freeze({ kind: 'retry', report: true, otherwise });
}

function truncate(code: string): Truncate {
  return Object.freeze({ kind: 'truncate', code, report: true });
}

export const NO_HEALTHY_UPSTREAM = answer(
  503,
  'no_healthy_upstream',
  'The service has no healthy upstream right now.',
  false,
);
/** Held requests (src/upstream/hold.ts): the hold's bounds. */
export const HOLD_FULL = answer(
  503,
  'hold_full',
  'The service is holding as many requests as it may; try again shortly.',
  false,
  HOLD_RETRY_AFTER_S,
);
export const HOLD_TIMEOUT = answer(
  503,
  'hold_timeout',
  'The service did not become available within its hold timeout.',
  false,
  HOLD_RETRY_AFTER_S,
);
export const BODY_TOO_LARGE = answer(
  413,
  'body_too_large',
  'The request body is larger than {maxBodySize} bytes.',
  false,
);
export const DRAIN_TIMEOUT = answer(
  504,
  'drain_timeout',
  'The upstream was taken out of service before it answered.',
  false,
);
export const BAD_RESPONSE = answer(502, 'upstream_bad_response', 'The upstream sent a malformed response.', true);
export const CONNECT_TIMEOUT = answer(
  504,
  'upstream_connect_timeout',
  'The upstream did not accept the connection in time.',
  true,
);
export const TIMEOUT = answer(504, 'upstream_timeout', 'The upstream did not answer in time.', true);
export const UNREACHABLE = answer(502, 'upstream_unreachable', 'The upstream could not be reached.', true);
export const RESET = answer(502, 'upstream_reset', 'The upstream closed the connection without answering.', true);

export const RETRY_OR_CONNECT_TIMEOUT = retry(CONNECT_TIMEOUT);
export const RETRY_OR_TIMEOUT = retry(TIMEOUT);
export const RETRY_OR_UNREACHABLE = retry(UNREACHABLE);
export const RETRY_OR_RESET = retry(RESET);

export const TRUNCATE_TIMEOUT = truncate('upstream_timeout');
export const TRUNCATE_RESET = truncate('upstream_reset');

export const CLIENT_GONE: ClientGone = Object.freeze({
  kind: 'client_gone',
  status: 499,
  code: 'client_closed',
  report: false,
});

// ── classification ──────────────────────────────────────────────────────────────────────────────────────

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Whether a request with this method may be sent twice (RFC 9110 §9.2.2). */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

/** The kind of an error from its `code` (undici's, Node's or baton's) and `name`. A malformed response wins
 *  over a timeout or reset code. */
export function classifyError(code: string, name: string): ErrorKind {
  switch (code) {
    case 'BATON_CLIENT_GONE':
      return 'client_gone';
    case 'BATON_BODY_TOO_LARGE':
      return 'body_too_large';
    case 'BATON_DRAIN_TIMEOUT':
      return 'drain_timeout';
    case 'BATON_BAD_UPSTREAM_HEADER':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'bad_response';
  }
  if (name === 'HTTPParserError' || code.startsWith('HPE_')) return 'bad_response';
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect_timeout';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'UND_ERR_CLOSED':
      return 'reset';
  }
  return 'other';
}

// ── the table ───────────────────────────────────────────────────────────────────────────────────────────

/** What to do about a failed attempt. Rows, first match wins:
 *  client gone → 499 · response started → truncate · body too large → 413 · drain timeout → 504 ·
 *  malformed response → 502 · then retry when allowed (count and budget left, and nothing written, or a reset
 *  of an idempotent request whose body never streamed), otherwise answer: connect timeout → 504, other timeout
 *  → 504, nothing written → 502 unreachable, else 502 reset. */
export function decide(kind: ErrorKind, state: AttemptState): Decision {
  if (kind === 'client_gone') return CLIENT_GONE;
  if ((state & RESPONSE_STARTED) !== 0) {
    const slow = kind === 'connect_timeout' || kind === 'timeout' || kind === 'drain_timeout';
    return slow ? TRUNCATE_TIMEOUT : TRUNCATE_RESET;
  }
  switch (kind) {
    case 'body_too_large':
      return BODY_TOO_LARGE;
    case 'drain_timeout':
      return DRAIN_TIMEOUT;
    case 'bad_response':
      return BAD_RESPONSE;
  }
  const written = (state & WRITTEN) !== 0;
  const retryable =
    (state & RETRIES_LEFT) !== 0 &&
    (state & BUDGET_LEFT) !== 0 &&
    (!written || (kind === 'reset' && (state & (IDEMPOTENT | BODY_STREAMED)) === IDEMPOTENT));
  if (kind === 'connect_timeout') return retryable ? RETRY_OR_CONNECT_TIMEOUT : CONNECT_TIMEOUT;
  if (kind === 'timeout') return retryable ? RETRY_OR_TIMEOUT : TIMEOUT;
  if (!written) return retryable ? RETRY_OR_UNREACHABLE : UNREACHABLE;
  return retryable ? RETRY_OR_RESET : RESET;
}

/** An answer's page text, with the configured body limit filled in. */
export function answerDetail(a: Answer, maxBodySize: number): string {
  return a === BODY_TOO_LARGE ? a.detail.replace('{maxBodySize}', String(maxBodySize)) : a.detail;
}
