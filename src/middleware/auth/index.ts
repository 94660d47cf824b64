// The auth middleware types: Traefik's basicAuth and forwardAuth.
import type { AnyMiddlewareType } from '../types.ts';
import { basicAuth } from './basic-auth.ts';
import { forwardAuth } from './forward-auth.ts';

export const AUTH_TYPES: AnyMiddlewareType[] = [basicAuth, forwardAuth];
