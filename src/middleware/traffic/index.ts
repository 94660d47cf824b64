// The traffic middleware types: Traefik's ipAllowList (and its v2 name ipWhiteList), rateLimit, inFlightReq and
// circuitBreaker.
import type { AnyMiddlewareType } from '../types.ts';
import { circuitBreaker } from './circuit-breaker.ts';
import { inFlightReq } from './in-flight.ts';
import { ipAllowList, ipWhiteList } from './ip-allow-list.ts';
import { rateLimit } from './rate-limit.ts';

export const TRAFFIC_TYPES: AnyMiddlewareType[] = [ipAllowList, ipWhiteList, rateLimit, inFlightReq, circuitBreaker];
