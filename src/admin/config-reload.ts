// POST /api/config/reload: reads the config file again and applies what can change live. 200 with what was applied
// and what needs a restart; 400 with every problem when the new file is invalid (the running configuration stays).
import type { ServerResponse } from 'node:http';
import { ConfigError, NotFoundError } from '../errors.ts';
import type { ReloadResult } from '../reload.ts';
import { sendJson } from './body.ts';

export type { ReloadResult };

export async function configReload(res: ServerResponse, reload: (() => Promise<ReloadResult>) | undefined) {
  if (reload === undefined) throw new NotFoundError('this baton does not reload its configuration');
  let status = 200;
  let body: unknown;
  try {
    const { applied, restartRequired } = await reload();
    body = { applied, restartRequired };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err; // a 500, logged by the server
    status = 400;
    body = { error: { code: err.code, message: 'invalid configuration: nothing changed' }, problems: err.problems };
  }
  sendJson(res, status, body);
}
