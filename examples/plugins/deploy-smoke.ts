// A deploy smoke test, as a postHealthy hook: GET the health path of every new container at its direct address,
// after it passed the health gate and before any old container is retired. A non-2xx answer (or none before the
// hook's timeout) fails the deploy: the new containers are removed and the old version keeps serving.
//
//   deploy:
//     hooks:
//       postHealthy:
//         - module: ./hooks/smoke.ts    # relative to the config file
//           timeout: 30s
//
// The path is SMOKE_PATH from baton's environment, else /health.
import type { HookContext } from 'baton';

const PATH = process.env.SMOKE_PATH ?? '/health';

export default async function smoke(ctx: HookContext): Promise<void> {
  const failures: string[] = [];
  await Promise.all(
    ctx.newContainers.map(async (c) => {
      if (c.url === null) return void failures.push(`${c.name}: not routed, no address to test`);
      const url = new URL(PATH, c.url);
      try {
        const res = await fetch(url, { signal: ctx.signal, redirect: 'manual' });
        await res.body?.cancel();
        const line = `${c.name}: GET ${url.href} → ${res.status}`;
        if (res.status >= 200 && res.status < 300) ctx.log.info(line);
        else failures.push(line);
      } catch (err) {
        const why = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
        failures.push(`${c.name}: GET ${url.href} failed: ${why}`);
      }
    }),
  );
  if (failures.length > 0) throw new Error(`smoke test failed: ${failures.join('; ')}`);
}
