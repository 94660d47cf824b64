// The headers middleware types: Traefik's `headers` (custom headers, CORS, security headers).
import type { AnyMiddlewareType } from '../types.ts';
import { headersType } from './headers.ts';

export const HEADERS_TYPES: AnyMiddlewareType[] = [headersType];
