// Deploy hooks: user code at four points of a deploy (deployer.ts says where), each a TypeScript module or a
// command, bounded by its timeout (default 60s), its output (the last 4 KiB) in the deploy's step record.
//
//   preDeploy    before anything changes. Failure: the deploy fails with nothing to undo.
//   postHealthy  per batch, once its new containers passed the health gate and before any old container of the
//                batch is retired (e.g. a smoke test against their direct URLs). Failure: as a failed health gate
//                (the new containers are removed and the old version keeps serving; failureAction pause: paused).
//   postSwitch   per batch, after the switch, alongside the monitor window (the first of the two to fail stops
//                the other). Failure: as a monitor failure, the deploy's failureAction (rollback, pause, continue).
//   preStop      before old containers are drained: once per group retired together (one container at
//                parallelism 1; every old one at blue-green's switch). Failure: recorded in the steps and the
//                deploy goes on: the old containers go regardless, and stopping half-way would leave the service
//                half switched.
//
// Where they come from, per stage, the most specific source wins: labels `baton.hooks.<stage>=<command>` (run
// with `sh -c`) and `baton.hooks.<stage>.timeout=30s` of the service's newest running container (the one the new
// containers are cloned from), else `services.<s>.hooks.<stage>`, else `deploy.hooks.<stage>`. An empty label or
// `[]` runs nothing. Hooks run on deploys only (not rollback or scale), one after another in the order listed.
// Modules are imported when the deploy starts (again only if the file changed since); commands run in the config
// file's folder with baton's environment (less BATON_ADMIN_TOKEN) and the deploy's details in BATON_* variables.
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_HOOK_TIMEOUT_MS, HOOK_STAGES, type HookStage } from '../config/hooks-schema.ts';
import type { DeployHooksConfig, HookConfig } from '../config/hooks-schema.ts';
import { parseDuration } from '../config/units.ts';
import { DeployFailure, HookFailedError } from '../errors.ts';
import { runCommand, runModule, type HookResult } from './hook-run.ts';
import type { DeployRecord } from './journal.ts';
import type { DeployContext, Named } from './steps.ts';

export type { HookStage } from '../config/hooks-schema.ts';

/** A container as a hook sees it. */
export interface HookContainer {
  id: string;
  name: string;
  /** where baton routes to it, e.g. `http://172.18.0.5:8080`; null when it is not routed */
  url: string | null;
}

/** ctx.log: lines go to baton's log and to the hook's step record. */
export interface HookLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What a module hook's default export is called with. */
export interface HookContext {
  service: string;
  /** the image being deployed */
  image: string;
  deployId: string;
  stage: HookStage;
  /** postHealthy: the batch's new containers; postSwitch and preStop: every new one running; preDeploy: none */
  newContainers: HookContainer[];
  /** preDeploy: every old container; postHealthy/postSwitch/preStop: the batch's, about to be or just retired */
  oldContainers: HookContainer[];
  log: HookLogger;
  /** aborted at the hook's timeout, or when the deploy stops waiting for it */
  signal: AbortSignal;
}

/** A module hook: throw (or reject) to fail. */
export type HookFunction = (ctx: HookContext) => void | Promise<void>;

/** The hooks a Deployer is given from the config. */
export interface HookSettings {
  /** `deploy.hooks`: every service's */
  global?: DeployHooksConfig;
  /** `services.<s>.hooks`: a stage given here replaces the global hooks of that stage */
  service?: (service: string) => DeployHooksConfig | undefined;
  /** the config file's folder: relative module paths are resolved from it, and commands run in it */
  baseDir: string;
}

/** The settings from a loaded config (`deploy.hooks`, `services.<s>.hooks`). */
export function hookSettingsOf(config: {
  file: string | null;
  deploy?: { hooks?: DeployHooksConfig };
  services: Readonly<Record<string, { hooks?: DeployHooksConfig }>>;
}): HookSettings {
  return {
    global: config.deploy?.hooks,
    service: (s) => (Object.hasOwn(config.services, s) ? config.services[s].hooks : undefined),
    baseDir: config.file !== null ? dirname(config.file) : process.cwd(),
  };
}

// ── labels (pure) ───────────────────────────────────────────────────────────────────────────────

const LABEL_PREFIX = 'baton.hooks.';

export interface LabelHooks {
  /** the stages the labels name; a stage with an empty command label has [] */
  hooks: Partial<Record<HookStage, HookConfig[]>>;
  /** unknown stages or options, bad timeouts: each a sentence naming its label */
  problems: string[];
}

/** The hooks `baton.hooks.<stage>=<command>` and `baton.hooks.<stage>.timeout=<duration>` labels give (stage
 *  names in any case). A command is run with `sh -c`. */
