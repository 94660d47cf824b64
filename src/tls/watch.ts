// Watches certificate files for changes. Each file's folder is watched (fs.watch, inotify on Linux) rather than the
// file: editors, `mv` and certbot replace a file by renaming a new one over it, which a watch on the old inode never
// sees. Events are filtered by name (plus Kubernetes' `..data` swaps of mounted secrets) and debounced, so a cert
// and its key written one after the other make one reload. Polling (fs.watchFile) was the alternative: simpler, but
// it finds a change only at its next poll (seconds) and stats every file forever; inotify reports at once.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

export const WATCH_DEBOUNCE_MS = 200;

export class FileWatcher {
  readonly #watchers: FSWatcher[] = [];
  readonly #onChange: () => void;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  /** Calls `onChange` once things settle (WATCH_DEBOUNCE_MS after the last event) whenever one of `files` may have
   *  changed. A folder that cannot be watched is logged and skipped (SIGHUP still reloads). */
  constructor(files: string[], onChange: () => void, log: Logger) {
    this.#onChange = onChange;
    this.#log = log;
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const names = byDir.get(dirname(f)) ?? new Set<string>();
      names.add(basename(f));
      byDir.set(dirname(f), names);
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: true }, (_event, name) => {
          if (name === null || names.has(name) || name.startsWith('..')) this.#schedule();
        });
        w.on('error', (err) => {
          log.warn({ err, dir }, 'Stopped watching a certificate folder');
          w.close();
        });
        this.#watchers.push(w);
      } catch (err) {
        log.warn({ err, dir }, 'Cannot watch a certificate folder; send SIGHUP to reload');
      }
    }
  }

  /** folders being watched */
  get watching(): number {
    return this.#watchers.length;
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#fire, WATCH_DEBOUNCE_MS);
  }

  #fire = (): void => {
    this.#timer = null;
    if (this.#closed) return;
    try {
      this.#onChange();
    } catch (err) {
      this.#log.error({ err }, 'Certificate reload failed');
    }
  };

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const w of this.#watchers) w.close();
    this.#watchers.length = 0;
  }
}
