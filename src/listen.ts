// Binding a server to a config address ("host:port"), shared by the entrypoints and the admin API.
import type { AddressInfo, Server } from 'node:net';
import { parseListenAddress } from './config/schema.ts';

/** Listens on `address`; rejects with the bind error (EADDRINUSE, EACCES, ...) instead of emitting it. */
export async function listenOn(server: Server, address: string): Promise<AddressInfo> {
  const a = parseListenAddress(address);
  if (a === null) throw new Error(`invalid listen address ${JSON.stringify(address)}`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(a.port, a.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