export function hooksFromLabels(labels: Readonly<Record<string, string>>): LabelHooks {
  const commands = new Map<HookStage, string>();
  const timeouts = new Map<HookStage, number>();
  const problems: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (!key.toLowerCase().startsWith(LABEL_PREFIX)) continue;
    const [name, option, ...more] = key.slice(LABEL_PREFIX.length).split('.');
    const stage = HOOK_STAGES.find((s) => s.toLowerCase() === name.toLowerCase());
    if (stage === undefined || more.length > 0 || (option !== undefined && option.toLowerCase() !== 'timeout')) {
      problems.push(`${key}: not a hook label (baton.hooks.<${HOOK_STAGES.join('|')}>[.timeout])`);
      continue;
    }
    const seen = option === undefined ? commands : timeouts;
    if (seen.has(stage)) {
      problems.push(`${key}: ${option === undefined ? 'the command' : 'the timeout'} of ${stage} is given twice`);
      continue;
    }
    if (option === undefined) {
      commands.set(stage, value.trim());
      continue;
    }
    const ms = parseDuration(value);
    if (ms === null || ms === 0) problems.push(`${key}: invalid duration ${JSON.stringify(value)} (e.g. "30s")`);
    else timeouts.set(stage, ms);
  }
  const hooks: LabelHooks['hooks'] = {};
  for (const stage of HOOK_STAGES) {
    const command = commands.get(stage);
    if (command === undefined) {
      if (timeouts.has(stage)) problems.push(`${LABEL_PREFIX}${stage}.timeout: there is no ${LABEL_PREFIX}${stage}`);
      continue;
    }
    const timeout = timeouts.get(stage) ?? DEFAULT_HOOK_TIMEOUT_MS;
    hooks[stage] = command === '' ? [] : [{ command: ['sh', '-c', command], timeout }];
  }
  return { hooks, problems };
}

// ── the hooks of one deploy ─────────────────────────────────────────────────────────────────────

/** A hook as a deploy runs it: module paths absolute, where it came from, a name for the steps. */
export type ResolvedHook = HookConfig & { source: 'label' | 'service' | 'global'; name: string };

