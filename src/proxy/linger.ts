// The first half of a hand-over's close (`baton upgrade`): the entrypoint stops accepting — its listening socket
// closed here, while the next baton accepts from its own copy — but, unlike http.Server.close(), its kept-alive
// connections are not cut while idle: a client may be writing its next request on one at that very moment, and
// would see a reset. Each is left to end by itself: told `Connection: close` on its next answer (the entrypoint is
// closing), or closed by its keep-alive idle timeout (`timeouts.idle`, announced to the client in `Keep-Alive`).
import { Server } from 'node:net';

/** How often the connections left are counted while lingering. */
const LINGER_POLL_MS = 50;

/** Stops `server` accepting and resolves once `connections()` is 0, or after `ms`. */
export async function stopAcceptingAndLinger(server: Server, connections: () => number, ms: number): Promise<void> {
  if (server.listening) Server.prototype.close.call(server); // net's close: the idle connections stay open
  const end = Date.now() + ms;
  while (connections() > 0 && Date.now() < end) {
    // not unref'd: the process must not exit here, mid-close, when the last connection has just gone
    await new Promise<void>((resolve) => setTimeout(resolve, LINGER_POLL_MS));
  }
}
