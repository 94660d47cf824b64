// Table test for the pure retry policy (src/proxy/retry-policy.ts): every row of the "Safe retry rules" of
// docs/reliability.md, and items 5, 22–26 and 32, as error kind × attempt state → decision. The socket-level
// behaviour is in retry.test.ts.
import t from 'tap';
import {
  answerDetail,
  BAD_RESPONSE,
  BODY_STREAMED,
  BODY_TOO_LARGE,
  BUDGET_LEFT,
  classifyError,
  CLIENT_GONE,
  CONNECT_TIMEOUT,
  decide,
  type Decision,
  DRAIN_TIMEOUT,
  type ErrorKind,
  IDEMPOTENT,
  isIdempotent,
  NO_HEALTHY_UPSTREAM,
  RESET,
  RESPONSE_STARTED,
  RETRIES_LEFT,
  RETRY_OR_CONNECT_TIMEOUT,
  RETRY_OR_RESET,
  RETRY_OR_TIMEOUT,
  RETRY_OR_UNREACHABLE,
  TIMEOUT,
  TRUNCATE_RESET,
  TRUNCATE_TIMEOUT,
  UNREACHABLE,
  WRITTEN,
} from '../src/proxy/retry-policy.ts';

const ALL_METHODS = ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'POST', 'PATCH'];
const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'];
const NON_IDEMPOTENT = ['POST', 'PATCH'];
/** a retry and time for it are left */
const CAN = RETRIES_LEFT | BUDGET_LEFT;
const ALL_KINDS: ErrorKind[] = [
  'client_gone', 'body_too_large', 'drain_timeout', 'bad_response', 'connect_timeout', 'timeout', 'reset', 'other',
];

const state = (method: string, flags: number) => flags | (isIdempotent(method) ? IDEMPOTENT : 0);

