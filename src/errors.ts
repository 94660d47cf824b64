// Every coded error baton throws, in one place, in the style of undici's lib/core/errors.js: branch on `code`,
// never on message text. `statusCode` is the HTTP status baton answers with when the error ends a request.

export class BatonError extends Error {
  code: string = 'BATON_ERROR';
  /** HTTP status baton answers with when this error ends a request (if it does). */
  statusCode = 500;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BatonError';
  }
}

export class ConfigError extends BatonError {
  override code = 'BATON_CONFIG_INVALID';
  /** Every problem found, each with its path in the config file (e.g. "services.app.rule: ..."). */
  problems: string[];
  constructor(problems: string[], options?: { cause?: unknown }) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`, options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export class RuleSyntaxError extends BatonError {
  override code = 'BATON_RULE_SYNTAX';
  /** 0-based offset into the rule text where the problem was found. */
  position: number;
  constructor(message: string, position: number) {
    super(`${message} at position ${position}`);
    this.name = 'RuleSyntaxError';
    this.position = position;
  }
}

export class DrainTimeoutError extends BatonError {
  override code = 'BATON_DRAIN_TIMEOUT';
  override statusCode = 504;
  constructor(upstream: string) {
    super(`upstream ${upstream} drain timed out with requests still in flight`);
    this.name = 'DrainTimeoutError';
  }
}

export class BodyTooLargeError extends BatonError {
  override code = 'BATON_BODY_TOO_LARGE';
  override statusCode = 413;
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export class NotFoundError extends BatonError {
  override code = 'BATON_NOT_FOUND';
  override statusCode = 404;
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export class BadRequestError extends BatonError {
  override code = 'BATON_BAD_REQUEST';
  override statusCode = 400;
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}

export class ConflictError extends BatonError {
  override code = 'BATON_CONFLICT';
  override statusCode = 409;
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export class UnauthorizedError extends BatonError {
  override code = 'BATON_UNAUTHORIZED';
  override statusCode = 401;
  constructor() {
    super('missing or invalid bearer token');
    this.name = 'UnauthorizedError';
  }
}

export class MethodNotAllowedError extends BatonError {
  override code = 'BATON_METHOD_NOT_ALLOWED';
  override statusCode = 405;
  /** the methods the resource does take (sent as `Allow`, which RFC 9110 §15.5.6 requires on a 405) */
  readonly allow: string;
  constructor(allow: string) {
    super(`method not allowed; use ${allow.replace(', ', ' or ')}`);
    this.name = 'MethodNotAllowedError';
    this.allow = allow;
  }
}

/** The admin API was asked for a deploy, rollback or scale, but the Docker provider is off. */
export class DockerDisabledError extends BatonError {
  override code = 'BATON_DOCKER_DISABLED';
  override statusCode = 409;
  constructor() {
    super('the deployer needs the Docker provider (providers.docker.enabled: true)');
    this.name = 'DockerDisabledError';
  }
}

/** A deploy step that failed in a way the deploy's failure action handles (rollback, pause or continue). */
export class DeployFailure extends BatonError {
  override code = 'BATON_DEPLOY_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeployFailure';
  }
}

/** The client closed its connection before the response was complete (the upstream request is aborted). */
export class ClientGoneError extends BatonError {
  override code = 'BATON_CLIENT_GONE';
  override statusCode = 499;
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGoneError';
  }
}

/** The upstream sent a response header that Node refuses to relay (the upstream's fault: 502). */
export class BadUpstreamHeaderError extends BatonError {
  override code = 'BATON_BAD_UPSTREAM_HEADER';
  override statusCode = 502;
  constructor(options?: { cause?: unknown }) {
    super('upstream sent a header that cannot be relayed', options);
    this.name = 'BadUpstreamHeaderError';
  }
}

/** A middleware or plugin tried to set a header that would break the message: a bad name, CR/LF/NUL in a value,
 *  or a framing header baton sets itself. */
export class HeaderError extends BatonError {
  override code = 'BATON_BAD_HEADER';
  constructor(message: string) {
    super(message);
    this.name = 'HeaderError';
  }
}

/** A middleware's hook threw or rejected (the request is answered 500, plugin_error). */
export class PluginError extends BatonError {
  override code = 'BATON_PLUGIN_ERROR';
  /** the middleware's name, e.g. "geo@file" */
  middleware: string;
  constructor(middleware: string, options?: { cause?: unknown }) {
    super(`middleware ${middleware} failed`, options);
    this.name = 'PluginError';
    this.middleware = middleware;
  }
}

/** The errors middleware replaced a response: the upstream's answer is dropped (not a failure of that upstream). */
export class ResponseReplacedError extends BatonError {
  override code = 'BATON_RESPONSE_REPLACED';
  constructor() {
    super('response replaced by a middleware');
    this.name = 'ResponseReplacedError';
  }
}

/** A response held by the buffering middleware grew past maxResponseBodyBytes (answered 500 before any byte). */
export class ResponseTooLargeError extends BatonError {
  override code = 'BATON_RESPONSE_TOO_LARGE';
  constructor(max: number) {
    super(`response body larger than maxResponseBodyBytes (${max} bytes)`);
    this.name = 'ResponseTooLargeError';
  }
}

/** A middleware's expression (circuitBreaker, buffering's retryExpression) that cannot be read. */
export class ExpressionError extends BatonError {
  override code = 'BATON_EXPRESSION_INVALID';
  /** 0-based offset of the problem in the expression */
  position: number;
  constructor(message: string, position: number) {
    super(`${message} at position ${position}`);
    this.name = 'ExpressionError';
    this.position = position;
  }
}

/** The CLI could not complete a call to the admin API (unreachable, or it answered with an error). */
export class AdminCallError extends BatonError {
  override code = 'BATON_ADMIN_CALL';
  /** the admin API's HTTP status, or 0 when it could not be reached */
  readonly status: number;
  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminCallError';
    this.status = status;
  }
}

/** A certificate or private key that cannot be served: unreadable, not PEM, unparsable, or a key that does not
 *  match its certificate. `part` says which of the two is at fault. */
export class CertificateError extends BatonError {
  override code = 'BATON_CERTIFICATE_INVALID';
  /** the half at fault: the certificate (chain) or the private key */
  readonly part: 'certificate' | 'key';
  constructor(message: string, part: 'certificate' | 'key', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateError';
    this.part = part;
  }
}

/** An ACME order that did not bring a certificate: the CA refused or could not be reached, a challenge failed
 *  validation, or it took too long. `domains` are the names the order was for; the message names each failing
 *  one with the CA's reason. */
export class AcmeError extends BatonError {
  override code = 'BATON_ACME_ORDER_FAILED';
  readonly resolver: string;
  readonly domains: string[];
  constructor(message: string, resolver: string, domains: string[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AcmeError';
    this.resolver = resolver;
    this.domains = domains;
  }
}

/** A deploy hook failed (non-zero exit, a thrown error, its timeout), or could not be loaded. A DeployFailure, so
 *  the deploy handles it as its stage says (src/deploy/hooks.ts). `stage` is the hook's stage, or `load`. */
export class HookFailedError extends DeployFailure {
  override code = 'BATON_HOOK_FAILED';
  readonly stage: string;
  constructor(message: string, stage: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HookFailedError';
    this.stage = stage;
  }
}

/** The shared upstream counters cannot take another upstream (or were used the wrong way). */
export class TallyError extends BatonError {
  override code = 'BATON_TALLY';
  constructor(message: string) {
    super(message);
    this.name = 'TallyError';
  }
}

/** A worker thread serving traffic failed to start or stopped unexpectedly. */
export class WorkerError extends BatonError {
  override code = 'BATON_WORKER';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WorkerError';
  }
}

/** `baton upgrade`: the new baton did not start (the running one keeps serving). */
export class UpgradeError extends BatonError {
  override code = 'BATON_UPGRADE_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpgradeError';
  }
}
