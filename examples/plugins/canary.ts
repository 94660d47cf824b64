// Header-based canary routing: requests carrying the header (with the value, when one is set) go to another
// service, e.g. the new version deployed beside the old one; the rest stay on the routed service.
//
//   plugins:
//     canary: { module: ./examples/plugins/canary.ts, options: { header: X-Canary, value: "1", service: app-next } }
//   services:
//     app: { rule: "Host(`app.example.com`)", upstreams: [...], middlewares: [canary] }
import type { Plugin } from 'baton';

interface Options {
  header: string;
  value?: string;
  service: string;
}

const canary: Plugin<Options> = {
  options(raw) {
    const { header, value, service, ...rest } = raw;
    if (typeof header !== 'string' || header === '') throw new Error('header: required, e.g. "X-Canary"');
    if (typeof service !== 'string' || service === '') throw new Error('service: required (the canary service)');
    if (value !== undefined && typeof value !== 'string') throw new Error('value: must be text');
    if (Object.keys(rest).length > 0) throw new Error(`unknown option ${Object.keys(rest)[0]}`);
    return { header, value, service };
  },
  create({ header, value, service }, env) {
    return {
      onRequest(ctx) {
        const got = ctx.headers.get(header);
        if (got === undefined || (value !== undefined && got !== value)) return;
        // an unknown or empty canary service leaves the request where it was routed
        const routed = ctx.service;
        if (ctx.useService(service) && ctx.upstreams.length > 0) ctx.headers.set('x-canary-routed', 'true');
        else {
          ctx.useService(routed);
          env.log.warn({ service }, 'canary service has no upstream; request kept on its route');
        }
      },
    };
  },
};

export default canary;
