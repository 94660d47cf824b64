// Binding a server to a config address ("host:port"), shared by the entrypoints and the admin API.
import type { AddressInfo, Server } from 'node:net';
import { parseListenAddress } from './config/schema.ts';

/** The accept queue's length (the kernel caps it at net.core.somaxconn). Node's default, 511, overflows when a few
 *  hundred clients connect at once while the event loop is busy: the kernel then drops their SYNs, and each waits
 *  for its retransmission (1 s, then 3 s) — seen as 1 s p99s and timeouts in wrk's c=500 runs. */
const LISTEN_BACKLOG = 8192;

/** Listens on `address`; rejects with the bind error (EADDRINUSE, EACCES, ...) instead of emitting it. With
 *  `reusePort` (SO_REUSEPORT) several threads listen on one port and the kernel spreads connections over them. */
export async function listenOn(server: Server, address: string, reusePort = false): Promise<AddressInfo> {
  const a = parseListenAddress(address);
  if (a === null) throw new Error(`invalid listen address ${JSON.stringify(address)}`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: a.port, host: a.host, reusePort, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
