// What a CLI command writes to and reads from (stdout, stderr, the environment), and the exit code it returns.

export const EXIT_OK = 0;
/** the admin API unreachable, an unknown upstream, a bad token, a failed deploy */
export const EXIT_FAILURE = 1;
/** a usage or config error */
export const EXIT_USAGE = 2;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
};
