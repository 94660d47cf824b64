// The rewrite middleware types: Traefik's redirects (redirect.ts) and path rewrites (path.ts).
import type { AnyMiddlewareType } from '../types.ts';
import { addPrefix, replacePath, replacePathRegex, stripPrefix, stripPrefixRegex } from './path.ts';
import { redirectRegex, redirectScheme } from './redirect.ts';

export const REWRITE_TYPES: AnyMiddlewareType[] = [
  redirectScheme,
  redirectRegex,
  stripPrefix,
  stripPrefixRegex,
  addPrefix,
  replacePath,
  replacePathRegex,
];
