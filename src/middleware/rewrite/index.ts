// The rewrite middleware types.
import type { AnyMiddlewareType } from '../types.ts';

export const REWRITE_TYPES: AnyMiddlewareType[] = [];
