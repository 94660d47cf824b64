// `baton <command>`: the usage text, the flags, and which command runs. `serve` runs the App (src/cli/serve.ts);
// the others talk to the admin API (src/cli/commands.ts), finding its URL and token by themselves.
//
// The commands are imported when they run: `baton health` (the container's HEALTHCHECK, every few seconds) loads
// only the admin client, not the whole proxy.
import { parseArgs } from 'node:util';
import { EXIT_OK, EXIT_USAGE, processIo, type Io } from './cli/io.ts';
import { DEFAULT_CONFIG_PATH } from './config/defaults.ts';

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './cli/io.ts';

const USAGE = `baton — HTTP reverse proxy and deployer for Docker hosts

Usage:
  baton serve [--config config/baton.yaml] [--pid-file /run/baton.pid]
                                                run the proxy and the admin API; --pid-file: the serving pid,
                                                rewritten by the new baton of an upgrade (systemd's PIDFile=)
  baton health                                  exit 0 when baton's admin API answers /healthz (a HEALTHCHECK)
  baton status [--json] [--watch [--interval 2s]]
                                                services, upstreams, states, in-flight counts; --watch refreshes
                                                in place (Ctrl-C stops)
  baton certs [--json]                          certificates served: domains, source, expiry (⚠ soon)
  baton history [service] [--limit 50] [--json] past deploys, newest first: outcome, image, duration, requests
                                                and failures seen while each ran
  baton events [--json]                         follow the event stream: upstream states, deploy steps, traffic
  baton drain <upstream-id> [--timeout 30s] [--no-wait]
                                                take an upstream out of rotation and wait for in-flight to reach 0
  baton enable <upstream-id>                    put an upstream back through the health gate
  baton pause <service> | baton resume <service>
                                                hold the service's new requests (bounded by its hold settings);
                                                resume releases them in order
  baton maintenance on|off <service> [--page file.html] [--retry-after 60s]
                                                answer 503 with the page (and Retry-After); containers untouched
  baton reload [--json]                         read the config file again: what changed live, what needs a restart
  baton deploy <service> --image <ref> [--strategy rolling|blue-green] [--replicas N] [--parallelism N]
               [--order start-first|stop-first] [--delay 0s] [--monitor 5s] \
[--failure-action rollback|pause|continue]
               [--max-failure-ratio 0] [--health-timeout 60s] [--drain-timeout 30s] [--pull] [--no-keep-previous]
               [--hold] [--canary 10% | --canary-header X-Canary] [--canary-duration 5m] [--sticky-for 5m]
               [--config-hash <docker-compose config --hash>] [--plain]
                                                replace the service's containers; live progress; exit 0 only on success
                                                (--canary: the new version beside the old for that share of new
                                                clients, sticky by the baton_gen cookie, until \`baton promote\`)
  baton deploy <svc>,<svc>… --image <ref> | --image <svc>=<ref>,…  [options as above]
                                                several services in one call: one lock, one rollback for all
  baton deploy [<compose-svc>,…] --compose [--compose-file docker-compose.yml]  [options as above]
                                                the images and config hashes of the compose file here (all its
                                                services baton routes when none are named)
  baton promote <service> [--plain]             complete a running canary deploy (the rest to the new version)
  baton rollback <service> [--plain]            start the previous generation (kept stopped) and retire the current;
                                                during a canary: remove the canary, all traffic to the old version
  baton scale <service> <replicas> [--plain]    clone or retire containers to reach <replicas>
  baton upgrade [--timeout 60s]                 start the new baton (the code and config on disk now) on the same
                                                listeners; the old one drains and exits; exit 0 once the new one
                                                serves, 1 with the reason when it did not start (the old serves on)
  baton help | --help                           this text

deploy, rollback and scale show a live view on a terminal; with --plain, or when stdout is not a terminal (CI),
one line per step, its ISO time first. Ctrl-C stops following (the deploy goes on in baton; exit 130).
Admin commands find the admin API by themselves: --admin-url / BATON_ADMIN_URL, else the config file's
admin.address; the token from BATON_ADMIN_TOKEN, the config, or the token file baton generated.
Common options: --config <file> (default: BATON_CONFIG, else ${DEFAULT_CONFIG_PATH}), --admin-url <url>,
--token <token>.
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'admin-url': { type: 'string' },
  token: { type: 'string' },
  timeout: { type: 'string' },
  'no-wait': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  image: { type: 'string' },
  strategy: { type: 'string' },
  replicas: { type: 'string' },
  parallelism: { type: 'string' },
  order: { type: 'string' },
  delay: { type: 'string' },
  monitor: { type: 'string' },
  'failure-action': { type: 'string' },
  'max-failure-ratio': { type: 'string' },
  'health-timeout': { type: 'string' },
  'drain-timeout': { type: 'string' },
  pull: { type: 'boolean' },
  'no-keep-previous': { type: 'boolean' },
  'config-hash': { type: 'string' },
  compose: { type: 'boolean' },
  'compose-file': { type: 'string' },
  plain: { type: 'boolean' },
  canary: { type: 'string' },
  'canary-header': { type: 'string' },
  'canary-duration': { type: 'string' },
  'sticky-for': { type: 'string' },
  limit: { type: 'string' },
  watch: { type: 'boolean' },
  interval: { type: 'string' },
  hold: { type: 'boolean' },
  page: { type: 'string' },
  'retry-after': { type: 'string' },
  'pid-file': { type: 'string' },
} as const;

type Option = keyof typeof OPTIONS;

/** The flags each command takes besides --help; any other is a usage error (and nothing is done). */
const ADMIN: Option[] = ['config', 'admin-url', 'token'];
const DEPLOY: Option[] = [
  ...['image', 'strategy', 'replicas', 'parallelism', 'order', 'delay', 'monitor', 'failure-action'],
  ...['max-failure-ratio', 'health-timeout', 'drain-timeout', 'pull', 'no-keep-previous', 'hold', 'plain'],
  ...['config-hash', 'compose', 'compose-file'],
  ...['canary', 'canary-header', 'canary-duration', 'sticky-for'],
] as Option[];
const COMMAND_FLAGS: Record<string, Option[]> = {
  serve: ['config', 'pid-file'],
  health: ADMIN,
  status: [...ADMIN, 'json', 'watch', 'interval'],
  certs: [...ADMIN, 'json'],
  history: [...ADMIN, 'json', 'limit'],
  events: [...ADMIN, 'json'],
  drain: [...ADMIN, 'timeout', 'no-wait'],
  enable: ADMIN,
  reload: [...ADMIN, 'json'],
  pause: [...ADMIN, 'json'],
  resume: [...ADMIN, 'json'],
  maintenance: [...ADMIN, 'json', 'page', 'retry-after'],
  deploy: [...ADMIN, ...DEPLOY],
  rollback: [...ADMIN, 'plain'],
  promote: [...ADMIN, 'plain'],
  scale: [...ADMIN, 'plain'],
  upgrade: [...ADMIN, 'timeout'],
};

/** The first flag given that `command` does not take, or null. */
export function strayFlag(command: string, values: Record<string, unknown>): string | null {
  const allowed = COMMAND_FLAGS[command];
  if (allowed === undefined) return null;
  const stray = Object.keys(values).find(
    (f) => f !== 'help' && values[f] !== undefined && !allowed.includes(f as Option),
  );
  return stray === undefined ? null : `--${stray}`;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    io.err(`baton: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  // BATON_CONFIG names the config file when --config does not (a container's mounted config); it counts as given,
  // so a file that is missing or invalid is an error rather than the defaults
  if (values.config === undefined && io.env.BATON_CONFIG) values.config = io.env.BATON_CONFIG;
  const command = positionals[0] ?? (values.help ? 'help' : undefined);
  if (command === undefined || command === 'help' || values.help) {
    io.out(USAGE);
    return command === undefined && !values.help ? EXIT_USAGE : EXIT_OK;
  }
  const stray = strayFlag(command, values);
  if (stray !== null) {
    io.err(`baton ${command}: ${stray} is not an option of \`baton ${command}\` (see \`baton help\`)\n`);
    return EXIT_USAGE;
  }
  if (command === 'serve') {
    const { serve } = await import('./cli/serve.ts');
    return serve(values.config ?? DEFAULT_CONFIG_PATH, io, { pidFile: values['pid-file'] });
  }
  if (command === 'health') {
    const { health } = await import('./cli/health.ts');
    return health(values, io);
  }
  const commands = await import('./cli/commands.ts');
  const { certs, deploy, drain, enable, events, history, promote, reload, rollback, scale, status, upgrade } = commands;
  switch (command) {
    case 'pause':
    case 'resume':
    case 'maintenance': {
      const { modeCommand } = await import('./cli/modes.ts');
      return modeCommand(command, positionals.slice(1), values, io);
    }
    case 'reload':
      if (positionals.length > 1) {
        io.err('baton reload: takes no arguments (usage: baton reload [--json])\n');
        return EXIT_USAGE;
      }
      return reload(values, io);
    case 'status':
      return status(values, io);
    case 'certs':
      return certs(values, io);
    case 'history':
      if (positionals.length > 2) {
        io.err('baton history: usage: baton history [service] [--limit N] [--json]\n');
        return EXIT_USAGE;
      }
      return history(positionals[1], values, io);
    case 'upgrade':
      if (positionals.length > 1) {
        io.err('baton upgrade: takes no arguments (usage: baton upgrade [--timeout 60s])\n');
        return EXIT_USAGE;
      }
      return upgrade(values, io);
    case 'events':
      if (positionals.length > 1) {
        io.err('baton events: takes no arguments (usage: baton events [--json])\n');
        return EXIT_USAGE;
      }
      return events(values, io);
    case 'drain':
    case 'enable': {
      const id = positionals[1];
      if (id === undefined || positionals.length > 2) {
        io.err(`baton ${command}: expected exactly one upstream id (see \`baton status\`)\n`);
        return EXIT_USAGE;
      }
      return command === 'drain' ? drain(id, values, io) : enable(id, values, io);
    }
    case 'deploy':
    case 'promote':
    case 'rollback':
    case 'scale': {
      const service = positionals[1];
      if (command === 'deploy' && values.compose && positionals.length <= 2) return deploy(service, values, io);
      if (service === undefined || positionals.length !== (command === 'scale' ? 3 : 2)) {
        const rest = command === 'scale' ? ' <replicas>' : command === 'deploy' ? ' --image <ref>' : '';
        io.err(`baton ${command}: usage: baton ${command} <service>${rest}\n`);
        return EXIT_USAGE;
      }
      if (command === 'deploy') return deploy(service, values, io);
      if (command === 'rollback') return rollback(service, values, io);
      if (command === 'promote') return promote(service, values, io);
      const replicas = Number(positionals[2]);
      if (!Number.isInteger(replicas) || replicas < 0) {
        io.err(`baton scale: <replicas> must be a whole number (got ${JSON.stringify(positionals[2])})\n`);
        return EXIT_USAGE;
      }
      return scale(service, replicas, values, io);
    }
    default:
      io.err(`baton: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return EXIT_USAGE;
  }
}
