// The middleware types that shape the exchange itself: retries and error pages (`chain` is expanded where chains
// are resolved, middleware/compile.ts).
import type { AnyMiddlewareType } from '../types.ts';
import { errors } from './errors.ts';
import { retry } from './retry.ts';

export const FLOW_TYPES: AnyMiddlewareType[] = [retry, errors];
