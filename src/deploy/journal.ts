// The crash-safe deploy journal: one JSON file per deploy under <stateDir>/deploys, replaced atomically
// (write to a temp file, fsync, rename, fsync the folder). Each step is recorded BEFORE it is executed, with the
// containers it touches, so a restarted baton knows exactly what an interrupted deploy had done.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export type DeployState = 'pending' | 'running' | 'succeeded' | 'failed' | 'rolling_back' | 'rolled_back' | 'paused';
export const TERMINAL_STATES: ReadonlySet<DeployState> = new Set(['succeeded', 'failed', 'rolled_back']);

export interface DeployStep {
  n: number;
  at: string;
  action: string;
  /** containers (names) the step touches */
  containers: string[];
  status: 'started' | 'done' | 'failed';
  detail?: string;
}

export interface ContainerRef {
  id: string;
  name: string;
  image: string;
  /** whether baton stopped it during this deploy (so a rollback starts it again) */
  stopped?: boolean;
  /** whether it was removed */
  removed?: boolean;
  /** blue-green: drained out of rotation but still running (until the monitor window passes) */
  parked?: boolean;
}

export interface DeployRecord {
  id: string;
  /** group: several services deployed in one call (group.ts); `service` then lists them, comma-separated */
  kind: 'deploy' | 'rollback' | 'scale' | 'group';
  service: string;
  /** a deploy or rollback run as part of a group: the group's id */
  group?: string;
  /** a group: the ids of its deploys and rollbacks, in order */
  members?: string[];
  state: DeployState;
  image: string | null;
  settings: Record<string, unknown>;
  generation: number;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  old: ContainerRef[];
  new: ContainerRef[];
  steps: DeployStep[];
  error?: string;
  /** request counts measured on the new upstreams during monitor windows */
  monitor?: { requests: number; failures: number };
  /** requests the service's upstreams served while the deploy ran, and how many failed (connect errors, resets,
   *  5xx answers) */
  traffic?: { requests: number; failures: number };
  /** what a running deploy is doing right now (null once it ended) */
  live?: LiveProgress | null;
}

/** A running deploy's current phase, for live progress views (the dashboard, `baton deploy`). */
export interface LiveProgress {
  phase: string;
  /** rolling: which batch of how many */
  batch: { n: number; of: number } | null;
  /** when the phase gives up (health gate) or ends (monitor window) */
  deadline: string | null;
  /** drain: requests still in flight on the upstreams being drained */
  inflight: number | null;
  /** monitor window: requests and failures on the new upstreams so far, and the ratio allowed */
  requests: number | null;
  failures: number | null;
  maxFailureRatio: number | null;
  /** a canary deploy: both generations' counts since the canary took traffic, side by side (canary.ts) */
  canary?: { share: string; old: GenerationCounts; new: GenerationCounts } | null;
}

/** Requests and failures (connect errors, resets, 5xx) of one side of a canary, and their ratio. */
export interface GenerationCounts {
  generations: string[];
  requests: number;
  failures: number;
  ratio: number;
}

export class Journal {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'deploys');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Atomically replaces the record's file. */
  write(record: DeployRecord): void {
    record.updatedAt = new Date().toISOString();
    const file = join(this.dir, `${record.id}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(record, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    try {
      const dfd = openSync(this.dir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // some filesystems refuse fsync on a directory; the rename is still atomic
    }
  }

  read(id: string): DeployRecord | null {
    if (!/^[A-Za-z0-9_-]+$/.test(id)) return null;
    try {
      return JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as DeployRecord;
    } catch {
      return null;
    }
  }

  /** Every readable record, oldest first. Unreadable files (a crash mid-write leaves only *.tmp) are skipped. */
  list(): DeployRecord[] {
    const out: DeployRecord[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as DeployRecord);
      } catch {
        // ignore
      }
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}
