// `baton pause|resume <service>` and `baton maintenance on|off <service> [--page file.html] [--retry-after 60s]`:
// a service's runtime mode through the admin API (src/admin/service-modes.ts).
import { readFileSync } from 'node:fs';
import { call } from './admin-client.ts';
import { withAdmin, type Flags } from './commands.ts';
import { EXIT_OK, EXIT_USAGE, type Io } from './io.ts';

interface ModeFlags extends Flags {
  page?: string;
  'retry-after'?: string;
}

const USAGE: Record<string, string> = {
  pause: 'baton pause <service>',
  resume: 'baton resume <service>',
  maintenance: 'baton maintenance on|off <service> [--page file.html] [--retry-after 60s]',
};

export async function modeCommand(command: string, args: string[], flags: ModeFlags, io: Io): Promise<number> {
  const usage = (why: string) => {
    io.err(`baton ${command}: ${why} (usage: ${USAGE[command]})\n`);
    return EXIT_USAGE;
  };
  let service: string | undefined;
  const body: Record<string, unknown> = {};
  if (command === 'maintenance') {
    const [onOff, name] = args;
    if ((onOff !== 'on' && onOff !== 'off') || name === undefined || args.length !== 2) {
      return usage('expected on or off, then one service');
    }
    service = name;
    body.on = onOff === 'on';
    if (onOff === 'off' && (flags.page !== undefined || flags['retry-after'] !== undefined)) {
      return usage('--page and --retry-after go with on');
    }
    if (flags.page !== undefined) {
      try {
        body.page = readFileSync(flags.page, 'utf8');
      } catch (err) {
        return usage(`cannot read --page ${flags.page}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    }
    if (flags['retry-after'] !== undefined) body.retryAfter = flags['retry-after'];
  } else {
    if (args.length !== 1) return usage('expected exactly one service');
    service = args[0];
  }
  return withAdmin(io, flags, async (t) => {
    const path = `/api/services/${encodeURIComponent(service)}/${command}`;
    const { json } = await call<{ service: string; mode: string; held: number }>(t, 'POST', path, body);
    if (flags.json) io.out(JSON.stringify(json) + '\n');
    else io.out(`${json.service}: ${json.mode}${json.held > 0 ? ` (${json.held} requests held)` : ''}\n`);
    return EXIT_OK;
  });
}
