// The auth middleware types.
import type { AnyMiddlewareType } from '../types.ts';

export const AUTH_TYPES: AnyMiddlewareType[] = [];
