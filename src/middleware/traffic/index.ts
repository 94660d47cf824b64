// The traffic middleware types.
import type { AnyMiddlewareType } from '../types.ts';

export const TRAFFIC_TYPES: AnyMiddlewareType[] = [];
