// Coded errors, in the style of undici's lib/core/errors.js: branch on `code`, never on message text.

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

export class NoUpstreamError extends BatonError {
  override code = 'BATON_NO_UPSTREAM';
  override statusCode = 503;
  constructor(service: string) {
    super(`no healthy upstream for service ${service}`);
    this.name = 'NoUpstreamError';
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

export class UpstreamTimeoutError extends BatonError {
  override code = 'BATON_UPSTREAM_TIMEOUT';
  override statusCode = 504;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamTimeoutError';
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
