// The headers middleware types.
import type { AnyMiddlewareType } from '../types.ts';

export const HEADERS_TYPES: AnyMiddlewareType[] = [];
