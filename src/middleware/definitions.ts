// Middleware definitions as providers hand them over (a name, a type as written, raw options), the names routes
// use to refer to them (Traefik's `name@provider`), and the check of a definition against the known types. Pure.

/** A middleware as a provider defines it: `{ stripPrefix: { prefixes: [...] } }` in YAML, or the labels
 *  `traefik.http.middlewares.<name>.stripprefix.prefixes=...`. */
export interface MiddlewareDef {
  /** the type as written (Traefik's name, any case), e.g. "stripPrefix" */
  type: string;
  /** raw options: YAML values, or the label tree (text leaves) */
  options: Record<string, unknown>;
}

/** The provider a plugin's middlewares belong to (they are defined in the config file). */
export const FILE_PROVIDER = 'file';

const NAME = /^[A-Za-z0-9_-]+$/;

/** Traefik's reference resolution: `name` is the referring provider's, `name@provider` is that provider's. Returns
 *  the qualified name (`name@provider`), or a message for a malformed reference. */
export function qualify(ref: string, provider: string): string | { error: string } {
  const at = ref.lastIndexOf('@');
  const name = at === -1 ? ref : ref.slice(0, at);
  const owner = at === -1 ? provider : ref.slice(at + 1);
  if (!NAME.test(name) || !NAME.test(owner)) {
    return { error: `middleware reference ${JSON.stringify(ref)} is not "name" or "name@provider"` };
  }
  return `${name}@${owner.toLowerCase()}`;
}

/** Whether a middleware name is well formed (letters, digits, '-' and '_'). */
export function validName(name: string): boolean {
  return NAME.test(name);
}
