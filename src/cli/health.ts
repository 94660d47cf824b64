// `baton health`: the container's HEALTHCHECK. Exit 0 when the admin API (found like every admin command finds it:
// --admin-url, BATON_ADMIN_URL, else the config's admin.address) answers GET /healthz with 200 within the timeout;
// 1 with one line saying why otherwise. /healthz needs no token.
import { ConfigError } from '../errors.ts';
import { adminTarget, call, type AdminFlags } from './admin-client.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import { problemLines } from './output.ts';

export async function health(flags: AdminFlags, io: Io): Promise<number> {
  let target;
  try {
    target = { ...adminTarget(flags, io.env), token: null };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`baton health: invalid configuration\n${problemLines(err.problems)}`);
    return EXIT_USAGE;
  }
  try {
    await call(target, 'GET', '/healthz', undefined, { timeoutMs: HEALTH_TIMEOUT_MS });
  } catch (err) {
    io.err(`baton health: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
  io.out('ok\n');
  return EXIT_OK;
}

/** Below Docker's HEALTHCHECK --timeout (5 s in the Dockerfile), so a hung baton reads as a failed check. */
const HEALTH_TIMEOUT_MS = 3_000;
