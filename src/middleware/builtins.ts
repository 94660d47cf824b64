// Every built-in middleware type, by group.
import { AUTH_TYPES } from './auth/index.ts';
import { BODY_TYPES } from './body/index.ts';
import { FLOW_TYPES } from './flow/index.ts';
import { HEADERS_TYPES } from './headers/index.ts';
import { REWRITE_TYPES } from './rewrite/index.ts';
import { TRAFFIC_TYPES } from './traffic/index.ts';
import type { AnyMiddlewareType } from './types.ts';

export function builtinTypes(): AnyMiddlewareType[] {
  return [...REWRITE_TYPES, ...HEADERS_TYPES, ...AUTH_TYPES, ...TRAFFIC_TYPES, ...BODY_TYPES, ...FLOW_TYPES];
}
