// The body middleware types.
import type { AnyMiddlewareType } from '../types.ts';

export const BODY_TYPES: AnyMiddlewareType[] = [];
