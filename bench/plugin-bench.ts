// The plugin of the bench's `baton-plugin` row: a small, realistic onRequest hook that sets one request header
// from another, here the tenant (the first label of the Host header, "bench" for bench.test) in `options.header`
// (default X-Tenant), as a multi-tenant app behind baton would want it. Loaded by baton from the bench's config
// (`plugins: { tenant: { module: <this file>, options: { header: X-Tenant } } }`), not by the bench itself.
import type { Plugin } from '../src/middleware/api.ts';

interface TenantOptions {
  header: string;
}

const plugin: Plugin<TenantOptions> = {
  options(raw) {
    const header = raw.header ?? 'X-Tenant';
    if (typeof header !== 'string' || header === '') throw new Error('header: expected a header name');
    return { header };
  },
  create(o) {
    return {
      onRequest(ctx) {
        const host = ctx.headers.get('host') ?? ctx.host;
        const dot = host.indexOf('.');
        ctx.headers.set(o.header, dot === -1 ? host : host.slice(0, dot));
      },
    };
  },
};

export default plugin;
