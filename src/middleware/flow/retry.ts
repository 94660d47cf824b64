// Traefik's `retry`: up to `attempts` tries in all, waiting `initialInterval`, then twice as long each time. Within
// baton's safe-retry rules (proxy/retry-policy.ts): a request that may have reached the upstream is retried only
// when it is idempotent and its body was not streamed, never otherwise.
import { defineType } from '../types.ts';
import { duration, int } from '../options.ts';

export const retry = defineType({
  name: 'retry',
  spec: { attempts: int(undefined, 1, 10), initialInterval: duration(100) },
  check: (o) => (o.attempts === undefined ? ['attempts: required (the number of tries, 1 to 10)'] : []),
  create(o) {
    const attempts = o.attempts!;
    const interval = o.initialInterval;
    return {
      onRequest(ctx) {
        ctx.retry(attempts, interval);
      },
    };
  },
});
