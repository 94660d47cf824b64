// The body middleware types: Traefik's compress and buffering.
import type { AnyMiddlewareType } from '../types.ts';
import { BUFFERING } from './buffering.ts';
import { COMPRESS } from './compress.ts';

export const BODY_TYPES: AnyMiddlewareType[] = [COMPRESS, BUFFERING];
