// The config file's middlewares (Traefik's file-provider shape: `<name>: { <type>: { <options> } }`), plugins
// (`<name>: { module, options }`) and the references to them. Options are checked against their type when baton
// starts (middleware/compile.ts), with the plugins loaded: here only the shape.
import { z } from 'zod';

const NAME = /^[A-Za-z0-9_-]+$/;
const name = (what: string) => z.string().regex(NAME, `${what} names are letters, digits, "_" and "-"`);

/** A middleware reference: "name" (the config file's) or "name@provider" (e.g. "auth@docker"). */
export const middlewareRef = z
  .string()
  .regex(/^[A-Za-z0-9_-]+(@[A-Za-z0-9_-]+)?$/, 'expected a middleware name, or "name@provider" (e.g. "auth@docker")');

const options = z.union([z.record(z.string(), z.unknown()), z.null()]).transform((v) => v ?? {});

export const middlewaresSchema = z
  .record(
    name('middleware'),
    z.record(z.string(), options).refine((m) => Object.keys(m).length === 1, {
      message: 'a middleware has exactly one type, e.g. { stripPrefix: { prefixes: ["/api"] } }',
    }),
  )
  .default({});

export const pluginsSchema = z
  .record(
    name('plugin'),
    z.strictObject({
      /** a TypeScript (or JavaScript) module, relative to the config file's folder */
      module: z.string().min(1),
      options: z.record(z.string(), z.unknown()).default({}),
    }),
  )
  .default({});

export const middlewareRefs = z.array(middlewareRef);
