// Deploy hooks in the config file: `deploy.hooks` (every service) and `services.<s>.hooks` (one service), each a
// map stage → list of hooks. A hook is a TypeScript module (`module: ./hooks/smoke.ts`, resolved from the config
// file's folder when the deploy loads it) or a command (`command: [curl, -fsS, …]` run without a shell, or a
// string run with `sh -c`), with a `timeout` (default 60s). What the stages mean: src/deploy/hooks.ts.
//
// This file imports nothing from schema.ts: schema.ts imports it (a cycle would leave its values undefined).
import { z } from 'zod';
import { MAX_DURATION_MS, parseDuration } from './units.ts';

export const HOOK_STAGES = ['preDeploy', 'postHealthy', 'postSwitch', 'preStop'] as const;
export type HookStage = (typeof HOOK_STAGES)[number];

/** how long a hook may run before it is killed (its process group) or its signal aborted (a module) */
export const DEFAULT_HOOK_TIMEOUT_MS = 60_000;

/** A duration ("30s", "500ms", or milliseconds), as schema.ts's, for a hook's timeout. */
export const hookTimeout = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null || ms === 0) {
      ctx.addIssue({
        code: 'custom',
        message:
          `invalid duration ${JSON.stringify(v)} ` +
          `(use e.g. "30s", "2m" or milliseconds; more than 0, at most ${MAX_DURATION_MS} ms)`,
      });
      return z.NEVER;
    }
    return ms;
  })
  .default(DEFAULT_HOOK_TIMEOUT_MS);

/** argv, run without a shell; a string is run with `sh -c` */
const command = z.union([
  z
    .array(z.string())
    .min(1, 'a command needs at least the program')
    .refine((a) => a[0] !== '', { message: 'the program (first element) is empty' }),
  z
    .string()
    .min(1, 'an empty command')
    .transform((s) => ['sh', '-c', s]),
]);

export type HookConfig = { module: string; timeout: number } | { command: string[]; timeout: number };

/** `{ module, timeout? }` (a .ts or .js file whose default export is `async (ctx: HookContext) => void`, relative
 *  to the config file's folder) or `{ command, timeout? }`. */
export const hookSchema = z
  .strictObject({
    module: z.string().min(1, 'a module path is needed').optional(),
    command: command.optional(),
    timeout: hookTimeout,
  })
  .refine((h) => (h.module === undefined) !== (h.command === undefined), {
    message: 'a hook has either `module` or `command` (exactly one)',
  })
  .transform((h): HookConfig =>
    h.module !== undefined ? { module: h.module, timeout: h.timeout } : { command: h.command!, timeout: h.timeout },
  );

/** stage → hooks, run in the order listed; a stage set to `[]` runs nothing (it disables the global hooks of
 *  that stage when given for a service) */
export const deployHooksSchema = z.strictObject({
  preDeploy: z.array(hookSchema).optional(),
  postHealthy: z.array(hookSchema).optional(),
  postSwitch: z.array(hookSchema).optional(),
  preStop: z.array(hookSchema).optional(),
});

export type DeployHooksConfig = z.output<typeof deployHooksSchema>;