function shortName(h: HookConfig): string {
  const text = 'module' in h ? h.module : h.command.join(' ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** Per stage, the hooks of `service`: its labels', else its config's, else the global ones. Pure. */
export function resolveHooks(
  settings: HookSettings | undefined,
  service: string,
  labels: Readonly<Record<string, string>>,
): { stages: Record<HookStage, ResolvedHook[]>; problems: string[] } {
  const fromLabels = hooksFromLabels(labels);
  const own = settings?.service?.(service);
  const stages = {} as Record<HookStage, ResolvedHook[]>;
  for (const stage of HOOK_STAGES) {
    const label = fromLabels.hooks[stage];
    const configured = own?.[stage];
    const source = label !== undefined ? 'label' : configured !== undefined ? 'service' : 'global';
    const list = label ?? configured ?? settings?.global?.[stage] ?? [];
    stages[stage] = list.map((h): ResolvedHook => {
      const name = shortName(h);
      if ('command' in h) return { ...h, source, name };
      return { module: resolve(settings?.baseDir ?? process.cwd(), h.module), timeout: h.timeout, source, name };
    });
  }
  return { stages, problems: fromLabels.problems };
}

/** The env a command hook runs with. */
export function hookEnv(base: Omit<HookContext, 'log' | 'signal'>, env = process.env): NodeJS.ProcessEnv {
  const urls = (list: HookContainer[]) => list.flatMap((c) => (c.url === null ? [] : [c.url])).join(' ');
  const out: NodeJS.ProcessEnv = {
    ...env,
    BATON_SERVICE: base.service,
    BATON_IMAGE: base.image,
    BATON_DEPLOY_ID: base.deployId,
    BATON_STAGE: base.stage,
    BATON_NEW_URLS: urls(base.newContainers),
    BATON_OLD_URLS: urls(base.oldContainers),
    BATON_NEW_CONTAINERS: base.newContainers.map((c) => c.name).join(' '),
    BATON_OLD_CONTAINERS: base.oldContainers.map((c) => c.name).join(' '),
  };
  delete out.BATON_ADMIN_TOKEN;
  return out;
}

/** `name: summary`, then the output's lines indented (as `baton deploy` prints a step's detail). */
function stepDetail(hook: ResolvedHook, result: HookResult): string {
  const output = result.output === '' ? '' : `\n${result.output.replace(/^/gm, '      | ')}`;
  return `${hook.name}: ${result.summary}${output}`;
}

export class DeployHooks {
  readonly #ctx: DeployContext;
  readonly #rec: DeployRecord;
  readonly #image: string;
  readonly #baseDir: string;
  readonly #stages: Record<HookStage, ResolvedHook[]>;
  readonly #modules: Map<string, HookFunction>;

  private constructor(
    ctx: DeployContext,
    rec: DeployRecord,
    image: string,
    baseDir: string,
    stages: Record<HookStage, ResolvedHook[]>,
    modules: Map<string, HookFunction>,
  ) {
    this.#ctx = ctx;
    this.#rec = rec;
    this.#image = image;
    this.#baseDir = baseDir;
    this.#stages = stages;
    this.#modules = modules;
  }

  /** The deploy's hooks: resolved from the settings and `labels`, module files imported. Journals a `load hooks`
   *  step when there are any; throws a HookFailedError (nothing changed yet) for a bad label or module. */
  static async load(
    ctx: DeployContext,
    rec: DeployRecord,
    settings: HookSettings | undefined,
    labels: Readonly<Record<string, string>>,
    image: string,
  ): Promise<DeployHooks> {
    const { stages, problems } = resolveHooks(settings, rec.service, labels);
    const all = HOOK_STAGES.flatMap((s) => stages[s]);
    const modules = new Map<string, HookFunction>();
    const hooks = new DeployHooks(ctx, rec, image, settings?.baseDir ?? process.cwd(), stages, modules);
    if (all.length === 0 && problems.length === 0) return hooks;
    const counts = HOOK_STAGES.filter((s) => stages[s].length > 0).map((s) => `${s}: ${stages[s].length}`);
    ctx.progress.step(rec, 'load hooks', [], 'started', counts.join(', '));
    for (const h of all) {
      if (!('module' in h) || modules.has(h.module)) continue;
      try {
        modules.set(h.module, await importHook(h.module));
      } catch (err) {
        problems.push(`hook module ${h.module}: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) {
      ctx.progress.step(rec, 'load hooks', [], 'failed', problems.join('; '));
      throw new HookFailedError(`deploy hooks could not be loaded: ${problems.join('; ')}`, 'load');
    }
    ctx.progress.step(rec, 'load hooks', [], 'done', counts.join(', '));
    return hooks;
  }

  /** Whether the stage has any hook. */
  has(stage: HookStage): boolean {
    return this.#stages[stage].length > 0;
  }

  /** Runs the stage's hooks one after another. A failure throws a HookFailedError, except at preStop, where it
   *  is recorded and the next hook runs. */
  async run(stage: HookStage, fresh: Named[], old: Named[], signal = this.#ctx.signal): Promise<void> {
    const { progress, log } = this.#ctx;
    const rec = this.#rec;
    const names = (stage === 'postHealthy' || stage === 'postSwitch' ? fresh : old).map((c) => c.name);
    if (names.length === 0) return; // e.g. postHealthy of a batch that only retires
    for (const hook of this.#stages[stage]) {
      const action = `hook ${stage}`;
      progress.step(rec, action, names, 'started', hook.name);
      const result = await this.#exec(hook, stage, fresh, old, signal);
      progress.step(rec, action, names, result.ok ? 'done' : 'failed', stepDetail(hook, result));
      if (result.ok) continue;
      const lastLine = result.output.split('\n').at(-1)!.slice(-200);
      const why = `${stage} hook ${hook.name} failed: ${result.summary}${lastLine === '' ? '' : ` (${lastLine})`}`;
      if (stage !== 'preStop' || signal.aborted) throw new HookFailedError(why, stage);
      log.warn({ deploy: rec.id, service: rec.service, hook: hook.name }, `${why}; the deploy goes on`);
    }
  }

  /** The stage's hooks and `work` (the monitor window) at the same time; the first to fail stops the other
   *  (through the signal each is given) and its error is thrown. */
  async alongside(
    stage: HookStage,
    fresh: Named[],
    old: Named[],
    work: (signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    if (this.#stages[stage].length === 0) return work(this.#ctx.signal);
    const stop = new AbortController();
    const signal = AbortSignal.any([this.#ctx.signal, stop.signal]);
    const first = (err: unknown): void => {
      if (!stop.signal.aborted) stop.abort(err);
    };
    await Promise.all([work(signal).catch(first), this.run(stage, fresh, old, signal).catch(first)]);
    if (stop.signal.aborted) throw stop.signal.reason;
  }

  #exec(hook: ResolvedHook, stage: HookStage, fresh: Named[], old: Named[], signal: AbortSignal) {
    const { registry, log } = this.#ctx;
    const view = (c: Named): HookContainer => ({
      id: c.id,
      name: c.name,
      url: registry.upstreamOfContainer(c.id)?.url ?? null,
    });
    const base = {
      service: this.#rec.service,
      image: this.#image,
      deployId: this.#rec.id,
      stage,
      newContainers: fresh.map(view),
      oldContainers: old.map(view),
    };
    if ('command' in hook) {
      return runCommand(hook.command, { env: hookEnv(base), cwd: this.#baseDir, timeoutMs: hook.timeout, signal });
    }
    const hookLog = log.child({ deploy: this.#rec.id, hook: hook.name, stage });
    return runModule(this.#modules.get(hook.module)!, base, { timeoutMs: hook.timeout, signal, log: hookLog });
  }
}

/** Imports a hook module (again only when the file changed since it was last imported) and checks its export. */
async function importHook(path: string): Promise<HookFunction> {
  const url = pathToFileURL(path);
  url.searchParams.set('mtime', String(statSync(path).mtimeMs));
  const mod = (await import(url.href)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new DeployFailure('its default export is not a function (export default async (ctx) => { … })');
  }
  return mod.default as HookFunction;
}
