// Binding a server to a config address ("host:port"), shared by the entrypoints and the admin API — or taking over
// a listening socket a previous baton handed down (`baton upgrade`, src/upgrade.ts) by its file descriptor.
import type { AddressInfo, Server } from 'node:net';
import { parseListenAddress } from './config/schema.ts';

/** The accept queue's length (the kernel caps it at net.core.somaxconn). Node's default, 511, overflows when a few
 *  hundred clients connect at once while the event loop is busy: the kernel then drops their SYNs, and each waits
 *  for its retransmission (1 s, then 3 s) — seen as 1 s p99s and timeouts in wrk's c=500 runs. */
const LISTEN_BACKLOG = 8192;

export interface ListenOptions {
  /** SO_REUSEPORT: several threads listen on one port and the kernel spreads connections over them */
  reusePort?: boolean;
  /** an inherited listening socket to accept from instead of binding `address` (the address is then unused) */
  fd?: number;
}

/** Listens on `address` (or the inherited socket `opts.fd`); rejects with the bind error (EADDRINUSE, EACCES, ...)
 *  instead of emitting it. */
export async function listenOn(server: Server, address: string, opts: ListenOptions = {}): Promise<AddressInfo> {
  const a = parseListenAddress(address);
  if (a === null) throw new Error(`invalid listen address ${JSON.stringify(address)}`);
  const how =
    opts.fd !== undefined
      ? { fd: opts.fd, backlog: LISTEN_BACKLOG }
      : { port: a.port, host: a.host, reusePort: opts.reusePort === true, backlog: LISTEN_BACKLOG };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(how, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** The file descriptor of a listening server's socket (null when it is not listening). */
export function listenerFd(server: Server): number | null {
  const fd = (server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}
