// Binding a server to a config address ("host:port"), shared by the entrypoints and the admin API.
import type { AddressInfo, Server } from 'node:net';
import { parseListenAddress } from './config/schema.ts';

/** Listens on `address`; rejects with the bind error (EADDRINUSE, EACCES, ...) instead of emitting it. With
 *  `reusePort` (SO_REUSEPORT) several threads listen on one port and the kernel spreads connections over them. */
export async function listenOn(server: Server, address: string, reusePort = false): Promise<AddressInfo> {
  const a = parseListenAddress(address);
  if (a === null) throw new Error(`invalid listen address ${JSON.stringify(address)}`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: a.port, host: a.host, reusePort }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
