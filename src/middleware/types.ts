// The middleware types baton knows, by Traefik's name (matched case-insensitively, as Traefik's labels are): each
// is an option spec (options.ts) and a factory of hooks (api.ts). Built-in types are written against the same API
// a user's plugin is; plugins join this list under their own names when the config is loaded.
import type { Handler, PluginEnv } from './api.ts';
import type { Options, Spec } from './options.ts';

export interface MiddlewareType<S extends Spec = Spec> {
  /** Traefik's name, e.g. "stripPrefix" */
  readonly name: string;
  readonly spec: S;
  /** problems across options, once each option is read (e.g. two options that exclude each other) */
  check?(options: Options<S>): string[];
  create(options: Options<S>, env: PluginEnv): Handler;
}

/** A type with its options' type erased, for lists of types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyMiddlewareType = MiddlewareType<any>;

/** Declares a type (infers its options' type from the spec). */
export function defineType<S extends Spec>(t: MiddlewareType<S>): AnyMiddlewareType {
  return t;
}

/** Types by lower-cased name. */
export function typesByName(types: readonly AnyMiddlewareType[]): Map<string, AnyMiddlewareType> {
  return new Map(types.map((t) => [t.name.toLowerCase(), t]));
}