t.test('classifyError', async (t) => {
  const cases: Array<[string, string, ErrorKind]> = [
    ['BATON_CLIENT_GONE', 'ClientGoneError', 'client_gone'],
    ['BATON_BODY_TOO_LARGE', 'BodyTooLargeError', 'body_too_large'],
    ['BATON_DRAIN_TIMEOUT', 'DrainTimeoutError', 'drain_timeout'],
    ['BATON_BAD_UPSTREAM_HEADER', 'BadUpstreamHeaderError', 'bad_response'],
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ResponseContentLengthMismatchError', 'bad_response'],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 'HTTPParserError', 'bad_response'],
    ['HPE_INVALID_CONSTANT', 'Error', 'bad_response'],
    ['', 'HTTPParserError', 'bad_response'],
    ['UND_ERR_SOCKET', 'HTTPParserError', 'bad_response'], // a malformed response wins over a reset code
    ['UND_ERR_CONNECT_TIMEOUT', 'ConnectTimeoutError', 'connect_timeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'HeadersTimeoutError', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'BodyTimeoutError', 'timeout'],
    ['UND_ERR_SOCKET', 'SocketError', 'reset'],
    ['ECONNRESET', 'Error', 'reset'],
    ['EPIPE', 'Error', 'reset'],
    ['ECONNABORTED', 'Error', 'reset'],
    ['UND_ERR_CLOSED', 'ClientClosedError', 'reset'],
    ['ECONNREFUSED', 'Error', 'other'],
    ['UND_ERR_DESTROYED', 'ClientDestroyedError', 'other'],
    ['UND_ERR_ABORTED', 'RequestAbortedError', 'other'],
    ['ENOTFOUND', 'Error', 'other'],
    ['', 'Error', 'other'],
  ];
  for (const [code, name, want] of cases) t.equal(classifyError(code, name), want, `${code || '(no code)'} ${name}`);
});

t.test('isIdempotent', async (t) => {
  for (const m of IDEMPOTENT_METHODS) t.ok(isIdempotent(m), m);
  for (const m of [...NON_IDEMPOTENT, 'CONNECT', 'get']) t.notOk(isIdempotent(m), m);
});

t.test('decide: the retry rules', async (t) => {
  const rows: Array<[string, ErrorKind, string[], number, Decision]> = [
    // nothing reached the upstream → any method
    ['connect refused → retry any method (POST too)', 'other', ALL_METHODS, CAN, RETRY_OR_UNREACHABLE],
    ['connect timeout → retry any method', 'connect_timeout', ALL_METHODS, CAN, RETRY_OR_CONNECT_TIMEOUT],
    ['draining/removed before the write (pool closed) → retry any method', 'reset', ALL_METHODS, CAN,
      RETRY_OR_UNREACHABLE],
    // reset after the write, before a response byte
    ['reset after write → retry idempotent methods', 'reset', IDEMPOTENT_METHODS, CAN | WRITTEN, RETRY_OR_RESET],
    ['reset after write → never retry POST/PATCH', 'reset', NON_IDEMPOTENT, CAN | WRITTEN, RESET],
    ['reset once body streaming started → no retry', 'reset', ALL_METHODS, CAN | WRITTEN | BODY_STREAMED, RESET],
    ['other failure after write → no retry, 502 reset', 'other', ALL_METHODS, CAN | WRITTEN, RESET],
    // timeouts after the write are not retried
    ['headers/body timeout after write → 504, no retry', 'timeout', ALL_METHODS, CAN | WRITTEN, TIMEOUT],
    ['connect timeout after write → 504, no retry', 'connect_timeout', ALL_METHODS, CAN | WRITTEN, CONNECT_TIMEOUT],
    // bounded: count and deadline
    ['retries used up → 502 unreachable', 'other', ALL_METHODS, BUDGET_LEFT, UNREACHABLE],
    ['budget used up → 502 unreachable', 'other', ALL_METHODS, RETRIES_LEFT, UNREACHABLE],
    ['retries used up, connect timeout → 504', 'connect_timeout', ALL_METHODS, BUDGET_LEFT, CONNECT_TIMEOUT],
    ['budget used up, connect timeout → 504', 'connect_timeout', ALL_METHODS, RETRIES_LEFT, CONNECT_TIMEOUT],
    ['retries used up, reset after write → 502 reset', 'reset', IDEMPOTENT_METHODS, BUDGET_LEFT | WRITTEN, RESET],
    ['budget used up, reset after write → 502 reset', 'reset', IDEMPOTENT_METHODS, RETRIES_LEFT | WRITTEN, RESET],
    ['retries used up, timeout → 504', 'timeout', ALL_METHODS, BUDGET_LEFT | WRITTEN, TIMEOUT],
    // item 5: malformed upstream response
    ['malformed response → 502, no retry', 'bad_response', ALL_METHODS, CAN | WRITTEN, BAD_RESPONSE],
    ['malformed response before write → 502, no retry', 'bad_response', ALL_METHODS, CAN, BAD_RESPONSE],
    // item 32: drain timeout
    ['drain timeout → 504, no retry', 'drain_timeout', ALL_METHODS, CAN | WRITTEN, DRAIN_TIMEOUT],
    ['drain timeout before write → 504, no retry', 'drain_timeout', ALL_METHODS, CAN, DRAIN_TIMEOUT],
    // limits
    ['body too large → 413', 'body_too_large', ALL_METHODS, CAN | WRITTEN | BODY_STREAMED, BODY_TOO_LARGE],
    // item 25: once a response byte reached the client → truncate, whatever the error
    ['reset after response started → truncate', 'reset', ALL_METHODS, CAN | WRITTEN | RESPONSE_STARTED,
      TRUNCATE_RESET],
    ['timeout after response started → truncate', 'timeout', ALL_METHODS, CAN | WRITTEN | RESPONSE_STARTED,
      TRUNCATE_TIMEOUT],
    ['drain timeout after response started → truncate', 'drain_timeout', ALL_METHODS,
      CAN | WRITTEN | RESPONSE_STARTED, TRUNCATE_TIMEOUT],
    ['malformed after response started → truncate', 'bad_response', ALL_METHODS, CAN | WRITTEN | RESPONSE_STARTED,
      TRUNCATE_RESET],
    ['body too large after response started → truncate', 'body_too_large', ALL_METHODS,
      CAN | WRITTEN | BODY_STREAMED | RESPONSE_STARTED, TRUNCATE_RESET],
    ['other after response started → truncate', 'other', ALL_METHODS, WRITTEN | RESPONSE_STARTED, TRUNCATE_RESET],
  ];
  for (const [rule, kind, methods, flags, want] of rows) {
    for (const m of methods) t.equal(decide(kind, state(m, flags)), want, `${rule} [${m}]`);
  }
});

t.test('decide: client gone → 499 in every state', async (t) => {
  for (let flags = 0; flags < 64; flags++) t.equal(decide('client_gone', flags), CLIENT_GONE, `state ${flags}`);
  t.match(CLIENT_GONE, { status: 499, code: 'client_closed', report: false });
});

t.test('decide: never a retry once the response started, the body streamed, or nothing is left', async (t) => {
  for (const kind of ALL_KINDS) {
    for (let flags = 0; flags < 64; flags++) {
      const d = decide(kind, flags);
      if (d.kind !== 'retry') continue;
      const where = `${kind} state ${flags}`;
      t.equal(flags & RESPONSE_STARTED, 0, `response started: ${where}`);
      t.equal(flags & CAN, CAN, `count and budget left: ${where}`);
      if ((flags & WRITTEN) !== 0) {
        t.equal(kind, 'reset', `only a reset after write: ${where}`);
        t.equal(flags & (IDEMPOTENT | BODY_STREAMED), IDEMPOTENT, `idempotent, body not streamed: ${where}`);
      }
    }
  }
});

t.test('pages: status, x-baton-error code and text, and passive-failure reporting', async (t) => {
  const pages: Array<[string, Decision, number, string, string, boolean]> = [
    ['no healthy upstream', NO_HEALTHY_UPSTREAM, 503, 'no_healthy_upstream',
      'The service has no healthy upstream right now.', false],
    ['body too large', BODY_TOO_LARGE, 413, 'body_too_large', 'The request body is larger than 1024 bytes.', false],
    ['drain timeout', DRAIN_TIMEOUT, 504, 'drain_timeout',
      'The upstream was taken out of service before it answered.', false],
    ['malformed response', BAD_RESPONSE, 502, 'upstream_bad_response', 'The upstream sent a malformed response.', true],
    ['connect timeout', CONNECT_TIMEOUT, 504, 'upstream_connect_timeout',
      'The upstream did not accept the connection in time.', true],
    ['timeout', TIMEOUT, 504, 'upstream_timeout', 'The upstream did not answer in time.', true],
    ['unreachable', UNREACHABLE, 502, 'upstream_unreachable', 'The upstream could not be reached.', true],
    ['reset', RESET, 502, 'upstream_reset', 'The upstream closed the connection without answering.', true],
  ];
  for (const [name, d, status, code, detail, report] of pages) {
    if (d.kind !== 'answer') {
      t.fail(`${name} is an answer`);
      continue;
    }
    t.same([d.status, d.code, answerDetail(d, 1024), d.report], [status, code, detail, report], name);
  }
  const retries: Array<[Decision, Decision]> = [
    [RETRY_OR_CONNECT_TIMEOUT, CONNECT_TIMEOUT],
    [RETRY_OR_TIMEOUT, TIMEOUT],
    [RETRY_OR_UNREACHABLE, UNREACHABLE],
    [RETRY_OR_RESET, RESET],
  ];
  for (const [r, otherwise] of retries) {
    t.match(r, { kind: 'retry', report: true }, 'a retry reports the failed upstream');
    t.equal(r.kind === 'retry' && r.otherwise, otherwise, 'the answer when no upstream is left to retry on');
  }
  t.match(TRUNCATE_RESET, { kind: 'truncate', code: 'upstream_reset', report: true });
  t.match(TRUNCATE_TIMEOUT, { kind: 'truncate', code: 'upstream_timeout', report: true });
});

t.test('decisions are shared frozen constants (no allocation per call)', async (t) => {
  for (const kind of ALL_KINDS) {
    for (let flags = 0; flags < 64; flags++) {
      const d = decide(kind, flags);
      t.equal(decide(kind, flags), d, `${kind} state ${flags}: same object`);
      t.ok(Object.isFrozen(d), `${kind} state ${flags}: frozen`);
    }
  }
});
