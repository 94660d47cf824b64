// Entrypoint redirections (pure): `http.redirections.entryPoint` sends every request to the same host, path and
// query on another entrypoint's port and scheme. 301/308 when permanent, 302/307 when not; the 307/308 pair keeps
// the method and body, so anything but GET and HEAD gets it.
import { urlHost } from '../net.ts';

export interface Redirection {
  scheme: 'https' | 'http';
  /** the target entrypoint's port */
  port: number;
  permanent: boolean;
}

/** The answer to a request on a redirecting entrypoint: its status and Location. `host` is the request's host
 *  without a port (IPv6 unbracketed or bracketed); `target` is the origin-form path and query. */
export function redirectTo(
  r: Redirection,
  method: string,
  host: string,
  target: string,
): { status: number; location: string } {
  const keepsMethod = method !== 'GET' && method !== 'HEAD';
  const status = r.permanent ? (keepsMethod ? 308 : 301) : keepsMethod ? 307 : 302;
  const defaultPort = r.scheme === 'https' ? 443 : 80;
  const port = r.port === defaultPort ? '' : `:${r.port}`;
  return { status, location: `${r.scheme}://${urlHost(host)}${port}${target}` };
}
